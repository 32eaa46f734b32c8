"""A small OpenAI-compatible HTTP server for a local Hugging Face model directory, backed by ``HFGenerator``.

    acereason serve PATH --port 8000 --host 127.0.0.1

Endpoints: ``GET /v1/models``, ``POST /v1/completions`` (``prompt``: a string or a list of strings) and
``POST /v1/chat/completions`` (``messages``), with ``n``, ``temperature``, ``top_p``, ``max_tokens``,
``seed``, ``stop`` (a string or a list), and ``logprobs`` (completions: any integer; chat: ``true``) which
returns the per-token sampling log-probs in OpenAI's layout. Every choice also carries ``token_ids`` and
``prompt_token_ids`` (as vLLM does with ``return_token_ids``), so a client can train on the exact ids.

Concurrent requests are batched: one worker thread owns the model, takes every request that arrived
while it was busy (or within ``max_wait_ms`` of the first), and runs requests with equal sampling
parameters as one ``generate`` call. Requests that carry a ``seed`` run on their own, so their samples do
not depend on what else was in flight. It serves one model on a trusted network: no auth, no streaming,
no tools; unknown fields are ignored.

On start it prints ``serving MODEL at http://HOST:PORT/v1`` (with the real port when ``--port 0``).
With ``--request-log FILE`` every POST is appended to FILE as one JSON line (route, ``n`` and the prompt or
messages) as soon as it arrives, so tests can count exactly which model calls a client made.
"""

from __future__ import annotations

import errno
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import typer

from acereason.cli_util import OptionError, check_device, check_range, one_line_errors
from acereason.generate.base import Completion, Generator, Prompt, SamplingParams
from acereason.schema import DataError

DEFAULT_MAX_TOKENS = SamplingParams().max_tokens


class RequestError(ValueError):
    """A bad request: answered with HTTP ``status`` and an OpenAI-style error body."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Job:
    prompts: list[Prompt]
    n: int
    params: SamplingParams
    done: threading.Event = field(default_factory=threading.Event)
    result: list[list[Completion]] | None = None
    error: BaseException | None = None


class Batcher:
    """Runs all generation on one thread, merging concurrent requests with equal parameters into one call."""

    def __init__(self, generator: Generator, max_wait_s: float = 0.005) -> None:
        self.generator = generator
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="acereason-generate", daemon=True)
        self._thread.start()

    def submit(self, prompts: list[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        """Queue a request and block until its completions (one list of ``n`` per prompt) are ready."""
        job = _Job(prompts, n, params)
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def close(self) -> None:
        """Stop the worker after the jobs already queued."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = [first], False
            deadline = time.monotonic() + self.max_wait_s
            while True:  # everything that is already queued, plus what arrives within max_wait_s
                try:
                    job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            groups: dict[object, list[_Job]] = {}
            for job in jobs:  # a seeded request must not share its random stream with others
                key = (job.n, job.params) if job.params.seed is None else id(job)
                groups.setdefault(key, []).append(job)
            for group in groups.values():
                self._run(group)
            if stop:
                return

    def _run(self, group: list[_Job]) -> None:
        prompts = [p for job in group for p in job.prompts]
        try:
            results = self.generator.generate(prompts, group[0].n, group[0].params)
        except Exception as exc:  # answered as HTTP 500 for each request of the group; the server lives on
            for job in group:
                job.error = exc
                job.done.set()
            return
        start = 0
        for job in group:
            job.result = results[start : start + len(job.prompts)]
            start += len(job.prompts)
            job.done.set()


def _sampling_params(body: dict[str, Any]) -> tuple[int, SamplingParams]:
    """Read ``n`` and the sampling fields of an OpenAI request body (OpenAI's defaults: temperature 1, top_p 1)."""

    def number(name: str, default: float | None, kind: type) -> Any:
        value = body.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise RequestError(f"'{name}' must be a {kind.__name__}, got {value!r}")
        return kind(value)

    stop = body.get("stop")
    if stop is None:
        stop = ()
    elif isinstance(stop, str):
        stop = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stop = tuple(s for s in stop if s)
    else:
        raise RequestError(f"'stop' must be a string or a list of strings, got {stop!r}")
    n = number("n", 1, int)
    if n < 1:
        raise RequestError(f"'n' must be >= 1, got {n}")
    try:
        params = SamplingParams(temperature=number("temperature", 1.0, float), top_p=number("top_p", 1.0, float),
                                max_tokens=number("max_tokens", DEFAULT_MAX_TOKENS, int),
                                seed=number("seed", None, int), stop=stop)
    except ValueError as exc:
        raise RequestError(str(exc)) from exc
    return n, params


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages of a request, with content given as a list of text parts joined into one string."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty list")
    out = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise RequestError(f"each message needs a 'role' and a 'content', got {m!r}")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise RequestError(f"message content must be a string or a list of text parts, got {content!r}")
        out.append({"role": m["role"], "content": content})
    return out


