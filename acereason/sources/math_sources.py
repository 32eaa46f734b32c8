"""Readers for math problem files: DeepScaleR JSON arrays, MATH/AIME/AMC JSONL variants, NuminaMath /
AceReason-Math JSONL. All share one row converter; they differ in layout and detection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError
from acereason.sources.common import (
    clean_answer,
    file_tag,
    iter_rows,
    keep_extra,
    last_boxed,
    make_problem,
    repair_escapes,
)
from acereason.sources.registry import register_reader

_PROMPT_KEYS = ("problem", "question", "Problem", "Question")


def math_row(path: Path, loc: int, row: Any, boxed_fallback: bool) -> Any:
    """Convert one math record to a Problem.

    The id is ``<file tag>-<row index>``: native ids are kept in ``meta`` but are not unique in every
    source (AMC files restart them per contest). A row with no gold answer anywhere keeps
    ``answer = null`` and ``meta.answer_from = "none"`` so counts match the source; curation drops it.
    """
    if not isinstance(row, dict):
        raise DataError(path, loc, f"expected a JSON object, got {type(row).__name__}")
    prompt_key = next((k for k in _PROMPT_KEYS if isinstance(row.get(k), str)), None)
    if prompt_key is None:
        raise DataError(path, loc, "missing (no 'problem' or 'question' text)", field="problem")
    used = {prompt_key, "answer", "difficulty", "source"}
    # Several layouts repeat the statement under a second name (Qwen2.5-Math: problem + question).
    used.update(k for k in _PROMPT_KEYS if row.get(k) == row[prompt_key])
    answer_raw = row.get("answer")
    if answer_raw in (None, "", []):
        solution = row.get("solution")
        answer = last_boxed(repair_escapes(solution)) if boxed_fallback and isinstance(solution, str) else None
        answer_from = "solution_boxed" if answer else "none"
        if answer:
            used.add("solution")
        else:
            answer = None
    else:
        if not isinstance(answer_raw, str | int | float | list):
            raise DataError(path, loc, f"expected text or number, got {type(answer_raw).__name__}",
                            field="answer")
        answer = clean_answer(answer_raw) or None
        answer_from = "answer" if answer else "none"
    meta = keep_extra(row, used)
    meta["answer_from"] = answer_from
    if row.get("difficulty") is not None:
        meta["source_difficulty"] = row["difficulty"]
    tag = file_tag(path)
    source = row.get("source") if isinstance(row.get("source"), str) and row.get("source") else tag
    return make_problem(
        path, loc,
        id=f"{tag}-{loc - 1}",
        domain="math",
        prompt=repair_escapes(row[prompt_key]).strip(),
        answer=answer,
        source=source,
        meta=meta,
    )


def _read(path: Path, boxed_fallback: bool) -> Iterator[Any]:
    for loc, row in iter_rows(path):
        yield math_row(path, loc, row, boxed_fallback)


def _has_prompt(first: Any) -> bool:
    return isinstance(first, dict) and any(isinstance(first.get(k), str) for k in _PROMPT_KEYS)


def _is_json_array(path: Path) -> bool:
    if path.is_dir() or path.suffix != ".json":
        return False
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read(64).lstrip().startswith("[")


@register_reader(
    "deepscaler",
    "DeepScaleR JSON array: [{problem, answer, solution?, difficulty?}] (train and test files)",
    detect=lambda p, first: _is_json_array(p) and _has_prompt(first) and "answer" in first,
    priority=40,
)
def read_deepscaler(path: Path) -> Iterator[Any]:
    """DeepScaleR's JSON arrays (``deepscaler/data/{train,test}/*.json``). List answers (Minerva,
    OlympiadBench) are unwrapped; float-like answers ``"142.0"`` become ``"142"``."""
    return _read(path, boxed_fallback=False)


@register_reader(
    "math_jsonl",
    "MATH-500 / AIME / AMC JSONL: {problem|question, answer, solution?, id?}",
    detect=lambda p, first: not _is_json_array(p) and _has_prompt(first) and "answer" in first
    and first.get("answer") not in (None, ""),
    priority=45,
)
def read_math_jsonl(path: Path) -> Iterator[Any]:
    """Evaluation JSONL in the Qwen2.5-Math / simpleRL / PRIME layouts. Float answers (``27.0``)
    become ``27``; control characters from a mis-escaped ``\\frac`` are repaired."""
    return _read(path, boxed_fallback=False)


@register_reader(
    "numina",
    "NuminaMath / AceReason-Math JSONL: {problem, solution?, answer?, source?}; answer from the "
    "solution's last \\boxed{} when absent",
    detect=lambda p, first: _has_prompt(first) and (
        "messages" in first or ("solution" in first and ("source" in first or "answer" not in first))),
    priority=44,
)
def read_numina(path: Path) -> Iterator[Any]:
    """NuminaMath-CoT / 1.5 and AceReason-Math rows. When there is no answer field the gold answer is
    the last ``\\boxed{}`` of the reference solution; rows with neither keep a null answer."""
    return _read(path, boxed_fallback=True)
