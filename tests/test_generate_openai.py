"""OpenAIGenerator against a real ``acereason serve`` process, and its retries/timeouts against local stubs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the openai backend needs httpx: pip install 'acereason[openai]'")

from acereason.generate import Completion, SamplingParams, make_generator  # noqa: E402
from acereason.generate.hf import HFGenerator  # noqa: E402
from acereason.generate.openai_backend import OpenAIGenerator, OpenAIRequestError, request_seed  # noqa: E402
from acereason.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model, save_tiny  # noqa: E402

PROMPTS = [
    "Hello there",
    [{"role": "user", "content": "What is 2+2?"}],
    "Compute 12*13 step by step.",
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
]
FLAT_PROMPTS = [p if isinstance(p, str) else [{"role": m["role"], "content": m["content"] if isinstance(
    m["content"], str) else m["content"][0]["text"]} for m in p] for p in PROMPTS]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- the real server process


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    tok = build_char_tokenizer()
    return save_tiny(build_tiny_model(tok, TinyModelConfig(), seed=3), tok, tmp_path_factory.mktemp("tiny") / "m")


@pytest.fixture(scope="module")
def local(model_dir) -> HFGenerator:
    return HFGenerator.from_pretrained(model_dir, device="cpu")


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory) -> Iterator[str]:
    """``acereason serve`` in its own process on a free port; yields the base URL; always killed."""
    log = (tmp_path_factory.mktemp("serve") / "stderr.txt").open("w+")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "acereason", "serve", str(model_dir), "--port", "0", "--device", "cpu",
         "--model-name", "tiny"], stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            line = ""
        if not line.startswith("serving tiny at "):
            log.seek(0)
            pytest.fail(f"server did not start: {line!r}\n{log.read()[-3000:]}")
        url = line.split(" at ", 1)[1].strip()
        httpx.get(f"{url}/models", timeout=10).raise_for_status()  # ready: it answers HTTP
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_models_endpoint_lists_the_served_model(server):
    data = httpx.get(f"{server}/models", timeout=10).json()
    assert [m["id"] for m in data["data"]] == ["tiny"]


def test_greedy_over_http_equals_local_generation(server, local):
    params = SamplingParams(temperature=0, max_tokens=24)
    remote = make_generator(f"openai:{server}#tiny", max_concurrency=4).generate(PROMPTS, 1, params)
    expected = local.generate(FLAT_PROMPTS, 1, params)
    for (r,), (e,) in zip(remote, expected, strict=True):
        assert (r.text, r.token_ids, r.finish_reason, r.prompt_token_ids) == \
            (e.text, e.token_ids, e.finish_reason, e.prompt_token_ids)


def test_seeded_samples_are_reproducible_and_match_local_seeded_calls(server, local):
    gen = OpenAIGenerator(server, "tiny", extra_body={"logprobs": True})
    params = SamplingParams(temperature=0.9, top_p=0.95, max_tokens=20, seed=42)
    chats = [p for p in FLAT_PROMPTS if not isinstance(p, str)]
    first = gen.generate(chats, 3, params)
    assert [[c.token_ids for c in cs] for cs in gen.generate(chats, 3, params)] == \
        [[c.token_ids for c in cs] for cs in first]
    assert [len(cs) for cs in first] == [3, 3]
    for i, (prompt, cs) in enumerate(zip(chats, first, strict=True)):
        # a seeded request runs alone on the server, so it equals a local call with the per-prompt seed
        (expected,) = local.generate([prompt], 3, SamplingParams(0.9, 0.95, 20, seed=request_seed(42, i)))
        assert [(c.token_ids, c.text) for c in cs] == [(e.token_ids, e.text) for e in expected]
        assert all(c.logprobs == pytest.approx(e.logprobs, abs=1e-6) for c, e in zip(cs, expected, strict=True))
    other = gen.generate(chats, 3, SamplingParams(temperature=0.9, top_p=0.95, max_tokens=20, seed=43))
    assert [[c.token_ids for c in cs] for cs in other] != [[c.token_ids for c in cs] for cs in first]


def test_completion_logprobs_stop_and_length_over_http(server, local):
    gen = OpenAIGenerator(server, "tiny", extra_body={"logprobs": 0})
    (free,) = local.generate(["Hello there"], 1, SamplingParams(temperature=0, max_tokens=30))[0]
    stop = free.text[5:8]
    (short,) = gen.generate(["Hello there"], 1, SamplingParams(temperature=0, max_tokens=4))[0]
    (stopped,) = gen.generate(["Hello there"], 1, SamplingParams(temperature=0, max_tokens=30, stop=(stop,)))[0]
    assert short.finish_reason == "length" and len(short.token_ids) == 4
    assert short.logprobs == pytest.approx(free.logprobs[:4])
    assert stopped.finish_reason == "stop" and stopped.text == free.text[: free.text.find(stop)]


def test_generate_works_inside_a_running_event_loop(server):
    gen = OpenAIGenerator(server, "tiny")

    async def caller() -> list[list[Completion]]:
        return gen.generate(PROMPTS[:2], 2, SamplingParams(max_tokens=5, seed=1))

    out = asyncio.run(caller())
    assert [len(cs) for cs in out] == [2, 2]


def test_client_errors_fail_at_once_with_the_server_message(server):
    with pytest.raises(OpenAIRequestError, match=r"404.*not found"):
        OpenAIGenerator(server, "no-such-model", max_retries=5, backoff_s=30).generate(
            ["x"], 1, SamplingParams(max_tokens=2))
    bad = httpx.post(f"{server}/completions", json={"model": "tiny", "prompt": "x", "temperature": "hot"}, timeout=10)
    assert bad.status_code == 400 and "temperature" in bad.json()["error"]["message"]
    bad = httpx.post(f"{server}/chat/completions", json={"model": "tiny", "messages": []}, timeout=10)
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]


# --------------------------------------------------------------------------- stub servers for failure modes


@contextlib.contextmanager
def stub(respond: Callable[[int, dict], tuple[int, dict, dict]]) -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP server answering POSTs with ``respond(call_number, body) -> (status, json, headers)``.

    Yields its base URL and the list of request bodies it received."""
    seen: list[dict] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                seen.append(body)
                number = len(seen)
            status, payload, headers = respond(number, body)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout test)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def ok_payload(body: dict) -> dict:
    return {"choices": [{"index": i, "text": f"sample {i}", "finish_reason": "length"} for i in range(body["n"])]}


