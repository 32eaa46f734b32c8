"""LeetCode-style readers (call-based problems judged by ``check(candidate)`` test code).

* ``leetcode_check``: DeepCoder/LeetCodeDataset JSON ``{problem, solutions, tests: {functional: src}}``
  whose test source ends with ``check(Solution().name)``; the call is removed (the judge makes it) and
  ``name`` becomes ``fn_name``.
* ``prime_leetcode``: PRIME's contest JSONL whose ``test`` is top-level asserts on
  ``my_solution.name(**test_input)``; rewritten into ``def check(candidate)`` calling ``candidate(...)``.
* ``leetcodedataset``: LeetCodeDataset (gzip) JSONL with ``entry_point``, ``test`` and an import/helper
  ``prompt`` prelude, which is kept in ``meta.prelude`` because tests use its ``ListNode``/``TreeNode``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError, TestCase
from acereason.sources.code_common import fn_name_from_starter, parse_json_field, split_check_call
from acereason.sources.common import iter_rows, keep_extra, make_problem, need
from acereason.sources.naming import file_tag
from acereason.sources.registry import register_reader

_INSTRUCTION_PREFIX = "Please solve the programming task below using a self-contained code snippet in a " \
                      "markdown code block."
_STARTER_SUFFIX = re.compile(r"\n[^\n]*\n```python\n(?P<code>.*?)```\s*$", re.DOTALL)


def _split_prompt(text: str) -> tuple[str, str | None, str | None]:
    """(statement, starter_code, instruction) from a prompt that embeds an instruction and starter code."""
    instruction = None
    if text.startswith(_INSTRUCTION_PREFIX):
        instruction = _INSTRUCTION_PREFIX
        text = text[len(_INSTRUCTION_PREFIX):]
    starter = None
    m = _STARTER_SUFFIX.search(text)
    if m:
        starter = m.group("code")
        text = text[: m.start()]
    return text.strip(), starter, instruction


def _check_detect(first: Any) -> bool:
    if not isinstance(first, dict) or "problem" not in first:
        return False
    try:
        tests = parse_json_field(first.get("tests"), "", None, "tests")
    except DataError:
        return False
    return isinstance(tests, dict) and "functional" in tests


@register_reader("leetcode_check",
                 "DeepCoder LeetCode JSON: [{problem, solutions, tests: {functional: 'def check(candidate)..'}}]",
                 detect=lambda p, first: _check_detect(first), priority=22)
def read_leetcode_check(path: Path, tag: str | None = None) -> Iterator[Any]:
    """LeetCodeDataset problems in DeepCoder's layout; the reference solution is kept in meta."""
    tag = tag or file_tag(path)
    for loc, row in iter_rows(path):
        text = need(row, "problem", path, loc)
        tests = parse_json_field(need(row, "tests", path, loc, (str, dict)), path, loc, "tests")
        src = tests.get("functional") if isinstance(tests, dict) else None
        if not isinstance(src, str) or "def check(" not in src:
            raise DataError(path, loc, "expected 'def check(candidate)' source", field="tests.functional")
        src, name = split_check_call(src)
        prompt, starter, instruction = _split_prompt(text)
        fn_name = name or fn_name_from_starter(starter)
        meta = keep_extra(row, {"problem", "tests"})
        if instruction:
            meta["instruction"] = instruction
        yield make_problem(path, loc, id=f"{tag}-{loc - 1}", domain="code", prompt=prompt, source=tag,
                           tests=[TestCase(testtype="check", input=src)], fn_name=fn_name,
                           starter_code=starter, meta=meta)


_MY_SOLUTION_CALL = re.compile(r"\bmy_solution\.([A-Za-z_]\w*)\s*\(")


def assert_script_to_check(test: str) -> tuple[str, str | None]:
    """Rewrite PRIME/DeepSeek-Coder style asserts on ``my_solution.f(**x)`` into ``def check(candidate)``.

    Returns ``(check_source, fn_name)``; the ``my_solution = Solution()`` line is dropped because the
    judge builds the candidate.
    """
    names = set(_MY_SOLUTION_CALL.findall(test))
    body = [line for line in test.splitlines() if not re.match(r"^\s*my_solution\s*=\s*Solution\(\)\s*$", line)]
    code = _MY_SOLUTION_CALL.sub("candidate(", "\n".join(body)).strip("\n")
    indented = "\n".join(("    " + line) if line.strip() else "" for line in code.splitlines())
    return "def check(candidate):\n" + (indented or "    pass") + "\n", (min(names) if len(names) == 1 else None)


@register_reader("prime_leetcode",
                 "PRIME / DeepSeek-Coder LeetCode contest JSONL: {task_id, prompt, test: asserts on my_solution}",
                 detect=lambda p, first: isinstance(first, dict) and "task_id" in first
                 and isinstance(first.get("test"), str) and "my_solution" in first["test"], priority=15)
def read_prime_leetcode(path: Path, tag: str | None = None) -> Iterator[Any]:
    """LeetCode weekly/biweekly contest problems (2023-07..2024-01) with assert-style tests."""
    tag = tag or file_tag(path)
    for loc, row in iter_rows(path):
        test = need(row, "test", path, loc)
        src, name = assert_script_to_check(test)
        text = row.get("prompt_sft") or need(row, "prompt", path, loc)
        prompt, starter, _ = _split_prompt(text)
        if starter is None:  # `prompt` form: a docstring with the statement, then the starter code
            m = re.match(r'\s*"""(?P<doc>.*?)"""\s*(?P<code>.*)$', row.get("prompt", ""), re.DOTALL)
            if m:
                prompt, starter = m.group("doc").strip(), m.group("code")
        prompt = re.sub(r"\n+Please complete the code below to solve above prblem:\s*$", "", prompt).strip()
        fn_name = name or fn_name_from_starter(starter)
        if not fn_name:
            raise DataError(path, loc, "cannot tell which method the tests call", field="test")
        yield make_problem(path, loc, id=f"{tag}-{row.get('task_id') or loc - 1}", domain="code", prompt=prompt,
                           source=tag, tests=[TestCase(testtype="check", input=src)], fn_name=fn_name,
                           starter_code=starter, meta=keep_extra(row, {"test", "prompt", "prompt_sft"}))


@register_reader("leetcodedataset",
                 "LeetCodeDataset JSONL(.gz): {task_id, problem_description, starter_code, entry_point, test, "
                 "prompt (prelude), input_output, estimated_date}",
                 detect=lambda p, first: isinstance(first, dict) and "entry_point" in first
                 and "problem_description" in first, priority=16)
def read_leetcodedataset(path: Path, tag: str | None = None) -> Iterator[Any]:
    """LeetCodeDataset v0.3: ``check(candidate)`` tests, the reference ``completion`` and date in meta.
    Ids are the source's own; ``tag`` is not used."""
    for loc, row in iter_rows(path):
        test = need(row, "test", path, loc)
        entry = need(row, "entry_point", path, loc)
        src, _ = split_check_call(test)
        fn_name = entry.rsplit(".", 1)[-1]
        meta = keep_extra(row, {"problem_description", "starter_code", "test", "prompt", "query", "response",
                                "entry_point"})
        meta["prelude"] = row.get("prompt") or ""
        meta["entry_point"] = entry
        yield make_problem(path, loc, id=f"leetcodedataset-{row.get('task_id') or loc - 1}", domain="code",
                           prompt=need(row, "problem_description", path, loc).strip(), source="leetcodedataset",
                           tests=[TestCase(testtype="check", input=src)], fn_name=fn_name,
                           starter_code=row.get("starter_code") or None, meta=meta)
