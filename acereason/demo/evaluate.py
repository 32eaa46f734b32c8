"""Held-out accuracy (greedy or k seeded samples) for the demo, and the paired statistics that compare
checkpoints."""

from __future__ import annotations

from collections.abc import Sequence

from acereason.generate.base import SamplingParams
from acereason.generate.hf import HFGenerator
from acereason.rl.prompts import build_messages
from acereason.schema import Problem
from acereason.verify import score_batch


def greedy_correct(model, tokenizer, problems: Sequence[Problem], max_tokens: int, math_instruction: str,
                   code_instruction: str, batch_size: int = 128) -> list[bool]:
    """Whether the greedy response to each problem verifies (math answer check or sandboxed tests)."""
    return [o[0] for o in sampled_correct(model, tokenizer, problems, max_tokens, math_instruction,
                                          code_instruction, k=1, temperature=0.0, batch_size=batch_size)]


def sampled_correct(model, tokenizer, problems: Sequence[Problem], max_tokens: int, math_instruction: str,
                    code_instruction: str, k: int, temperature: float, seed: int = 0,
                    batch_size: int = 256) -> list[list[bool]]:
    """``k`` seeded samples per problem (temperature 0 = greedy); whether each verifies."""
    gen = HFGenerator(model, tokenizer, batch_size=batch_size)
    msgs = [build_messages(p, math_instruction, code_instruction) for p in problems]
    outs = gen.generate(msgs, k, SamplingParams(temperature=temperature, top_p=1.0 if temperature == 0 else 0.95,
                                                max_tokens=max_tokens, seed=seed))
    flat_p = [p for p, group in zip(problems, outs, strict=True) for _ in group]
    verdicts = score_batch(flat_p, [c.text for group in outs for c in group], timeout_s=10)
    return [[v.correct for v in verdicts[i * k: (i + 1) * k]] for i in range(len(problems))]


def paired_permutation_test(before: Sequence[float], after: Sequence[float], resamples: int = 20000,
                            seed: int = 0) -> float:
    """Two-sided paired sign-flip permutation test on per-problem scores: the p-value of the mean
    difference under random swaps of each pair (Monte Carlo, seeded; exact enough at 20k resamples)."""
    import random

    d = [a - b for b, a in zip(before, after, strict=True) if a != b]
    if not d:
        return 1.0
    observed = abs(sum(d))
    rng = random.Random(seed)
    hits = sum(abs(sum(x if rng.random() < 0.5 else -x for x in d)) >= observed - 1e-12 for _ in range(resamples))
    return (hits + 1) / (resamples + 1)


def paired_permutation_test_ref(before: Sequence[float], after: Sequence[float]) -> float:
    """Exact reference: enumerate all 2^n sign flips of the non-zero differences (small n only)."""
    from itertools import product

    d = [a - b for b, a in zip(before, after, strict=True) if a != b]
    if not d:
        return 1.0
    observed = abs(sum(d))
    flips = list(product([1, -1], repeat=len(d)))
    return sum(abs(sum(s * x for s, x in zip(f, d, strict=True))) >= observed - 1e-12 for f in flips) / len(flips)
