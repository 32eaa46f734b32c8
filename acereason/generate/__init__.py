"""Sampling behind one contract: ``Generator.generate(prompts, n, SamplingParams) -> list[list[Completion]]``.

Backends: ``HFGenerator`` (a live or saved transformers model, CPU or GPU), ``OpenAIGenerator`` (any
OpenAI-compatible server; needs ``httpx``), ``VLLMGenerator`` (needs ``vllm``). ``make_generator(spec)``
picks one from ``"hf:PATH"``, ``"openai:URL#MODEL"`` or ``"vllm:PATH"`` (see
:mod:`acereason.generate.registry` for how a backend registers). Backends are imported on first use,
so ``import acereason.generate`` pulls in neither torch nor httpx nor vllm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acereason.generate.base import Completion, Generator, SamplingParams, encode_prompt
from acereason.generate.registry import make_generator, register_backend

if TYPE_CHECKING:
    from acereason.generate.hf import HFGenerator
    from acereason.generate.openai_backend import OpenAIGenerator
    from acereason.generate.vllm_backend import VLLMGenerator

__all__ = [
    "Completion",
    "Generator",
    "HFGenerator",
    "OpenAIGenerator",
    "SamplingParams",
    "VLLMGenerator",
    "encode_prompt",
    "make_generator",
    "register_backend",
]

_LAZY = {
    "HFGenerator": "acereason.generate.hf",
    "OpenAIGenerator": "acereason.generate.openai_backend",
    "VLLMGenerator": "acereason.generate.vllm_backend",
}


def __getattr__(name: str) -> Any:
    """Import a backend class on first access (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'acereason.generate' has no attribute {name!r}")
