"""A whole batch of veRL samples judged at once, under one deadline, with a verdict breakdown.

Torch-free and veRL-free (the reward manager in :mod:`acereason.integrations.verl_reward_manager` is the
veRL side): rows are veRL's ``(data_source, response, ground_truth, extra_info)``, the problems are rebuilt by
:func:`acereason.integrations.verl.problem_from_verl` and verified by :func:`acereason.verify.score_batch`,
the pooled verifiers the native trainer uses (code in the sandbox pool, math on threads with sympy workers):
every verification is bounded by ``timeout_s`` from its start, the batch by :func:`batch_deadline`, and a
verification still running at its bound scores ``timeout`` (the judge's own per-test deadlines kill the
program and reap its process tree).

Every result is :func:`acereason.integrations.verl.reward_dict` plus one 0/1 number per verdict class
(:data:`VERDICT_KEYS`, as ``verdict/<class>``), so veRL's ``reward_extra_info`` holds the same keys for every
sample and the class fractions are plain means.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from acereason.integrations.verl import problem_from_verl, reward_dict
from acereason.schema import Problem, Verdict

__all__ = ["VERDICT_KEYS", "Row", "batch_deadline", "score_rows", "verdict_class", "verdict_counts"]

VERDICT_KEYS = ("accepted", "wrong", "time_limit", "runtime_error", "no_code", "timeout", "verifier_error")
"""Verdict classes: ``accepted`` (correct), ``wrong`` (wrong answer / mismatch), ``time_limit`` (a test ran
past its CPU limit), ``runtime_error`` (raised, crashed, out of memory, did not compile), ``no_code`` (no
```python block / no final answer), ``timeout`` (the verification ran past ``timeout_s`` or the batch
deadline), ``verifier_error`` (the verifier or the row is broken: not the model's fault)."""

_CLASS = {"time_limit": "time_limit", "runtime_error": "runtime_error", "memory_limit": "runtime_error",
          "compile_error": "runtime_error", "no_code": "no_code", "no_answer": "no_code", "timeout": "timeout",
          "error": "verifier_error", "sandbox_error": "verifier_error", "bad_row": "verifier_error",
          "no_gold_answer": "verifier_error"}
BATCH_SLACK_S = 10.0
"""Added to the batch deadline for thread and sandbox start-up (as :mod:`acereason.verify.dispatch`)."""


@dataclass(frozen=True)
class Row:
    """One veRL sample: the row's fields and the decoded response."""

    data_source: str
    response: str
    ground_truth: Any
    extra_info: dict[str, Any] | None = None


def verdict_class(verdict: Verdict) -> str:
    """The class in :data:`VERDICT_KEYS` a verdict falls in."""
    if verdict.correct:
        return "accepted"
    return _CLASS.get(verdict.reason, "wrong")


def verdict_counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many verdicts fall in each class (every key of :data:`VERDICT_KEYS`, zeros included)."""
    out = dict.fromkeys(VERDICT_KEYS, 0)
    for v in verdicts:
        out[verdict_class(v)] += 1
    return out


def _workers(workers: int | None) -> int:
    return max(1, workers or os.cpu_count() or 1)


def batch_deadline(n: int, timeout_s: float, workers: int | None = None) -> float:
    """Seconds a batch of ``n`` verifications may take at most: ``timeout_s`` per wave of ``workers``
    plus start-up slack (the bound :func:`acereason.verify.score_batch` enforces)."""
    return timeout_s * math.ceil(max(n, 1) / _workers(workers)) + BATCH_SLACK_S


def result_dict(verdict: Verdict) -> dict[str, float]:
    """A verdict as the reward manager returns it: the reward dict plus ``verdict/<class>`` one-hots."""
    out = reward_dict(verdict)
    cls = verdict_class(verdict)
    out.update({f"verdict/{k}": float(k == cls) for k in VERDICT_KEYS})
    return out


def score_rows(rows: Sequence[Row], timeout_s: float = 30.0, workers: int | None = None) -> list[Verdict]:
    """The :class:`Verdict` of every row, in order, within :func:`batch_deadline` of the call.

    A row that does not describe a verifiable problem scores 0 with reason ``bad_row``. ``workers`` bounds
    the concurrent math verifications (default: one per core); code runs on the sandbox pool's workers.
    """
    verdicts: list[Verdict | None] = [None] * len(rows)
    problems: list[Problem] = []
    where: list[int] = []
    for i, r in enumerate(rows):
        try:
            problems.append(problem_from_verl(r.data_source, r.ground_truth, r.extra_info))
            where.append(i)
        except ValueError as err:
            verdicts[i] = Verdict(correct=False, reason="bad_row", detail=str(err)[:300])
    if problems:
        from acereason.verify import score_batch

        got = score_batch(problems, [rows[i].response for i in where], timeout_s=timeout_s,
                          workers=_workers(workers))
        for i, v in zip(where, got, strict=True):
            verdicts[i] = v
    return [v for v in verdicts if v is not None]