def test_retries_on_503_then_succeeds():
    with stub(lambda k, body: (503, {"error": "busy"}, {}) if k <= 2 else (200, ok_payload(body), {})) as (url, seen):
        out = OpenAIGenerator(url, "m", max_retries=3, backoff_s=0.01).generate(["p"], 2, SamplingParams())
    assert len(seen) == 3
    assert [c.text for c in out[0]] == ["sample 0", "sample 1"]
    assert all(c.finish_reason == "length" and c.token_ids == [] and c.prompt_token_ids is None for c in out[0])


def test_429_honours_retry_after_and_500s_exhaust_retries():
    def respond(k, body):
        return (429, {}, {"Retry-After": "0"}) if k == 1 else (200, ok_payload(body), {})

    with stub(respond) as (url, seen):
        OpenAIGenerator(url, "m", max_retries=1, backoff_s=30).generate(["p"], 1, SamplingParams())
    assert len(seen) == 2  # a 30 s backoff would have hung here: Retry-After: 0 was used instead
    with stub(lambda k, body: (500, {"error": "boom"}, {})) as (url, seen), \
            pytest.raises(OpenAIRequestError, match=r"after 3 attempts.*HTTP 500"):
        OpenAIGenerator(url, "m", max_retries=2, backoff_s=0.01).generate(["p"], 1, SamplingParams())
    assert len(seen) == 3


def test_a_hanging_server_times_out_each_attempt():
    release = threading.Event()

    def hang(k, body):
        release.wait(10)
        return 200, ok_payload(body), {}

    try:
        with stub(hang) as (url, seen):
            start = time.monotonic()
            with pytest.raises(OpenAIRequestError, match=r"no complete response within 0\.3 s"):
                OpenAIGenerator(url, "m", timeout_s=0.3, max_retries=1, backoff_s=0.01).generate(
                    ["p"], 1, SamplingParams())
            assert len(seen) == 2 and time.monotonic() - start < 8  # gave up long before the server answered
            release.set()
    finally:
        release.set()


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OpenAIRequestError, match=r"after 2 attempts.*Connect"):
        OpenAIGenerator(f"http://127.0.0.1:{port}", "m", max_retries=1, backoff_s=0.01).generate(
            ["p"], 1, SamplingParams())


