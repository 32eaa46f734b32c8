"""Our own Problem files (JSONL / Parquet of :class:`acereason.schema.Problem`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import Problem, read_records
from acereason.sources.registry import register_reader


@register_reader("acereason", "acereason Problem JSONL/Parquet (our schema)",
                 detect=lambda p, first: isinstance(first, dict) and {"id", "domain", "prompt", "source"} <= set(first),
                 priority=0)
def read_ours(path: Path, tag: str | None = None) -> Iterator[Any]:
    """Problems already in our schema (validated row by row). Ids are the source's own; ``tag`` is not used."""
    return read_records(path, Problem)
