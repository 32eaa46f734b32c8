"""Backends by name: ``make_generator("NAME:REST")`` looks ``NAME`` up in :data:`BACKENDS` and imports the
backend's module only then, so configs and the CLI name a backend without importing it (torch, vllm and
httpx stay unimported until used).

How a backend registers: its module defines a factory ``from_spec(rest: str, **kw) -> Generator`` (``rest`` is
the spec after ``NAME:``, ``kw`` the caller's constructor options) and gets one :class:`Backend` line in
:data:`BACKENDS` below (in-tree), or calls :func:`register_backend` (out of tree). The backend module imports
``acereason.generate.base`` for the contract types and never this module, so no import circle can form.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acereason.generate.base import Generator


@dataclass(frozen=True)
class Backend:
    """One generation backend: where its factory lives and how its spec is written."""

    factory: str
    """``"package.module:function"``; the function is called as ``function(rest, **kw)`` and returns a Generator."""
    usage: str
    """The spec's form for error messages, e.g. ``"hf:PATH"``."""


BACKENDS: dict[str, Backend] = {
    "hf": Backend("acereason.generate.hf:from_spec", "hf:PATH"),
    "vllm": Backend("acereason.generate.vllm_backend:from_spec", "vllm:PATH"),
    "openai": Backend("acereason.generate.openai_backend:from_spec", "openai:URL#MODEL"),
    "static": Backend("acereason.generate.static_cache:from_spec", "static:PATH"),
}


def register_backend(name: str, factory: str, usage: str) -> None:
    """Add (or replace) the backend ``name``: ``factory`` is ``"module:function"``, imported on first use."""
    module, colon, attr = factory.partition(":")
    if not name or ":" in name or not colon or not module or not attr:
        raise ValueError(f"register_backend needs a name without ':' and a 'module:function' factory, got "
                         f"{name!r}, {factory!r}")
    BACKENDS[name] = Backend(factory, usage)


def _usage() -> str:
    forms = [f"'{b.usage}'" for b in BACKENDS.values()]
    return ", ".join(forms[:-1]) + f" or {forms[-1]}" if len(forms) > 1 else forms[0]


def make_generator(spec: str, **kw: Any) -> Generator:
    """Build a backend from ``"NAME:REST"`` (``"hf:PATH"``, ``"vllm:PATH"``, ``"openai:URL#MODEL"``, or any
    registered name); ``kw`` go to its constructor.

    >>> make_generator("tpu:x")
    Traceback (most recent call last):
    ...
    ValueError: unknown generator spec 'tpu:x': use 'hf:PATH', 'vllm:PATH', 'openai:URL#MODEL' or 'static:PATH'
    """
    name, sep, rest = spec.partition(":")
    backend = BACKENDS.get(name) if sep and rest else None
    if backend is None:
        raise ValueError(f"unknown generator spec {spec!r}: use {_usage()}")
    module, _, attr = backend.factory.partition(":")
    factory: Callable[..., Generator] = getattr(importlib.import_module(module), attr)
    return factory(rest, **kw)