def test_concurrency_is_bounded_and_order_kept():
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def respond(k, body):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return 200, {"choices": [{"index": 0, "text": body["prompt"], "finish_reason": "stop"}]}, {}

    prompts = [f"prompt {i}" for i in range(8)]
    with stub(respond) as (url, seen):
        out = OpenAIGenerator(url, "m", max_concurrency=2).generate(prompts, 1, SamplingParams(seed=3))
    assert [cs[0].text for cs in out] == prompts
    assert 1 <= state["max"] <= 2 and len(seen) == 8
    seeds = {b["prompt"]: b["seed"] for b in seen}
    assert seeds == {p: request_seed(3, i) for i, p in enumerate(prompts)} and len(set(seeds.values())) == 8


def test_request_fields_and_local_tokenizer_fill():
    tok = build_char_tokenizer()

    def respond(k, body):
        if "messages" in body:
            choice = {"index": 0, "message": {"role": "assistant", "content": "4!"}, "finish_reason": "stop",
                      "stop_reason": None, "logprobs": {"content": [{"logprob": -0.5}, {"logprob": -0.25}]}}
        else:
            choice = {"index": 0, "text": "ab", "finish_reason": "length", "logprobs": {"token_logprobs": [-1.0, -2.0]}}
        return 200, {"choices": [choice]}, {}

    with stub(respond) as (url, seen):
        gen = OpenAIGenerator(url, "m", api_key="k", tokenizer=tok)
        chat, text = gen.generate([PROMPTS[1], "x"], 1, SamplingParams(0.5, 0.9, 7, stop=("\n",)))
    assert seen[0] | seen[1] and {b["max_tokens"] for b in seen} == {7}
    by_kind = {("messages" in b): b for b in seen}
    assert by_kind[True]["messages"] == PROMPTS[1] and by_kind[False]["prompt"] == "x"
    assert all(b["temperature"] == 0.5 and b["top_p"] == 0.9 and b["stop"] == ["\n"] and "seed" not in b for b in seen)
    (c,) = chat
    assert c.token_ids == tok("4!", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]  # eos ended it
    assert c.prompt_token_ids == tok.apply_chat_template(PROMPTS[1], add_generation_prompt=True)["input_ids"]
    assert c.logprobs == [-0.5, -0.25] and c.finish_reason == "stop"
    (t,) = text
    assert t.token_ids == tok("ab")["input_ids"] and t.logprobs == [-1.0, -2.0] and t.finish_reason == "length"


def test_wrong_number_of_choices_is_an_error():
    with stub(lambda k, body: (200, {"choices": []}, {})) as (url, _), \
            pytest.raises(OpenAIRequestError, match="n=2"):
        OpenAIGenerator(url, "m").generate(["p"], 2, SamplingParams())


def test_check_model_reports_a_dead_server_an_unknown_model_and_a_bad_answer_in_one_line():
    from acereason.generate.serve import make_server

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(OpenAIRequestError, match=rf"^cannot reach {dead}/v1: connection refused$"):
        OpenAIGenerator(dead, "m").check_model()
    srv = make_server(None, "a", port=0)  # /v1/models needs no generator
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        assert OpenAIGenerator(srv.url, "a").served_models() == ["a"]
        OpenAIGenerator(srv.url, "a").check_model()
        with pytest.raises(OpenAIRequestError, match=r"does not serve model 'x'; it serves: a$") as err:
            OpenAIGenerator(srv.url, "x").check_model()
        assert err.value.served == ["a"]
    finally:
        srv.shutdown()
        srv.server_close()
    with stub(lambda k, body: (200, {}, {})) as (url, _), pytest.raises(OpenAIRequestError, match="HTTP 501"):
        OpenAIGenerator(url, "m").check_model()  # the stub answers POST only


def test_api_key_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch):
    """A server behind auth works from `acereason eval` (which has no key option) via $OPENAI_API_KEY."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert OpenAIGenerator("http://127.0.0.1:1", "m").api_key is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert OpenAIGenerator("http://127.0.0.1:1", "m").api_key == "sk-env"
    assert OpenAIGenerator("http://127.0.0.1:1", "m", api_key="sk-arg").api_key == "sk-arg"
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert OpenAIGenerator("http://127.0.0.1:1", "m").api_key is None
