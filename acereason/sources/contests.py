"""Readers for stdin/stdout contest problems in DeepCoder's layouts (CodeContests, Codeforces) and
PrimeIntellect SYNTHETIC-1 style ``{type: stdin_stdout}`` tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError, TestCase
from acereason.sources.code_common import parse_json_field, stdin_tests
from acereason.sources.common import iter_rows, keep_extra, make_problem, need
from acereason.sources.naming import file_tag
from acereason.sources.registry import register_reader


def _tests_of(first: Any) -> Any:
    if not isinstance(first, dict) or "problem" not in first or "starter_code" in first:
        return None
    try:
        return parse_json_field(first.get("tests"), "", None, "tests")
    except DataError:
        return None


def _pair_list(tests: Any) -> bool:
    return isinstance(tests, list) and bool(tests) and isinstance(tests[0], dict) and "input" in tests[0]


def _read(path: Path, convert, tag: str | None) -> Iterator[Any]:
    tag = tag or file_tag(path)
    for loc, row in iter_rows(path):
        prompt = need(row, "problem", path, loc)
        tests = convert(parse_json_field(need(row, "tests", path, loc, (str, list, dict)), path, loc, "tests"),
                        path, loc)
        if not tests:
            raise DataError(path, loc, "no tests", field="tests")
        meta = keep_extra(row, {"problem", "tests"})
        yield make_problem(path, loc, id=f"{tag}-{loc - 1}", domain="code", prompt=prompt.strip(),
                           source=tag, tests=tests, meta=meta)


def _codecontests(tests: Any, path: Path, loc: int) -> list[TestCase]:
    if not isinstance(tests, dict):
        raise DataError(path, loc, "expected {inputs: [...], outputs: [...]}", field="tests")
    return stdin_tests(tests.get("inputs"), tests.get("outputs"), path, loc)


def _pairs(tests: Any, path: Path, loc: int) -> list[TestCase]:
    if not isinstance(tests, list):
        raise DataError(path, loc, "expected a list of {input, output}", field="tests")
    out = []
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or "input" not in t or "output" not in t:
            raise DataError(path, loc, "each test needs 'input' and 'output'", field=f"tests.{i}")
        kind = t.get("type", "stdin_stdout")
        if kind != "stdin_stdout":
            raise DataError(path, loc, f"unsupported test type {kind!r}", field=f"tests.{i}.type")
        out.append(TestCase(testtype="stdin", input=str(t["input"]), output=str(t["output"])))
    return out


@register_reader("codecontests", "DeepCoder CodeContests JSON: [{problem, tests: {inputs, outputs}}]",
                 detect=lambda p, first: isinstance(_tests_of(first), dict) and "inputs" in _tests_of(first),
                 priority=25)
def read_codecontests(path: Path, tag: str | None = None) -> Iterator[Any]:
    """CodeContests in DeepCoder's layout: parallel ``inputs``/``outputs`` lists of stdin tests."""
    return _read(path, _codecontests, tag)


@register_reader("codeforces", "DeepCoder Codeforces JSON: [{problem, tests: [{input, output}]}]",
                 detect=lambda p, first: _pair_list(_tests_of(first)) and "type" not in _tests_of(first)[0],
                 priority=26)
def read_codeforces(path: Path, tag: str | None = None) -> Iterator[Any]:
    """Codeforces in DeepCoder's layout: a list of ``{input, output}`` stdin tests."""
    return _read(path, _pairs, tag)


@register_reader("primeintellect",
                 "PrimeIntellect SYNTHETIC-1 JSON: [{problem, solutions, tests: [{type: stdin_stdout, ...}]}]",
                 detect=lambda p, first: _pair_list(_tests_of(first)) and "type" in _tests_of(first)[0],
                 priority=27)
def read_primeintellect(path: Path, tag: str | None = None) -> Iterator[Any]:
    """SYNTHETIC-1 style problems; reference ``solutions`` are kept in ``meta``."""
    return _read(path, _pairs, tag)


