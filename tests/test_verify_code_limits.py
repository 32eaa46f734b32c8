"""Time limits are enforced at the limit and reported as ``time_limit`` (issue 14).

A looping program used to run ~2x its limit and come back ``runtime_error`` (killed by SIGKILL): it was
PID 1 of its PID namespace, whose default-action signals - SIGXCPU included - the kernel drops. Each test
now runs in a process that is not the namespace's init, under a CPU timer at the limit. The wall-clock
bounds below are the spec's correctness bound (a loop under a limit of L CPU seconds is stopped once it
has used L), with room for a machine whose cores are shared (a CPU second can take longer than a wall
second); the CPU the program had used when it was stopped is checked exactly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from acereason.verify.code import JudgePool, judge

LOOP = "while True:\n    pass\n"


@pytest.fixture(scope="module")
def pool() -> Iterator[JudgePool]:
    with JudgePool(1) as p:
        yield p


def stdin_tests(n: int) -> list[dict]:
    return [{"testtype": "stdin", "input": f"{i}\n", "output": f"{i}\n"} for i in range(n)]


def stopped_at(detail: str | None, limit: float) -> float:
    m = re.search(rf"CPU time limit {limit:g} s \(stopped at ([0-9.]+) s\)", detail or "")
    assert m, detail
    return float(m.group(1))


def wall_bound(limit: float) -> float:
    """Generous, for a machine whose cores are shared by other jobs: the L CPU seconds may take 2-3x
    longer in wall time. What tells the fix from the defect is the CPU check and the detail (the old
    judge never reported a CPU-time stop: its verdict said SIGKILL or wall clock, at ~2x the limit)."""
    return 3 * limit + 2


@pytest.mark.parametrize("ntests", [1, 5])
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_infinite_loop_is_time_limit_at_the_limit(pool: JudgePool, limit: int, ntests: int) -> None:
    t0 = time.monotonic()
    v = judge(LOOP, stdin_tests(ntests), time_limit_s=limit, pool=pool)
    took = time.monotonic() - t0
    assert v.reason == "time_limit", v
    assert v.detail and v.detail.startswith("test 0: "), v.detail
    # The CPU timer counts the kernel's exact runtime; the rusage reported can read a little lower on a
    # virtual machine under load, never higher.
    assert stopped_at(v.detail, limit) <= limit + 0.25
    assert took < wall_bound(limit), f"{took:.2f} s for a limit of {limit} s"
    assert (v.tests_passed, v.tests_total) == (0, ntests)


@pytest.mark.parametrize("limit", [1, 2])
def test_loop_in_the_last_of_five_tests(pool: JudgePool, limit: int) -> None:
    code = "n = int(input())\nwhile n == 4:\n    pass\nprint(n)\n"
    t0 = time.monotonic()
    v = judge(code, stdin_tests(5), time_limit_s=limit, pool=pool)
    took = time.monotonic() - t0
    assert v.reason == "time_limit" and v.tests_passed == 4, v
    assert v.detail and v.detail.startswith("test 4: ")
    stopped_at(v.detail, limit)
    assert took < wall_bound(limit)


def test_every_looping_test_is_stopped_at_its_own_limit_with_all_tests(pool: JudgePool) -> None:
    t0 = time.monotonic()
    v = judge(LOOP, stdin_tests(5), time_limit_s=1, pool=pool, all_tests=True)
    took = time.monotonic() - t0
    assert v.reason == "time_limit" and v.tests_passed == 0, v
    assert took < 5 * wall_bound(1)


def test_fractional_limit_is_not_rounded_up(pool: JudgePool) -> None:
    v = judge(LOOP, stdin_tests(3), time_limit_s=0.5, pool=pool)
    assert v.reason == "time_limit"
    assert stopped_at(v.detail, 0.5) <= 0.75


def test_loop_in_a_functional_call(pool: JudgePool) -> None:
    tests = [{"testtype": "functional", "input": str(i), "output": str(i)} for i in range(3)]
    t0 = time.monotonic()
    v = judge("def f(x):\n    while True:\n        pass\n", tests, fn_name="f", time_limit_s=1, pool=pool)
    assert v.reason == "time_limit", v
    stopped_at(v.detail, 1)
    assert time.monotonic() - t0 < wall_bound(1)


def test_loop_while_loading_a_call_based_program(pool: JudgePool) -> None:
    tests = [{"testtype": "functional", "input": str(i), "output": str(i)} for i in range(3)]
    t0 = time.monotonic()
    v = judge("def f(x):\n    return x\nwhile True:\n    pass\n", tests, fn_name="f", time_limit_s=1, pool=pool)
    assert v.reason == "time_limit", v
    assert "CPU time limit 1 s" in (v.detail or "")
    assert time.monotonic() - t0 < wall_bound(1)


def test_loop_in_a_check_candidate(pool: JudgePool) -> None:
    checks = [{"testtype": "check", "input": "def check(candidate):\n    assert candidate() == 1\n"}] * 2
    t0 = time.monotonic()
    v = judge("def f():\n    while True:\n        pass\n", checks, fn_name="f", time_limit_s=1, pool=pool)
    assert v.reason == "time_limit", v
    assert "CPU time limit 1 s" in (v.detail or "")
    assert time.monotonic() - t0 < wall_bound(1)


def test_ignoring_the_cpu_signals_does_not_escape_the_limit(pool: JudgePool) -> None:
    code = ("import signal\nfor s in (signal.SIGPROF, signal.SIGXCPU):\n    signal.signal(s, signal.SIG_IGN)\n"
            + LOOP)
    v = judge(code, stdin_tests(3), time_limit_s=1, pool=pool)
    assert v.reason == "time_limit", v  # RLIMIT_CPU's hard limit (SIGKILL) a few seconds later


def test_cpu_just_under_the_limit_passes_and_sleeping_is_not_cpu(pool: JudgePool) -> None:
    code = "import time\nn = int(input())\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n" \
           "    pass\ntime.sleep(0.3)\nprint(n)\n"
    v = judge(code, stdin_tests(3), time_limit_s=1, pool=pool)
    assert v.correct, v


def test_sleeping_forever_is_time_limit_by_the_wall_clock(pool: JudgePool) -> None:
    v = judge("import time\ntime.sleep(3600)\n", stdin_tests(3), time_limit_s=0.2, pool=pool)
    assert v.reason == "time_limit" and "wall clock" in (v.detail or ""), v
