"""Math verifier at run time: sympy workers killed on timeout, threads, process pools, fork, batches."""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from fractions import Fraction

import pytest

from acereason.verify import math as vm
from acereason.verify import math_sympy
from acereason.verify.math import verify, verify_answer, verify_batch

# Pairs that need every layer, including sympy (sin(10^100) cannot be evaluated numerically).
HARD = [
    ("<think>x</think>\\boxed{\\sin(10^{100})}", "0", False),
    ("\\boxed{(x+1)^2}", "x^2+2x+1", True),
    ("\\boxed{\\frac{\\sqrt{21}}{5}}", "\\sqrt{21}/5", True),
    ("\\boxed{(0,9)\\cup(9,36)}", "(9,36) \\cup (0,9)", True),
    ("\\boxed{5^{5^{5^5}}}", "5^{5^{3125}}", True),
    ("\\boxed{3}", "4", False),
]
NEVER_HANGS_S = 5.0  # the bound is 2 s; generous margin for a loaded test machine
GENEROUS_S = 30.0  # sympy budget where a test checks results, not timing (the machine may be loaded)


def _n(v: int) -> tuple:
    return ("n", Fraction(v), None)


def test_sympy_job_overrunning_its_limit_is_killed_and_the_pool_recovers() -> None:
    tower = ("^", _n(5), ("^", _n(5), ("^", _n(5), _n(5))))  # sympy would try to build 5^(5^3125)
    math_sympy.warm_up(1, wait=True)
    with pytest.raises(math_sympy.SympyTimeout):
        math_sympy.sympy_equal(tower, _n(3), timeout_s=0.3)
    # The killed worker was replaced: the next job is answered.
    assert math_sympy.sympy_equal(("f", "sin", (("^", _n(10), _n(100)),)), _n(0), timeout_s=30) is False


def test_a_worker_still_importing_sympy_is_kept_not_killed() -> None:
    pool = math_sympy.SympyPool(max_workers=1)
    try:
        pool.start(1)  # importing sympy takes far longer than the 10 ms budget below
        starting = pool._all[0].proc.pid
        with pytest.raises(math_sympy.SympyTimeout, match="ready"):
            pool.run(("equal", _n(1), _n(1)), timeout_s=0.01)
        assert pool.run(("equal", _n(2), ("+", (_n(1), _n(1)))), timeout_s=30) is True
        assert [w.proc.pid for w in pool._all] == [starting]
    finally:
        pool.shutdown()


def test_timeout_surfaces_as_a_reason_not_a_silent_zero() -> None:
    # Numeric evaluation cannot decide sin(10^100) == 0, so this goes to sympy with almost no budget.
    t0 = time.monotonic()
    v = verify_answer("\\sin(10^{100})", "0", timeout_s=1e-4)
    assert (v.correct, v.reason) == (False, "timeout")
    assert time.monotonic() - t0 < NEVER_HANGS_S


@pytest.mark.parametrize("answer", [
    "5^{5^{5^{5^{5}}}}", "(10^{100})!", "x^{x^{x^{x^{x^{x}}}}}", "\\sin(\\sin(\\sin(10^{10^{10}})))",
    "(" * 200 + "1" + ")" * 200, "9" * 5000, "+".join(["x"] * 600), "\\frac{1}{0}", "0^{-1}",
    "\\sqrt[1000000]{2}", "2^{2^{2^{2^{2^{2^{2}}}}}} - 2^{2^{2^{2^{2^{2^{2}}}}}}", "\\binom{10^{9}}{5 \\cdot 10^8}",
])
def test_pathological_inputs_return_quickly(answer: str) -> None:
    math_sympy.warm_up(1, wait=True)
    t0 = time.monotonic()
    v = verify(f"\\boxed{{{answer}}}", "3")
    assert time.monotonic() - t0 < NEVER_HANGS_S
    assert v.reason in vm.REASONS
    assert not v.correct


def test_results_are_identical_from_many_threads() -> None:
    pairs = [(r, a) for r, a, _ in HARD] * 6
    expected = [verify(r, a, GENEROUS_S) for r, a in pairs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda p: verify(*p, GENEROUS_S), pairs))
    assert got == expected
    assert [v.correct for v in got[:len(HARD)]] == [c for _, _, c in HARD]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_works_inside_a_process_pool(method: str) -> None:
    math_sympy.warm_up(1, wait=True)  # a forked child inherits a warm pool it must not use
    pairs = [(r, a) for r, a, _ in HARD]
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context(method)) as pool:
        results = list(pool.map(verify, [r for r, _ in pairs] * 2, [a for _, a in pairs] * 2,
                                [GENEROUS_S] * 2 * len(pairs)))
    assert [v.correct for v in results] == [c for _, _, c in HARD] * 2
    assert all(v.reason != "error" for v in results)


def test_verify_batch_inline_and_pooled_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [(r, a) for r, a, _ in HARD] * 5
    inline = verify_batch(pairs, workers=1, timeout_s=GENEROUS_S)
    monkeypatch.setattr(vm, "BATCH_INLINE_BELOW", 4)
    pooled = verify_batch(pairs, workers=2, chunk_size=7, timeout_s=GENEROUS_S)
    assert pooled == inline
    assert [v.correct for v in inline] == [c for _, _, c in HARD] * 5


def test_verify_batch_reports_progress_per_chunk() -> None:
    seen: list[int] = []
    out = verify_batch([("\\boxed{1}", "1")] * 10, workers=1, chunk_size=4, on_progress=seen.append)
    assert seen == [4, 4, 2]
    assert all(v.correct for v in out)


def test_verify_batch_reports_a_crashed_worker_as_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    class ExplodingPool:
        def __init__(self, *_: object, **__: object) -> None:
            pass

        def __enter__(self) -> ExplodingPool:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def submit(self, *_: object) -> object:
            class Fut:
                def result(self) -> list:
                    raise RuntimeError("worker died")
            return Fut()

    monkeypatch.setattr(vm, "BATCH_INLINE_BELOW", 1)
    monkeypatch.setattr(vm, "ProcessPoolExecutor", ExplodingPool)
    out = verify_batch([("\\boxed{1}", "1")] * 3, workers=2)
    assert [(v.correct, v.reason) for v in out] == [(False, "error")] * 3
    assert "worker died" in (out[0].detail or "")
