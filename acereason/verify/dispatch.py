"""Domain dispatch: one reward for any Problem (math answer check or sandboxed code judge).

The paper's reward is binary: math = the last ``\\boxed{}`` after ``</think>`` matches the gold answer;
code = the last ```python block passes **all** tests in time. ``score_batch`` runs math and code at
the same time (math in its process pool, code in the sandbox pool) under one overall deadline, so a
stuck verifier scores 0 with reason ``timeout`` instead of stalling a training loop.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence

from acereason.schema import Problem, Verdict

NO_GOLD = "no_gold_answer"


def score(problem: Problem, response: str) -> Verdict:
    """Verify one response against its problem; never raises for bad model output."""
    return score_batch([problem], [response])[0]


def reward(problem: Problem, response: str) -> float:
    """1.0 if ``response`` solves ``problem`` (verified), else 0.0."""
    return 1.0 if score(problem, response).correct else 0.0


def _math(problems: Sequence[Problem], responses: Sequence[str], workers: int | None) -> list[Verdict]:
    from acereason.verify.math import verify_batch

    return verify_batch([(r, p.answer or "") for p, r in zip(problems, responses, strict=True)], workers=workers)


def _code(problems: Sequence[Problem], responses: Sequence[str], workers: int | None) -> list[Verdict]:
    from acereason.verify.code import judge_batch

    items = [{"response": r, "tests": p.tests or [], "fn_name": p.fn_name, "time_limit_s": p.time_limit_s,
              "memory_mb": p.memory_mb} for p, r in zip(problems, responses, strict=True)]
    return judge_batch(items, max_workers=workers)


def score_batch(problems: Sequence[Problem], responses: Sequence[str], timeout_s: float = 30.0,
                workers: int | None = None) -> list[Verdict]:
    """Verdicts for ``responses[i]`` against ``problems[i]``, in order.

    ``timeout_s`` bounds each verification; the batch as a whole waits at most
    ``timeout_s * ceil(n / workers)`` (plus slack) before scoring unfinished items ``timeout``. Internal
    errors come back as ``reason="error"``: nothing silently scores 0.
    """
    if len(problems) != len(responses):
        raise ValueError(f"{len(problems)} problems but {len(responses)} responses")
    out: list[Verdict | None] = [None] * len(problems)
    groups: dict[str, list[int]] = {"math": [], "code": []}
    for i, p in enumerate(problems):
        if p.domain == "math" and p.answer is None:
            out[i] = Verdict(correct=False, reason=NO_GOLD, detail="the problem has no gold answer")
        else:
            groups[p.domain].append(i)
    n_workers = workers or os.cpu_count() or 1
    results: dict[str, list[Verdict]] = {}

    def run(domain: str, idx: list[int]) -> None:
        fn = _math if domain == "math" else _code
        try:
            results[domain] = fn([problems[i] for i in idx], [responses[i] for i in idx], workers)
        except Exception as err:  # surface, do not hide: every item of the batch is an error
            results[domain] = [Verdict(correct=False, reason="error", detail=f"{type(err).__name__}: {err}"[:300])
                               for _ in idx]

    threads = []
    for domain, idx in groups.items():
        if idx:
            t = threading.Thread(target=run, args=(domain, idx), daemon=True, name=f"verify-{domain}")
            t.start()
            threads.append((domain, idx, t))
    for domain, idx, t in threads:
        limit = timeout_s * math.ceil(len(idx) / n_workers) + 10.0
        t.join(limit)
        got = results.get(domain)
        for k, i in enumerate(idx):
            out[i] = got[k] if got is not None else Verdict(
                correct=False, reason="timeout", detail=f"{domain} verification exceeded {limit:.0f}s")
    return [v for v in out if v is not None]
