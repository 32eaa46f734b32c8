"""The one generation contract every backend implements: ``Generator.generate(prompts, n, SamplingParams)``.

A prompt is either a ``str`` (used verbatim) or a list of chat messages (``[{"role": ..., "content": ...}]``),
which a backend renders with the tokenizer's chat template and ``add_generation_prompt=True``. The result
holds one list of ``n`` :class:`Completion` per prompt, in prompt order.

This module holds only the contract and helpers every backend shares; it imports no backend. Picking a
backend by name (``make_generator("hf:PATH" | "vllm:PATH" | "openai:URL#MODEL")``) is
:mod:`acereason.generate.registry`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Message = dict[str, str]
Prompt = str | list[Message]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. Every backend honours every field (the openai backend forwards them to the server)."""

    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches ``top_p``."""
    max_tokens: int = 512
    """Maximum number of new tokens per completion."""
    seed: int | None = None
    """Makes a call reproducible where the backend can (same prompts + params + seed => same samples)."""
    stop: tuple[str, ...] = ()
    """Extra stop strings; the tokenizer's eos always stops. The stop string is not part of ``text``."""

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"SamplingParams.max_tokens must be >= 1, got {self.max_tokens}")
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError(f"SamplingParams.stop must be a tuple of non-empty strings, got {self.stop!r}")


@dataclass
class Completion:
    """One sampled continuation of one prompt."""

    text: str
    """Decoded new text; a matched stop string and the eos token are not included."""
    token_ids: list[int]
    """Generated token ids; eos is included when it was generated, so training sees the end of the response."""
    finish_reason: FinishReason
    """``"stop"`` (eos or a stop string) or ``"length"`` (``max_tokens`` reached)."""
    prompt_token_ids: list[int] | None = None
    """Exactly the ids the completion was conditioned on (no padding), when the backend knows them."""
    logprobs: list[float] | None = None
    """Per generated token, its log-probability under the distribution it was sampled from, when available."""


@runtime_checkable
class Generator(Protocol):
    """Anything that samples ``n`` completions for each prompt."""

    def generate(self, prompts: Sequence[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order."""
        ...


def is_chat(prompt: Prompt) -> bool:
    """True for a list of chat messages, False for a plain string; raises on anything else."""
    if isinstance(prompt, str):
        return False
    if isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in prompt):
        return True
    raise TypeError(f"a prompt must be a str or a list of {{'role', 'content'}} dicts, got {type(prompt).__name__}")


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: Prompt) -> list[int]:
    """The token ids a model is conditioned on for ``prompt``.

    A chat prompt is rendered to text with the chat template (``add_generation_prompt=True``) and tokenized
    without adding special tokens, because templates already write BOS where the model wants it. A str prompt
    is tokenized with the tokenizer's defaults (a BOS for Llama-style tokenizers, nothing for Qwen), which is
    also what vLLM and OpenAI-compatible servers do.
    """
    if is_chat(prompt):
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return list(tokenizer(prompt)["input_ids"])


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index in ``text`` where the earliest of ``stops`` begins, or None."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None

