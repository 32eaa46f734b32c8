"""Sampling from any OpenAI-compatible server (``acereason serve``, ``vllm serve``, SGLang, a hosted API).

One HTTP request per prompt, asking for all ``n`` samples (servers share the prompt's prefill across
them): chat prompts go to ``/v1/chat/completions``, str prompts to ``/v1/completions``. Requests run
concurrently on an ``httpx.AsyncClient``, at most ``max_concurrency`` at a time.

Failures: connection errors, timeouts, HTTP 429 and 5xx are retried up to ``max_retries`` times with
exponential backoff and full jitter (``Retry-After`` is honoured when the server sends it); other HTTP
errors (400, 401, 404, ...) fail at once with the server's message. ``timeout_s`` bounds each attempt as
a whole (connect + wait + read), so a server that hangs costs at most ``timeout_s`` per attempt.

Token ids and log-probs: if the server returns ``token_ids`` / ``prompt_token_ids`` in its choices
(``acereason serve`` always does; vLLM does when the request has ``"return_token_ids": true``, which
``extra_body`` can add), they are used as is. Otherwise, when a local ``tokenizer`` is given,
``prompt_token_ids`` is the local rendering of the prompt and ``token_ids`` the tokenization of the
returned text, plus eos when the server reports that eos ended the sample (vLLM's ``stop_reason: null``
with ``finish_reason: "stop"``). Re-tokenized text can differ from the ids the server sampled, so train on
server-returned ids when you can. Without either, ``token_ids`` is empty. ``logprobs`` are filled when
the server returns them (ask with ``extra_body={"logprobs": True}`` for chat or ``{"logprobs": 0}`` for
completions); what they mean is the server's business (vLLM: the unadjusted model distribution by default;
``acereason serve``: the sampling distribution).

Seeds: with ``SamplingParams.seed`` set, prompt ``i`` is sent ``seed`` mixed with ``i``, so equal prompts in
one call get different samples and the same call repeats exactly on a server that honours seeds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import os
import random
import re
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from acereason.generate.base import Completion, FinishReason, Prompt, SamplingParams, encode_prompt, is_chat

if TYPE_CHECKING:
    import httpx
    from transformers import PreTrainedTokenizerBase

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIRequestError(RuntimeError):
    """A request failed for good: a non-retryable HTTP error, or retries exhausted, or the server does not
    serve the model (then ``served`` lists the models it does serve)."""

    def __init__(self, message: str, served: list[str] | None = None) -> None:
        super().__init__(message)
        self.served = served


def request_seed(seed: int, prompt_index: int) -> int:
    """A per-prompt seed in [0, 2**31) derived from the call's seed (int32 fits every server's seed field)."""
    return (seed * 0x9E3779B1 + prompt_index * 0x85EBCA77 + 0x2545F491) % (2**31)


def _finish(reason: Any) -> FinishReason:
    """Map OpenAI finish reasons to ours: only ``length`` means truncated; anything else ended the sample."""
    return "length" if reason == "length" else "stop"


class OpenAIGenerator:
    """A ``Generator`` over an OpenAI-compatible HTTP API (see the module docstring for the details).

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1`` (``/v1`` is appended when missing).
        model: the model name the server serves.
        api_key: sent as ``Authorization: Bearer``; None takes ``$OPENAI_API_KEY`` (as OpenAI's own clients
            do), and sends none when that is unset too.
        max_concurrency: most requests in flight at once.
        timeout_s: bound on each attempt of each request, in seconds.
        max_retries: retries after the first attempt for transient failures (0: no retry).
        tokenizer: a local tokenizer, used to fill ids when the server does not return them.
        extra_body: extra JSON fields merged into every request (e.g. ``{"return_token_ids": True}``).
        backoff_s / max_backoff_s: first backoff and its cap; attempt k sleeps uniform(0, min(cap, base*2**k)).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        max_concurrency: int = 16,
        timeout_s: float = 600,
        max_retries: int = 5,
        tokenizer: PreTrainedTokenizerBase | None = None,
        extra_body: dict[str, Any] | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        if max_concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError("need max_concurrency >= 1, max_retries >= 0 and timeout_s > 0")
        base_url = base_url.rstrip("/")
        self.base_url = base_url if base_url.endswith("/v1") else base_url + "/v1"
        self.model = model
        self.api_key = api_key if api_key is not None else (os.environ.get("OPENAI_API_KEY") or None)
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.tokenizer = tokenizer
        self.extra_body = dict(extra_body or {})
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._jitter = random.Random()  # own RNG: never touch the caller's global random state
        self._ssl: ssl.SSLContext | None = None

    def served_models(self, timeout_s: float = 10.0) -> list[str]:
        """The model ids the server lists at ``GET /v1/models``: one attempt, no retry, so a dead server or a
        wrong URL is reported at once (``cannot reach URL: connection refused``)."""
        import httpx

        url = f"{self.base_url}/models"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = httpx.get(url, headers=headers, timeout=timeout_s, verify=self._verify())
        except httpx.TimeoutException:
            raise OpenAIRequestError(f"cannot reach {self.base_url}: no answer within {timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise OpenAIRequestError(f"cannot reach {self.base_url}: {_transport_reason(exc)}") from None
        if response.status_code != 200:
            raise OpenAIRequestError(f"GET {url} answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            return [str(m["id"]) for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise OpenAIRequestError(f"GET {url} did not answer with a model list: {response.text[:300]}") from None

    def check_model(self, timeout_s: float = 10.0) -> None:
        """Raise :class:`OpenAIRequestError` unless the server is up and lists ``self.model``."""
        served = self.served_models(timeout_s)
        if self.model not in served:
            raise OpenAIRequestError(f"server at {self.base_url} does not serve model {self.model!r}; it serves: "
                                     f"{', '.join(served) or 'no model'}", served=served)

    def generate(self, prompts: Sequence[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order. Works with or without a running event loop in
        the calling thread (inside one, the requests run on a private loop in a helper thread)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(prompts, n, params))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.agenerate(prompts, n, params)).result()

    async def agenerate(self, prompts: Sequence[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        """The async form of :meth:`generate`, for callers that already run an event loop."""
        import httpx

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        chats = [is_chat(p) for p in prompts]  # validates every prompt before any request goes out
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        semaphore = asyncio.Semaphore(self.max_concurrency)
        # the per-attempt bound is enforced with asyncio.timeout below; httpx's own timeout is a backstop
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, limits=limits, verify=self._verify(),
                                     timeout=httpx.Timeout(self.timeout_s + 5)) as client:
            tasks = [self._one(client, semaphore, i, p, chat, n, params)
                     for i, (p, chat) in enumerate(zip(prompts, chats, strict=True))]
            return list(await asyncio.gather(*tasks))

    def _verify(self) -> ssl.SSLContext | bool:
        """TLS settings: a default context, built once per generator because building one costs ~0.2 s; plain
        http needs none."""
        if not self.base_url.startswith("https://"):
            return False
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _body(self, index: int, prompt: Prompt, chat: bool, n: int, params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "n": n, "temperature": params.temperature,
                                "top_p": params.top_p, "max_tokens": params.max_tokens}
        body["messages" if chat else "prompt"] = prompt
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = request_seed(params.seed, index)
        body.update(self.extra_body)
        return body

    async def _one(self, client: httpx.AsyncClient, semaphore: asyncio.Semaphore, index: int, prompt: Prompt,
                   chat: bool, n: int, params: SamplingParams) -> list[Completion]:
        body = self._body(index, prompt, chat, n, params)
        route = "/chat/completions" if chat else "/completions"
        async with semaphore:
            payload = await self._post(client, route, body)
        return self._parse(payload, prompt, chat, n)

    async def _post(self, client: httpx.AsyncClient, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; returns the decoded JSON of the first successful response."""
        import httpx

        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.timeout_s):
                    response = await client.post(route, json=body)
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}: {response.text[:500]}"
                if response.status_code not in RETRY_STATUS:
                    raise OpenAIRequestError(f"POST {self.base_url}{route} failed with {last}")
                retry_after = _retry_after(response.headers.get("Retry-After"))
            except (TimeoutError, httpx.TimeoutException):
                last = f"no complete response within {self.timeout_s} s"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt == self.max_retries:
                break
            backoff = self._jitter.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt))
            await asyncio.sleep(min(self.max_backoff_s, retry_after) if retry_after is not None else backoff)
        raise OpenAIRequestError(f"POST {self.base_url}{route} failed after {self.max_retries + 1} attempts: {last}")

    def _parse(self, payload: dict[str, Any], prompt: Prompt, chat: bool, n: int) -> list[Completion]:
        choices = sorted(payload.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != n:
            raise OpenAIRequestError(f"asked for n={n} samples, the server returned {len(choices)} choices")
        local_prompt_ids = encode_prompt(self.tokenizer, prompt) if self.tokenizer is not None else None
        out = []
        for c in choices:
            text = ((c.get("message") or {}).get("content") if chat else c.get("text")) or ""
            finish = _finish(c.get("finish_reason"))
            token_ids = c.get("token_ids")
            if token_ids is None and self.tokenizer is not None:
                token_ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
                eos = self.tokenizer.eos_token_id
                if finish == "stop" and "stop_reason" in c and c["stop_reason"] is None and eos is not None:
                    token_ids.append(eos)
            prompt_ids = c.get("prompt_token_ids") or payload.get("prompt_token_ids") or local_prompt_ids
            out.append(Completion(text=text, token_ids=list(token_ids or []), finish_reason=finish,
                                  prompt_token_ids=list(prompt_ids) if prompt_ids is not None else None,
                                  logprobs=_logprobs(c.get("logprobs"), chat)))
        return out


def _logprobs(block: Any, chat: bool) -> list[float] | None:
    """Per-token log-probs from a choice's ``logprobs`` block, in either API's layout."""
    if not isinstance(block, dict):
        return None
    if chat:
        content = block.get("content")
        return [float(t["logprob"]) for t in content] if isinstance(content, list) else None
    values = block.get("token_logprobs")
    return [float(x) for x in values] if isinstance(values, list) else None


def _transport_reason(exc: Exception) -> str:
    """``[Errno 111] Connection refused`` -> ``connection refused``: the reason, without errno noise."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip()) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def from_spec(rest: str, **kw: Any) -> OpenAIGenerator:
    """The ``openai:URL#MODEL`` backend for :func:`acereason.generate.registry.make_generator`: ``kw`` go to
    :class:`OpenAIGenerator`."""
    url, hash_, model = rest.partition("#")
    if not hash_ or not model or not url:
        raise ValueError(f"openai spec needs a URL and a model name: 'openai:URL#MODEL', got 'openai:{rest}'")
    return OpenAIGenerator(url, model, **kw)
