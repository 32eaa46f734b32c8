"""Helpers shared by the source readers: record iteration with locations, answer and text cleaning."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acereason.schema import DataError, Problem, _first_error, iter_jsonl, iter_parquet_rows, open_text


def iter_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(location, row)`` from a JSON array, JSONL(.gz) or Parquet file.

    The location is the 1-based line for JSONL, the 1-based element index for a JSON array, and the
    1-based row for Parquet; it is what error messages print after the file name.
    """
    p = str(path)
    if p.endswith(".parquet"):
        yield from iter_parquet_rows(p)
        return
    if _looks_like_json_array(p):
        try:
            with open_text(p) as fh:
                data = json.load(fh)
        except json.JSONDecodeError as err:
            raise DataError(p, err.lineno, f"invalid JSON: {err.msg} at column {err.colno}") from None
        if not isinstance(data, list):
            raise DataError(p, None, f"expected a JSON array of records, got {type(data).__name__}")
        yield from enumerate(data, start=1)
        return
    yield from iter_jsonl(p)


def _looks_like_json_array(path: str) -> bool:
    try:
        with open_text(path) as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, None, f"cannot read: {err}") from None
    return head.lstrip().startswith("[")


def first_row(path: str | os.PathLike[str]) -> Any | None:
    """The first record of a file (for format detection), or None if empty or unreadable."""
    try:
        for _, row in iter_rows(path):
            return row
    except DataError:
        return None
    return None


def make_problem(path: str | os.PathLike[str], loc: int | None, **fields: Any) -> Problem:
    """Build a Problem, turning a validation failure into a DataError that names file and record."""
    try:
        return Problem(**fields)
    except ValidationError as err:
        field, msg = _first_error(err)
        raise DataError(path, loc, msg, field=field) from None


def need(row: Any, key: str, path: str | os.PathLike[str], loc: int | None, kind: type | tuple = str) -> Any:
    """Return ``row[key]``, raising a DataError naming the field when it is missing or mistyped."""
    if not isinstance(row, dict):
        raise DataError(path, loc, f"expected a JSON object, got {type(row).__name__}")
    if key not in row or row[key] is None:
        raise DataError(path, loc, "missing", field=key)
    val = row[key]
    if not isinstance(val, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(path, loc, f"expected {names}, got {type(val).__name__}", field=key)
    return val


def file_tag(path: str | os.PathLike[str]) -> str:
    """A short, stable name for a file used as the id prefix: ``<parent>_<stem>`` (``test_aime``)."""
    p = Path(path)
    stem = p.name
    for suffix in (".gz", ".jsonl", ".json", ".parquet"):
        stem = stem.removesuffix(suffix)
    parent = p.parent.name
    tag = f"{parent}_{stem}" if parent and parent not in {".", ""} else stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", tag)


_INTEGRAL_STR = re.compile(r"^\s*(-?\d+)\.0+\s*$")


def clean_answer(value: Any) -> str:
    """Normalise a gold answer to text: JSON floats that are integral (``27.0``) and strings like
    ``"142.0"`` become ``"27"`` / ``"142"``; a one-element list becomes its element; surrounding
    whitespace is stripped. Several answers (OlympiadBench multi-answer) are joined with ``", "``."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, list | tuple):
        parts = [clean_answer(v) for v in value]
        return ", ".join(p for p in parts if p)
    text = repair_escapes(str(value)).strip()
    m = _INTEGRAL_STR.match(text)
    return m.group(1) if m else text


# LaTeX commands whose backslash-letter prefix JSON turns into a control character when a producer
# forgot to escape the backslash: "\frac" -> form feed + "rac", "\theta" -> tab + "heta".
_TAB_COMMANDS = ("triangle", "theta", "times", "textbf", "textit", "text", "tfrac", "tilde", "tanh", "tan",
                 "tau", "therefore", "top", "to")
_CR_COMMANDS = ("rightarrow", "right", "rangle", "rfloor", "rceil", "rho", "rm", "root")
_TAB_RE = re.compile("\t(" + "|".join(c[1:] for c in _TAB_COMMANDS) + r")(?![a-z])")
_CR_RE = re.compile("\r(" + "|".join(c[1:] for c in _CR_COMMANDS) + r")(?![a-z])")


def repair_escapes(text: str) -> str:
    """Repair LaTeX backslashes that a mis-escaped JSON writer turned into control characters.

    Form feed and backspace never belong in problem text, so ``\\x0c`` -> ``\\f`` and ``\\x08`` ->
    ``\\b`` always. Tab and carriage return are repaired only when followed by the rest of a known
    LaTeX command (``\\t`` + ``riangle`` -> ``\\triangle``). Newlines are left alone: ``\\n`` + ``eq``
    cannot be told apart from a real line break reliably.
    """
    if not any(c in text for c in "\x0c\x08\t\r"):
        return text
    text = text.replace("\x0c", "\\f").replace("\x08", "\\b")
    text = _TAB_RE.sub(lambda m: "\\t" + m.group(1), text)
    return _CR_RE.sub(lambda m: "\\r" + m.group(1), text)


def last_boxed(text: str) -> str | None:
    """Content of the last balanced ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, stripped, or None.

    Used to take a gold answer from a reference solution when a source has no answer field; the brace
    matching is the math verifier's (linear even on adversarial input).
    """
    from acereason.verify.math_normalize import last_boxed as find_box

    box = find_box(text)
    return None if box is None else box.strip()


def keep_extra(row: dict, used: set[str]) -> dict[str, Any]:
    """Fields of a source row that our schema does not hold, kept in ``meta`` (JSON-safe, non-null)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in used or v is None:
            continue
        try:
            json.dumps(v)
        except TypeError:
            v = str(v)
        out[k] = v
    return out
