"""Public entry points: :func:`judge` one program, :func:`judge_batch` many, in the sandbox.

A verdict's ``reason`` is one of :data:`STATUSES`: the status of the first failing test (in test
order), ``accepted`` if all pass, ``no_code`` when a response holds no ```python block, and
``sandbox_error`` when the judge itself could not run the program (bad test data, broken worker).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from acereason.schema import DEFAULT_MEMORY_MB, DEFAULT_TIME_LIMIT_S, TestCase, Verdict

from .checker import names_candidate
from .extract import extract_code
from .pool import JudgePool, default_pool
from .session import STATUSES, Checker, Limits

__all__ = ["STATUSES", "judge", "judge_batch", "judge_response"]


def _as_tests(tests: Iterable[TestCase | Mapping[str, Any]]) -> list[TestCase]:
    return [t if isinstance(t, TestCase) else TestCase.model_validate(dict(t)) for t in tests]


def _verdict(status: str, code: str | None, passed: int, total: int, t0: float, detail: str | None) -> Verdict:
    return Verdict(correct=status == "accepted", reason=status, extracted=code, tests_passed=passed,
                   tests_total=total, wall_s=round(time.perf_counter() - t0, 6), detail=detail or None)


def judge(code: str | None, tests: Sequence[TestCase | Mapping[str, Any]], fn_name: str | None = None,
          time_limit_s: float = DEFAULT_TIME_LIMIT_S, memory_mb: int = DEFAULT_MEMORY_MB,
          all_tests: bool = False, checker: Checker | None = None, pool: JudgePool | None = None) -> Verdict:
    """Run ``code`` on ``tests`` in the sandbox and return its :class:`Verdict`.

    ``tests`` are :class:`TestCase` objects or dicts of the same shape. ``time_limit_s`` is the CPU
    budget per test (the wall deadline is about 2.5x that); ``memory_mb`` bounds the address space.
    By default the run stops at the first failing test; ``all_tests=True`` runs every test that can
    still run so that ``tests_passed`` gives partial credit. ``checker(test, expected, got)`` replaces
    the built-in comparison for stdin and functional tests (``got`` is stdout text or the decoded
    return value). ``pool`` defaults to the process-wide pool.
    """
    t0 = time.perf_counter()
    try:
        cases = _as_tests(tests)
    except (ValueError, TypeError) as err:
        return _verdict("sandbox_error", code, 0, len(tests), t0, f"bad tests: {err}")
    total = len(cases)
    if code is None or not code.strip():
        return _verdict("no_code", None, 0, total, t0, None)
    if not cases:
        return _verdict("sandbox_error", code, 0, 0, t0, "no tests to run")
    if any(t.testtype == "functional" for t in cases) and not fn_name:
        return _verdict("sandbox_error", code, 0, total, t0, "functional tests need fn_name")
    if not fn_name and any(t.testtype == "check" and not names_candidate(t.input) for t in cases):
        return _verdict("sandbox_error", code, 0, total, t0, "check tests need fn_name (or a check(...) call)")
    if time_limit_s <= 0 or memory_mb <= 0:
        return _verdict("sandbox_error", code, 0, total, t0, "limits must be positive")
    limits = Limits(time_limit_s=float(time_limit_s), memory_mb=int(memory_mb))
    try:
        result = (pool or default_pool()).run(code, cases, fn_name, limits, all_tests, checker)
    except RuntimeError as err:
        return _verdict("sandbox_error", code, 0, total, t0, str(err)[:400])
    if result.load_status is not None:
        return _verdict(result.load_status, code, 0, total, t0, result.load_detail)
    passed = sum(1 for s in result.statuses.values() if s == "ok")
    first_bad = next((i for i in range(total) if result.statuses.get(i, "missing") != "ok"), None)
    if first_bad is None:
        return _verdict("accepted", code, passed, total, t0, None)
    if not all_tests:  # results that raced past the first failure do not count
        passed = first_bad
    status = result.statuses.get(first_bad, "sandbox_error")
    detail = f"test {first_bad}: {result.details.get(first_bad, status)}"
    return _verdict(status if status in STATUSES else "sandbox_error", code, passed, total, t0, detail)


def judge_response(response: str, tests: Sequence[TestCase | Mapping[str, Any]], **kwargs: Any) -> Verdict:
    """Extract the last ```python block after ``</think>`` from ``response`` and :func:`judge` it."""
    return judge(extract_code(response), tests, **kwargs)


def judge_batch(items: Iterable[Mapping[str, Any]], pool: JudgePool | None = None,
                max_workers: int | None = None) -> list[Verdict]:
    """Judge many submissions concurrently (one per worker); return verdicts in input order.

    Each item is a mapping with ``code`` (or ``response``, from which the code is extracted) and
    ``tests``, optionally ``fn_name``, ``time_limit_s``, ``memory_mb``, ``all_tests``, ``checker``.
    """
    pool = pool or default_pool()
    jobs = list(items)

    def one(item: Mapping[str, Any]) -> Verdict:
        code = item["code"] if "code" in item else extract_code(item.get("response", ""))
        opts = {k: item[k] for k in ("fn_name", "time_limit_s", "memory_mb", "all_tests", "checker")
                if item.get(k) is not None}
        return judge(code, item["tests"], pool=pool, **opts)

    workers = max_workers or pool.size
    if workers <= 1 or len(jobs) <= 1:
        return [one(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="judge") as ex:
        return list(ex.map(one, jobs))

