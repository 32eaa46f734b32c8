"""Helpers shared by the source readers: record iteration with locations, answer and text cleaning."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from acereason.schema import (
    READ_ERRORS,
    DataError,
    Problem,
    SourceFloat,
    _first_error,
    iter_jsonl,
    iter_parquet_rows,
    json_error,
    json_type,
    number_text,
    open_text,
    read_failure,
)


def iter_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(location, row)`` from a JSON array, JSONL(.gz) or Parquet file.

    The location is the 1-based line for JSONL, the 1-based element index for a JSON array, and the
    1-based row for Parquet; it is what error messages print after the file name. JSON numbers with a
    fraction or exponent are decoded as :class:`SourceFloat`.
    """
    p = str(path)
    if p.endswith(".parquet"):
        yield from iter_parquet_rows(p)
        return
    if _looks_like_json_array(p):
        try:
            with open_text(p) as fh:
                data = json.load(fh, parse_float=SourceFloat)
        except json.JSONDecodeError as err:
            raise DataError(p, None, json_error(err)) from None
        except READ_ERRORS as err:
            raise read_failure(p, err) from None
        if not isinstance(data, list):
            raise DataError(p, None, f"expected a JSON array of records, got {json_type(data)}")
        yield from enumerate(data, start=1)
        return
    yield from iter_jsonl(p, parse_float=SourceFloat)


def _looks_like_json_array(path: str) -> bool:
    if path.endswith((".jsonl", ".jsonl.gz")):  # by name JSONL, even when a line holds a list
        return False
    try:
        with open_text(path) as fh:
            head = fh.read(4096)
    except READ_ERRORS as err:
        raise read_failure(path, err) from None
    return head.lstrip().startswith("[")


def first_row(path: str | os.PathLike[str]) -> Any | None:
    """The first record of a file (for format detection), or None when it has none.

    A file that cannot be read or decoded raises its DataError (not a gzip file, invalid JSON...): the
    reason it cannot be converted is that, not an unknown format. A JSON array is decoded whole here,
    which is what reading it costs anyway.
    """
    for _, row in iter_rows(path):
        return row
    return None


def make_problem(path: str | os.PathLike[str], loc: int | None, **fields: Any) -> Problem:
    """Build a Problem, turning a validation failure into a DataError that names file and record."""
    try:
        return Problem(**fields)
    except ValidationError as err:
        field, msg = _first_error(err)
        raise DataError(path, loc, msg, field=field) from None


_KIND_NAMES = {str: "a string", list: "a list", dict: "an object", int: "an integer", float: "a number",
               bool: "a boolean"}


def need(row: Any, key: str, path: str | os.PathLike[str], loc: int | None, kind: type | tuple = str) -> Any:
    """Return ``row[key]``, raising a DataError naming the field when it is missing (absent or null) or of
    the wrong JSON type (``field 'problem': expected a string, got list``)."""
    if not isinstance(row, dict):
        raise DataError(path, loc, f"expected a JSON object, got {json_type(row)}")
    if key not in row or row[key] is None:
        raise DataError(path, loc, "missing", field=key)
    val = row[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(val, kinds) or (isinstance(val, bool) and bool not in kinds):
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise DataError(path, loc, f"expected {names}, got {json_type(val)}", field=key)
    return val


_INTEGRAL_STR = re.compile(r"^\s*(-?\d+)\.0+\s*$")


def answer_text(value: Any, path: str | os.PathLike[str], loc: int | None, field: str = "answer") -> str | None:
    """A source's gold answer as text (see :func:`clean_answer`), or None when it is null or empty.

    Text, numbers and lists of them are answers; anything else (``true``, an object, a nested list, NaN)
    is bad data and raises a DataError naming ``field``, rather than becoming the text ``"True"``.
    """
    if value is None or value == "" or value == []:
        return None
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        where = f"{field}.{i}" if isinstance(value, list) else field
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise DataError(path, loc, f"expected text, a number or a list of them, got {json_type(item)}",
                            field=where)
        if isinstance(item, float) and not math.isfinite(item):
            raise DataError(path, loc, f"expected a finite number, got {item}", field=where)
    return clean_answer(value) or None


def clean_answer(value: Any) -> str:
    """Normalise a gold answer to text: integral numbers (``27.0``) and strings like ``"142.0"`` become
    ``"27"`` / ``"142"``; other numbers keep the digits the source wrote, in plain decimal (``0.50``;
    ``1e-3`` -> ``0.001``; see :func:`acereason.schema.number_text`); a one-element list becomes its
    element; surrounding whitespace is stripped. Several answers (OlympiadBench multi-answer) are joined
    with ``", "``. Validate types first with :func:`answer_text`."""
    if isinstance(value, int | float):
        return number_text(value)  # a boolean raises TypeError: it is no answer (answer_text says so)
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
