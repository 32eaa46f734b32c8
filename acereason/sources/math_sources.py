"""Readers for math problem files: DeepScaleR JSON arrays, MATH/AIME/AMC JSONL variants, NuminaMath /
AceReason-Math JSONL. All share one row converter; they differ in layout and detection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError, json_type
from acereason.sources.common import (
    answer_text,
    iter_rows,
    keep_extra,
    last_boxed,
    make_problem,
    need,
    repair_escapes,
)
from acereason.sources.naming import file_tag
from acereason.sources.registry import register_reader

_PROMPT_KEYS = ("problem", "question", "Problem", "Question")


def math_row(path: Path, loc: int, row: Any, boxed_fallback: bool, tag: str | None = None) -> Any:
    """Convert one math record to a Problem.

    The id is ``<tag>-<row index>`` (``tag``: the file's, see :func:`file_tag`): native ids are kept in
    ``meta`` but are not unique in every source (AMC files restart them per contest). A row with no gold
    answer anywhere keeps ``answer = null`` and ``meta.answer_from = "none"`` so counts match the source;
    curation drops it.
    """
    if not isinstance(row, dict):
        raise DataError(path, loc, f"expected a JSON object, got {json_type(row)}")
    present = [k for k in _PROMPT_KEYS if row.get(k) is not None]
    prompt_key = next((k for k in present if isinstance(row[k], str)), None)
    if prompt_key is None:
        if present:  # there is a statement, of the wrong type: say so rather than "missing"
            need(row, present[0], path, loc)
        raise DataError(path, loc, "missing (no 'problem' or 'question' text)", field="problem")
    used = {prompt_key, "answer", "difficulty", "source"}
    # Several layouts repeat the statement under a second name (Qwen2.5-Math: problem + question).
    used.update(k for k in _PROMPT_KEYS if row.get(k) == row[prompt_key])
    answer = answer_text(row.get("answer"), path, loc)
    answer_from = "answer" if answer else "none"
    if answer is None and boxed_fallback and isinstance(row.get("solution"), str):
        answer = last_boxed(repair_escapes(row["solution"])) or None
        if answer:
            answer_from = "solution_boxed"
            used.add("solution")
    meta = keep_extra(row, used)
    meta["answer_from"] = answer_from
    if row.get("difficulty") is not None:
        meta["source_difficulty"] = row["difficulty"]
    tag = tag or file_tag(path)
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


def _read(path: Path, boxed_fallback: bool, tag: str | None) -> Iterator[Any]:
    tag = tag or file_tag(path)
    for loc, row in iter_rows(path):
        yield math_row(path, loc, row, boxed_fallback, tag)


def _has_prompt(first: Any) -> bool:
    # keys, not values: one null or mistyped field is a record error to report, not an unknown format
    return isinstance(first, dict) and any(k in first for k in _PROMPT_KEYS)


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
def read_deepscaler(path: Path, tag: str | None = None) -> Iterator[Any]:
    """DeepScaleR's JSON arrays (``deepscaler/data/{train,test}/*.json``). List answers (Minerva,
    OlympiadBench) are unwrapped; float-like answers ``"142.0"`` become ``"142"``."""
    return _read(path, False, tag)


@register_reader(
    "math_jsonl",
    "MATH-500 / AIME / AMC JSONL: {problem|question, answer, solution?, id?}",
    detect=lambda p, first: not _is_json_array(p) and _has_prompt(first) and "answer" in first,
    priority=45,
)
def read_math_jsonl(path: Path, tag: str | None = None) -> Iterator[Any]:
    """Evaluation JSONL in the Qwen2.5-Math / simpleRL / PRIME layouts. Float answers (``27.0``)
    become ``27``; control characters from a mis-escaped ``\\frac`` are repaired."""
    return _read(path, False, tag)


@register_reader(
    "numina",
    "NuminaMath / AceReason-Math JSONL: {problem, solution?, answer?, source?}; answer from the "
    "solution's last \\boxed{} when absent",
    detect=lambda p, first: _has_prompt(first) and (
        "messages" in first or ("solution" in first and ("source" in first or "answer" not in first))),
    priority=44,
)
def read_numina(path: Path, tag: str | None = None) -> Iterator[Any]:
    """NuminaMath-CoT / 1.5 and AceReason-Math rows. When there is no answer field the gold answer is
    the last ``\\boxed{}`` of the reference solution; rows with neither keep a null answer."""
    return _read(path, True, tag)
