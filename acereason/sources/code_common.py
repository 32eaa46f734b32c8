"""Helpers for code readers: building LiveCodeBench-form tests from other layouts, fn_name recovery."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from acereason.schema import DataError, TestCase

_DEF_RE = re.compile(r"^(\s*)def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)


def fn_name_from_starter(starter: str | None) -> str | None:
    """The function a starter code asks for: the first public method of ``class Solution`` (LeetCode),
    else the first top-level ``def``. Commented-out helper classes (``# class TreeNode``) are ignored."""
    if not starter:
        return None
    code = "\n".join(line for line in starter.splitlines() if not line.lstrip().startswith("#"))
    in_solution = re.search(r"^class\s+Solution\b.*$", code, re.MULTILINE)
    if in_solution:
        for m in _DEF_RE.finditer(code, in_solution.end()):
            if m.group(1) and not m.group(2).startswith("__"):
                return m.group(2)
    for m in _DEF_RE.finditer(code):
        if not m.group(1):
            return m.group(2)
    return None


def stdin_tests(inputs: Any, outputs: Any, path: Path | str, loc: int | None,
                field: str = "tests") -> list[TestCase]:
    """Pair parallel ``inputs`` / ``outputs`` lists into stdin tests (CodeContests, APPS)."""
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise DataError(path, loc, "expected lists 'inputs' and 'outputs'", field=field)
    if len(inputs) != len(outputs):
        raise DataError(path, loc, f"{len(inputs)} inputs but {len(outputs)} outputs", field=field)
    return [TestCase(testtype="stdin", input=_text(i), output=_text(o)) for i, o in zip(inputs, outputs,
                                                                                          strict=True)]


def _text(value: Any) -> str:
    if isinstance(value, list):  # APPS sometimes stores stdin as a list of lines
        return "\n".join(str(v) for v in value) + ("\n" if value else "")
    return value if isinstance(value, str) else str(value)


def functional_test(args: list[Any], expected: Any) -> TestCase:
    """A functional test in the contract's form: one JSON value per argument line, one JSON result."""
    return TestCase(
        testtype="functional",
        input="\n".join(json.dumps(a, ensure_ascii=False) for a in args),
        output=json.dumps(expected, ensure_ascii=False),
    )


def parse_json_field(value: Any, path: Path | str, loc: int | None, field: str) -> Any:
    """Decode a field that sources store as a JSON string (or already decoded)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    try:  # some dumps used Python repr (single quotes, True/None) instead of JSON
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise DataError(path, loc, "not valid JSON", field=field) from None


_CHECK_CALL = re.compile(r"^\s*check\(\s*(?:Solution\(\)\s*\.\s*)?([A-Za-z_]\w*)\s*\)\s*$")


def split_check_call(source: str) -> tuple[str, str | None]:
    """Remove a trailing ``check(Solution().name)`` / ``check(name)`` call from check-style test code.

    Returns ``(source_without_call, name)``: the judge, not the test file, calls ``check(candidate)``.
    """
    lines = source.rstrip().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if lines:
        m = _CHECK_CALL.match(lines[-1])
        if m:
            return "\n".join(lines[:-1]).rstrip() + "\n", m.group(1)
    return source, None

