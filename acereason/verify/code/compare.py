"""Trusted-side output comparison: stdout token-wise, call results by value.

Runs only in the judge process, on plain values decoded from the sandbox (never on the program's own
objects, so a custom ``__eq__`` can never reach a comparison).

* ``stdout_matches``: lines compared after stripping trailing blank lines; the line counts must agree
  (no ``zip()`` truncation); within a line, whitespace-separated tokens must agree one by one. Integer
  tokens compare exactly at any size (digits, not floats); other numeric tokens compare as floats with
  ``1e-6`` absolute or relative tolerance; anything else compares as text.
* ``values_match``: the same rules for a decoded return value against the expected JSON value; tuples
  count as lists, ``bool`` only equals ``bool``, floats use the same tolerance.
"""

from __future__ import annotations

import decimal
import json
import math
import re
from typing import Any

FLOAT_TOL = 1e-6
_INT = re.compile(r"[+-]?\d+\Z")
_MAX_JSON_DIGITS = 4000


def _norm_int(tok: str) -> str:
    sign = "-" if tok[0] == "-" else ""
    digits = tok.lstrip("+-").lstrip("0") or "0"
    return "" + digits if digits == "0" else sign + digits


def _to_float(tok: str) -> float | None:
    try:
        return float(tok)
    except (ValueError, OverflowError):
        return None


def floats_close(a: float, b: float, tol: float = FLOAT_TOL) -> bool:
    """True if ``a`` and ``b`` agree within ``tol`` absolute or relative (equal infinities and NaNs too)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= tol or abs(a - b) <= tol * max(abs(a), abs(b))


def tokens_match(got: str, want: str) -> bool:
    """Compare two whitespace-free tokens: exact text, exact integers, or floats within tolerance."""
    if got == want:
        return True
    if _INT.match(got) and _INT.match(want):
        return _norm_int(got) == _norm_int(want)
    a, b = _to_float(got), _to_float(want)
    if a is None or b is None:
        return False
    return floats_close(a, b)


def _lines(text: str) -> list[str]:
    lines = text.strip("\r\n\t ").splitlines() if text.strip() else []
    return [ln for ln in (x.strip() for x in lines)]


def stdout_matches(got: str, want: str) -> bool:
    """True if program output ``got`` matches expected ``want`` line by line, token by token."""
    gl, wl = _lines(got), _lines(want)
    if len(gl) != len(wl):
        return False
    for g, w in zip(gl, wl, strict=True):
        gt, wt = g.split(), w.split()
        if len(gt) != len(wt):
            return False
        if not all(tokens_match(a, b) for a, b in zip(gt, wt, strict=True)):
            return False
    return True


def _parse_int(text: str) -> int:
    if len(text) <= _MAX_JSON_DIGITS:
        return int(text)
    with decimal.localcontext() as ctx:  # exact, and not bound by sys.int_max_str_digits
        ctx.prec = len(text) + 2
        return int(decimal.Decimal(text))


def parse_json_value(text: str) -> Any:
    """Parse one expected JSON value (integers of any size stay exact)."""
    return json.loads(text, parse_int=_parse_int)


def values_match(got: Any, want: Any) -> bool:
    """Compare a decoded plain value with an expected JSON value (see the module docstring)."""
    stack = [(got, want)]
    while stack:
        g, w = stack.pop()
        if isinstance(w, bool) or isinstance(g, bool):
            if type(g) is not bool or type(w) is not bool or g != w:
                return False
        elif isinstance(w, int) and type(g) is int:
            if g != w:
                return False
        elif isinstance(w, (int, float)) and type(g) in (int, float):
            if not floats_close(float(g), float(w)):
                return False
        elif isinstance(w, str) or w is None:
            if type(g) is not type(w) or g != w:
                return False
        elif isinstance(w, (list, tuple)):
            if type(g) not in (list, tuple) or len(g) != len(w):
                return False
            stack.extend(zip(g, w, strict=True))
        elif isinstance(w, dict):
            if type(g) is not dict or set(g) != set(w):
                return False
            stack.extend((g[k], w[k]) for k in w)
        else:
            return False
    return True
