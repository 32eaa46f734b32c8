"""A failed verdict says why: the first failing test's index and a short reason (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from acereason.verify.code import JudgePool, judge


@pytest.fixture(scope="module")
def pool() -> Iterator[JudgePool]:
    with JudgePool(1) as p:
        yield p


TESTS = [{"testtype": "stdin", "input": f"{i}\n", "output": f"{i}\n"} for i in range(4)]

CASES = [
    ("n = int(input())\nprint(n if n < 2 else 7)\n", "wrong_answer",
     "test 2: wrong output: expected '2\\n', got '7\\n'"),
    ("print('x' * 100)\n", "wrong_answer",
     "test 0: wrong output: expected '0\\n', got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."),
    ("n = int(input())\nif n == 1:\n    print(1 // 0)\nprint(n)\n", "runtime_error",
     "test 1: ZeroDivisionError: integer division or modulo by zero (line 3)"),
    ("x = [0] * 10 ** 9\n", "memory_limit", "test 0: MemoryError under the 256 MiB memory limit (line 1)"),
    ("import os, signal\nif int(input()) == 3:\n    os.kill(os.getpid(), signal.SIGSEGV)\nprint(3 - 0)\n",
     "wrong_answer", "test 0: wrong output: expected '0\\n', got '3\\n'"),
    ("import os, signal\nn = int(input())\nif n == 3:\n    os.kill(os.getpid(), signal.SIGSEGV)\nprint(n)\n",
     "runtime_error", "test 3: killed by SIGSEGV"),
    ("import sys\nn = int(input())\nprint(n)\nsys.exit(n)\n", "runtime_error", "test 1: exit status 1"),
    ("def broken(:\n", "compile_error", "SyntaxError"),
]


@pytest.mark.parametrize(("code", "status", "detail"), CASES)
def test_failed_verdict_names_the_first_failing_test_and_why(pool: JudgePool, code: str, status: str,
                                                               detail: str) -> None:
    v = judge(code, TESTS, pool=pool, memory_mb=256)
    assert v.reason == status, v
    assert v.detail is not None and v.detail.startswith(detail), v.detail


def test_functional_detail_and_accepted_has_none(pool: JudgePool) -> None:
    tests = [{"testtype": "functional", "input": str(i), "output": f"[{i}]"} for i in range(3)]
    v = judge("def f(x):\n    return [x] if x < 1 else [x, 'a']\n", tests, fn_name="f", pool=pool)
    assert v.reason == "wrong_answer"
    assert v.detail == "test 1: wrong return value: expected [1], got [1, 'a']"
    assert judge("def f(x):\n    return [x]\n", tests, fn_name="f", pool=pool).detail is None


def test_functional_tests_without_fn_name_are_a_sandbox_error_with_detail(pool: JudgePool) -> None:
    v = judge("def f(x):\n    return x\n", [{"testtype": "functional", "input": "1", "output": "1"}], pool=pool)
    assert v.reason == "sandbox_error" and "fn_name" in (v.detail or "")