class OpenAIServer(ThreadingHTTPServer):
    """The HTTP server: holds the batcher and the served model name for its handlers."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], generator: Generator | None, model_name: str,
                 max_wait_s: float = 0.005, request_log: str | None = None) -> None:
        # everything server_close() touches exists before binding: TCPServer calls server_close() itself
        # when bind fails, and a missing attribute there used to hide "address already in use"
        self.model_name = model_name
        self.request_log = request_log
        self.max_wait_s = max_wait_s
        self._log_lock = threading.Lock()
        self.batcher: Batcher | None = None
        self.created = int(time.time())
        super().__init__(address, _Handler)
        if generator is not None:
            self.attach(generator)

    def attach(self, generator: Generator) -> None:
        """Start the generation worker for ``generator`` (a server bound with ``generator=None`` first binds
        its port, so a busy port fails before a slow model load)."""
        if self.batcher is not None:
            raise RuntimeError("a generator is already attached")
        self.batcher = Batcher(generator, self.max_wait_s)

    @property
    def url(self) -> str:
        """Base URL of the API, ending in ``/v1``."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def log_request_body(self, route: str, body: dict[str, Any]) -> None:
        """Append one received request to ``request_log`` (flushed at once; no-op without a log)."""
        if self.request_log is None:
            return
        line = json.dumps({"route": route, "n": body.get("n", 1), "prompt": body.get("prompt"),
                           "messages": body.get("messages")}, ensure_ascii=False)
        with self._log_lock, open(self.request_log, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def submit(self, prompts: list[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        """Generate through the batcher (see :meth:`Batcher.submit`)."""
        if self.batcher is None:
            raise RuntimeError("no generator attached to this server")
        return self.batcher.submit(prompts, n, params)

    def server_close(self) -> None:
        """Close the socket and stop the generation worker."""
        super().server_close()
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled clients reuse connections
    server: OpenAIServer

    def log_message(self, format: str, *args: Any) -> None:  # one line per request is noise under load
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(HTTPStatus.OK, {"object": "list", "data": [
                {"id": self.server.model_name, "object": "model", "created": self.server.created,
                 "owned_by": "acereason"}]})
        elif self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send(HTTPStatus.OK, {"status": "ok"})
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no route GET {self.path}")

    def do_POST(self) -> None:
        route = self.path.rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RequestError(f"request body is not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise RequestError("request body must be a JSON object")
            self.server.log_request_body(route, body)
            if route == "/v1/completions":
                self._send(HTTPStatus.OK, self._completions(body))
            elif route == "/v1/chat/completions":
                self._send(HTTPStatus.OK, self._chat(body))
            else:
                raise RequestError(f"no route POST {self.path}", HTTPStatus.NOT_FOUND)
        except RequestError as exc:
            self._error(exc.status, str(exc))
        except Exception as exc:  # a generation failure: report it, keep serving
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}", "server_error")

    def _check_model(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model is not None and model != self.server.model_name:
            raise RequestError(f"model {model!r} not found; this server serves {self.server.model_name!r}",
                               HTTPStatus.NOT_FOUND)

    def _completions(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_model(body)
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("'prompt' must be a string or a non-empty list of strings")
        n, params = _sampling_params(body)
        results = self.server.submit(list(prompts), n, params)
        want_logprobs = body.get("logprobs") is not None and body.get("logprobs") is not False  # 0 asks for them
        choices = []
        for i, c in enumerate(c for cs in results for c in cs):
            choice = self._choice(i, c)
            choice["text"] = c.text
            choice["logprobs"] = _completion_logprobs(c) if want_logprobs else None
            choices.append(choice)
        return self._envelope("text_completion", "cmpl", choices, results)

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_model(body)
        messages = _messages(body)
        n, params = _sampling_params(body)
        results = self.server.submit([messages], n, params)
        choices = []
        for i, c in enumerate(results[0]):
            choice = self._choice(i, c)
            choice["message"] = {"role": "assistant", "content": c.text}
            choice["logprobs"] = _chat_logprobs(c) if body.get("logprobs") is True else None
            choices.append(choice)
        return self._envelope("chat.completion", "chatcmpl", choices, results)

    @staticmethod
    def _choice(index: int, c: Completion) -> dict[str, Any]:
        return {"index": index, "finish_reason": c.finish_reason, "token_ids": c.token_ids,
                "prompt_token_ids": c.prompt_token_ids}

    def _envelope(self, kind: str, prefix: str, choices: list[dict[str, Any]],
                  results: Sequence[Sequence[Completion]]) -> dict[str, Any]:
        prompt_tokens = sum(len(cs[0].prompt_token_ids or []) for cs in results)
        completion_tokens = sum(len(c.token_ids) for cs in results for c in cs)
        return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
                "model": self.server.model_name, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": int(status)}})


def _completion_logprobs(c: Completion) -> dict[str, Any] | None:
    """``/v1/completions`` layout: parallel lists of token strings and their log-probs."""
    if c.logprobs is None:
        return None
    return {"tokens": [str(t) for t in c.token_ids], "token_logprobs": c.logprobs, "top_logprobs": None,
            "text_offset": None}


def _chat_logprobs(c: Completion) -> dict[str, Any] | None:
    """``/v1/chat/completions`` layout: one entry per token with its log-prob."""
    if c.logprobs is None:
        return None
    return {"content": [{"token": str(t), "logprob": lp, "bytes": None, "top_logprobs": []}
                        for t, lp in zip(c.token_ids, c.logprobs, strict=True)]}


def make_server(generator: Generator | None, model_name: str, host: str = "127.0.0.1", port: int = 0,
                max_wait_s: float = 0.005, request_log: str | None = None) -> OpenAIServer:
    """An OpenAI-compatible server for ``generator`` bound to ``host:port`` (0: a free port); call
    ``serve_forever()`` to run it and ``shutdown()`` + ``server_close()`` to stop it. ``request_log``: a
    file that receives one JSON line per POST request. ``generator=None`` binds only; ``attach`` one later.

    A port or host that cannot be bound raises :class:`OptionError` naming ``--port`` or ``--host``."""
    check_range("--port", port, ge=0, le=65535)
    try:
        return OpenAIServer((host, port), generator, model_name, max_wait_s, request_log)
    except socket.gaierror as err:
        raise OptionError("--host", f"{host}: {err.strerror or err}") from None
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise OptionError(f"--port {port}", "address already in use") from None
        if err.errno == errno.EACCES:
            raise OptionError(f"--port {port}", "permission denied (ports below 1024 need privileges)") from None
        if err.errno == errno.EADDRNOTAVAIL:
            raise OptionError("--host", f"{host}: not an address of this machine") from None
        raise OptionError(f"--host {host} --port {port}", f"cannot bind: {err.strerror or err}") from None


@one_line_errors
def serve_command(
    path: Annotated[str, typer.Argument(help="Model directory in Hugging Face layout (model + tokenizer).")],
    port: Annotated[int, typer.Option(help="TCP port (0-65535); 0 picks a free one (printed on start).")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it local.")] = "127.0.0.1",
    model_name: Annotated[str | None, typer.Option(help="Name clients send as 'model' (default: PATH).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1 ... (default: cuda if available).")]
    = None,
    batch_size: Annotated[int, typer.Option(help="Most sequences decoded together.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(help="How long to wait for more requests to batch.")] = 5.0,
    request_log: Annotated[str | None, typer.Option(help="Append one JSON line per POST request to this file.")] = None,
) -> None:
    """Serve a local model over an OpenAI-compatible API (/v1/models, /v1/completions, /v1/chat/completions)."""
    if not Path(path).is_dir():
        raise DataError(path, None, "no such model directory (serve loads local Hugging Face directories)")
    check_range("--batch-size", batch_size, ge=1)
    check_range("--max-wait-ms", max_wait_ms, ge=0)
    device = check_device("--device", device or "auto")
    # bind before loading: a busy port fails in a second, not after the model load
    server = make_server(None, model_name or path, host, port, max_wait_ms / 1000, request_log)
    try:
        from acereason.generate.hf import HFGenerator

        server.attach(HFGenerator.from_pretrained(path, device=device, batch_size=batch_size))
        print(f"serving {server.model_name} at {server.url}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
