"""Evaluation metrics: avg@k, the unbiased pass@k estimator, standard errors and bootstrap intervals.

Papers report AIME as avg@64 (mean correctness of 64 samples per problem) and code as pass@1 estimated
from k samples; both are means over problems of a per-problem quantity, so uncertainty is taken over
problems (the benchmark is the sample), not over individual generations.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from itertools import combinations


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``c`` correct of ``n`` samples (Chen et al., 2021):
    ``1 - C(n-c, k) / C(n, k)``, in the numerically stable product form ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def pass_at_k_bruteforce(outcomes: Sequence[bool], k: int) -> float:
    """Reference: the fraction of all k-subsets of the samples that contain at least one correct one."""
    subsets = list(combinations(range(len(outcomes)), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


def avg_at_k(per_problem: Sequence[Sequence[bool]]) -> float:
    """Mean over problems of the fraction of that problem's samples that are correct."""
    if not per_problem:
        return float("nan")
    return sum(sum(o) / len(o) for o in per_problem) / len(per_problem)


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of per-problem values (sample std / sqrt(n)); 0 for one problem."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(var / n)


def bootstrap_ci(values: Sequence[float], level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling problems with replacement (seeded)."""
    n = len(values)
    if n == 0:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo = means[int((1 - level) / 2 * (resamples - 1))]
    hi = means[int((1 + level) / 2 * (resamples - 1))]
    return (lo, hi)


def pass_ks(n: int) -> list[int]:
    """The k values reported for ``n`` samples: powers of two up to n, and n itself."""
    ks = [1 << i for i in range(n.bit_length()) if (1 << i) <= n]
    return ks if ks and ks[-1] == n else [*ks, n]


def summarize(per_problem: Sequence[Sequence[bool]], seed: int = 0) -> dict:
    """avg@k, its standard error and 95% bootstrap CI, and pass@k for k in :func:`pass_ks` of the
    smallest per-problem sample count."""
    if not per_problem:
        return {"n_problems": 0, "avg_at_k": float("nan"), "se": float("nan"), "ci95": [float("nan")] * 2,
                "pass_at_k": {}}
    accs = [sum(o) / len(o) for o in per_problem]
    n = min(len(o) for o in per_problem)
    lo, hi = bootstrap_ci(accs, seed=seed)
    return {
        "n_problems": len(per_problem), "k": n, "avg_at_k": sum(accs) / len(accs), "se": standard_error(accs),
        "ci95": [lo, hi],
        "pass_at_k": {str(k): sum(pass_at_k(len(o), sum(o), k) for o in per_problem) / len(per_problem)
                      for k in pass_ks(n)},
    }
