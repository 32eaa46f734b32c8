"""Domain dispatch: one reward for any Problem (math answer check or sandboxed code judge).

The paper's reward is binary: math = the last ``\\boxed{}`` after ``</think>`` matches the gold answer;
code = the last ```python block passes **all** tests in time. ``score_batch`` verifies every response as
its own job (math on threads whose sympy layer runs in worker processes, code in the sandbox pool), each
bounded by ``timeout_s`` from the moment it starts, under one overall batch deadline as a backstop: a stuck
verification scores 0 with reason ``timeout`` instead of stalling a training loop, and every verdict
reached in time is kept.
"""

from __future__ import annotations

import math
import os
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from acereason.schema import Problem, Verdict

NO_GOLD = "no_gold_answer"
_POLL_S = 0.25  # longest wait between deadline checks (an item's start is only seen once it starts)
BATCH_SLACK_S = 10.0  # added to the batch deadline: thread and sandbox start-up are not the items' fault


def score(problem: Problem, response: str) -> Verdict:
    """Verify one response against its problem; never raises for bad model output."""
    return score_batch([problem], [response])[0]


def reward(problem: Problem, response: str) -> float:
    """1.0 if ``response`` solves ``problem`` (verified), else 0.0."""
    return 1.0 if score(problem, response).correct else 0.0


def _math_job(problem: Problem, response: str, timeout_s: float) -> Callable[[], Verdict]:
    from acereason.verify.math import SYMPY_TIMEOUT_S, verify

    # The verifier's own bound: only its sympy layer can take long, so cap that layer's budget too.
    budget = min(SYMPY_TIMEOUT_S, timeout_s)
    return lambda: verify(response, problem.answer or "", budget)


def _code_job(problem: Problem, response: str, timeout_s: float, pool: object) -> Callable[[], Verdict]:
    from acereason.schema import DEFAULT_TIME_LIMIT_S
    from acereason.verify.code import judge_response

    # No single test may have more CPU time than the whole verification's wall bound.
    limit = min(problem.time_limit_s or DEFAULT_TIME_LIMIT_S, timeout_s)
    opts = {"fn_name": problem.fn_name, "memory_mb": problem.memory_mb, "time_limit_s": limit}
    return lambda: judge_response(response, problem.tests or [], pool=pool,
                                  **{k: v for k, v in opts.items() if v is not None})


def _timeout(detail: str) -> Verdict:
    return Verdict(correct=False, reason="timeout", detail=detail)


def score_batch(problems: Sequence[Problem], responses: Sequence[str], timeout_s: float = 30.0,
                workers: int | None = None) -> list[Verdict]:
    """Verdicts for ``responses[i]`` against ``problems[i]``, in order.

    Each verification gets at most ``timeout_s`` of wall time from its start (the math verifier's sympy
    budget and the judge's per-test limit are capped by it too); one past it scores ``timeout``. The batch
    waits at most ``timeout_s * ceil(n / workers)`` (plus slack) overall; then only the items still
    unfinished score ``timeout``. Internal errors come back as ``reason="error"``: nothing silently scores 0.
    A timed-out job's thread is abandoned, not killed: the judge's own per-test deadlines end its program.
    """
    if len(problems) != len(responses):
        raise ValueError(f"{len(problems)} problems but {len(responses)} responses")
    out: list[Verdict | None] = [None] * len(problems)
    by_domain: dict[str, list[int]] = {"math": [], "code": []}
    for i, p in enumerate(problems):
        if p.domain == "math" and p.answer is None:
            out[i] = Verdict(correct=False, reason=NO_GOLD, detail="the problem has no gold answer")
        else:
            by_domain[p.domain].append(i)
    n_workers = workers or os.cpu_count() or 1
    done: queue.SimpleQueue[tuple[int, Verdict]] = queue.SimpleQueue()
    running: dict[int, float] = {}  # item -> monotonic start time, while its job runs

    def run(i: int, job: Callable[[], Verdict]) -> None:
        running[i] = time.monotonic()
        try:
            verdict = job()
        except Exception as err:  # surface, do not hide: the item is an error, not a 0
            verdict = Verdict(correct=False, reason="error", detail=f"{type(err).__name__}: {err}"[:300])
        running.pop(i, None)
        done.put((i, verdict))

    executors = []
    for domain in ("code", "math"):  # code first: the math warm-up below must not delay the sandbox
        idx = by_domain[domain]
        if not idx:
            continue
        if domain == "code":
            from acereason.verify.code import default_pool

            pool = default_pool()
            size = workers or pool.size
            jobs = [_code_job(problems[i], responses[i], timeout_s, pool) for i in idx]
        else:
            from acereason.verify.math_sympy import warm_up

            # A cold sympy worker would spend the first hard items' budgets importing sympy (~1 s, once).
            warm_up(1, wait=True)
            size = n_workers
            jobs = [_math_job(problems[i], responses[i], timeout_s) for i in idx]
        ex = ThreadPoolExecutor(max_workers=max(1, min(size, len(idx))), thread_name_prefix=f"verify-{domain}")
        executors.append(ex)
        for i, job in zip(idx, jobs, strict=True):
            ex.submit(run, i, job)

    pending = set(by_domain["math"]) | set(by_domain["code"])
    longest = max(len(by_domain["math"]), len(by_domain["code"]))
    batch_limit = timeout_s * math.ceil(longest / n_workers) + BATCH_SLACK_S
    batch_end = time.monotonic() + batch_limit
    try:
        while pending:
            now = time.monotonic()
            if now >= batch_end:
                break
            for i, start in list(running.items()):
                if i in pending and now - start >= timeout_s:
                    out[i] = _timeout(f"verification exceeded {timeout_s:g}s")
                    pending.discard(i)
            wake = min([batch_end, now + _POLL_S, *(s + timeout_s for s in list(running.values()))])
            try:
                i, verdict = done.get(timeout=max(0.0, wake - now))
            except queue.Empty:
                continue
            while True:
                if i in pending:
                    out[i] = verdict
                    pending.discard(i)
                try:
                    i, verdict = done.get_nowait()
                except queue.Empty:
                    break
    finally:
        for ex in executors:
            ex.shutdown(wait=False, cancel_futures=True)
    for i in pending:  # never started, or still running when the batch deadline passed
        out[i] = _timeout(f"batch verification exceeded {batch_limit:.0f}s before this item finished")
    return [v for v in out if v is not None]
