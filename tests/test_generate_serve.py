"""The server's request batching (no HTTP): concurrent requests with equal parameters share one generate call."""

from __future__ import annotations

import threading
import time

import pytest

from acereason.generate import Completion, SamplingParams
from acereason.generate.serve import Batcher, RequestError, _sampling_params


def test_batcher_merges_unseeded_requests_with_equal_params():
    calls: list[tuple[list, int, SamplingParams]] = []
    gate = threading.Event()

    class Fake:
        def generate(self, prompts, n, params):
            calls.append((list(prompts), n, params))
            if len(calls) == 1:
                gate.wait(10)  # hold the worker so the next requests queue up behind it
            return [[Completion(f"{p}/{j}", [], "stop") for j in range(n)] for p in prompts]

    batcher = Batcher(Fake(), max_wait_s=0.0)
    results: dict[str, list] = {}
    jobs = {"a": (["a"], SamplingParams()), "b": (["b1", "b2"], SamplingParams()), "c": (["c"], SamplingParams()),
            "d": (["d"], SamplingParams(seed=1)), "e": (["e"], SamplingParams(temperature=0.5))}

    def submit(name):
        prompts, params = jobs[name]
        results[name] = batcher.submit(prompts, 2, params)

    threads = [threading.Thread(target=submit, args=("a",))]
    threads[0].start()
    while not calls:
        time.sleep(0.001)
    for name in "bcde":
        threads.append(threading.Thread(target=submit, args=(name,)))
        threads[-1].start()
    while batcher._queue.qsize() < 4:
        time.sleep(0.001)
    gate.set()
    for t in threads:
        t.join(10)
    batcher.close()
    assert sorted(tuple(c[0]) for c in calls) == [("a",), ("b1", "b2", "c"), ("d",), ("e",)]
    assert [[c.text for c in cs] for cs in results["b"]] == [["b1/0", "b1/1"], ["b2/0", "b2/1"]]
    assert [[c.text for c in cs] for cs in results["c"]] == [["c/0", "c/1"]]


def test_request_fields_map_to_sampling_params():
    n, params = _sampling_params({"n": 3, "temperature": 0, "top_p": 0.5, "max_tokens": 9, "seed": 2, "stop": "x"})
    assert (n, params) == (3, SamplingParams(0.0, 0.5, 9, 2, ("x",)))
    assert _sampling_params({})[1] == SamplingParams()
    assert _sampling_params({"stop": ["a", ""]})[1].stop == ("a",)
    for bad in ({"n": 0}, {"n": 1.5}, {"temperature": "hot"}, {"top_p": 2}, {"stop": 3}, {"max_tokens": True}):
        with pytest.raises(RequestError):
            _sampling_params(bad)


def test_a_failing_generate_fails_only_its_group():
    class Broken:
        def generate(self, prompts, n, params):
            if params.temperature == 0.5:
                raise RuntimeError("boom")
            return [[Completion(p, [], "stop")] for p in prompts]

    batcher = Batcher(Broken())
    try:
        with pytest.raises(RuntimeError, match="boom"):
            batcher.submit(["x"], 1, SamplingParams(temperature=0.5))
        assert batcher.submit(["y"], 1, SamplingParams())[0][0].text == "y"
    finally:
        batcher.close()


def test_a_busy_port_is_a_one_line_error_not_an_attribute_error(tmp_path):
    import socket

    import typer
    from typer.testing import CliRunner

    from acereason.cli_util import OptionError
    from acereason.generate.serve import make_server, serve_command

    class Fake:
        def generate(self, prompts, n, params):
            raise AssertionError("never called")

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        threads = threading.active_count()
        with pytest.raises(OptionError, match=rf"^--port {port}: address already in use$"):
            make_server(Fake(), "m", port=port)  # TCPServer closes the half-built server itself
        assert threading.active_count() == threads  # no generation worker left behind
        app = typer.Typer()
        app.command()(serve_command)
        res = CliRunner().invoke(app, [str(tmp_path), "--port", str(port), "--device", "cpu"])
        assert res.exit_code == 2 and res.stderr == f"error: --port {port}: address already in use\n"
    for bad, message in (("70000", "--port: must be <= 65535, got 70000"), ("-1", "--port: must be >= 0, got -1")):
        res = CliRunner().invoke(app, [str(tmp_path), "--port", bad])
        assert res.exit_code == 2 and res.stderr == f"error: {message}\n"
    res = CliRunner().invoke(app, [str(tmp_path / "nope"), "--port", "0"])
    assert res.exit_code == 2 and "no such model directory" in res.stderr
