"""Greedy held-out accuracy for the demo, and the paired statistics used to compare checkpoints."""

from __future__ import annotations

import math
from collections.abc import Sequence

from acereason.generate.base import SamplingParams
from acereason.generate.hf import HFGenerator
from acereason.rl.prompts import build_messages
from acereason.schema import Problem
from acereason.verify import score_batch


def greedy_correct(model, tokenizer, problems: Sequence[Problem], max_tokens: int, math_instruction: str,
                   code_instruction: str, batch_size: int = 128) -> list[bool]:
    """Whether the greedy response to each problem verifies (math answer check or sandboxed tests)."""
    gen = HFGenerator(model, tokenizer, batch_size=batch_size)
    msgs = [build_messages(p, math_instruction, code_instruction) for p in problems]
    outs = gen.generate(msgs, 1, SamplingParams(temperature=0.0, max_tokens=max_tokens))
    verdicts = score_batch(list(problems), [o[0].text for o in outs], timeout_s=10)
    return [v.correct for v in verdicts]


def wilson_ci(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion (good at small n and near 0 or 1)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact(before: Sequence[bool], after: Sequence[bool]) -> tuple[int, int, float]:
    """Exact two-sided McNemar test on paired outcomes: ``(gained, lost, p_value)`` where ``gained`` counts
    problems wrong before and right after. The p-value is a two-sided binomial test on discordant pairs."""
    if len(before) != len(after):
        raise ValueError("paired outcomes must have the same length")
    gained = sum((not b) and a for b, a in zip(before, after, strict=True))
    lost = sum(b and (not a) for b, a in zip(before, after, strict=True))
    n = gained + lost
    if n == 0:
        return gained, lost, 1.0
    k = min(gained, lost)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return gained, lost, min(1.0, 2 * tail)


def mcnemar_exact_ref(before: Sequence[bool], after: Sequence[bool]) -> float:
    """Loop reference: enumerate all 2^n sign assignments of the discordant pairs (small n only)."""
    from itertools import product

    d = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    n = len(d)
    if n == 0:
        return 1.0
    observed = abs(sum(1 for b, a in d if a) - n / 2)
    extreme = sum(1 for signs in product([0, 1], repeat=n) if abs(sum(signs) - n / 2) >= observed - 1e-12)
    return extreme / 2**n
