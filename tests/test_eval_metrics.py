"""pass@k against brute-force enumeration; avg@k and intervals against hand computations."""

from __future__ import annotations

import random
from math import comb

import pytest

from acereason.eval import metrics


@pytest.mark.parametrize("seed", range(30))
def test_pass_at_k_matches_bruteforce(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 10)
    outcomes = [rng.random() < rng.random() for _ in range(n)]
    for k in range(1, n + 1):
        fast = metrics.pass_at_k(n, sum(outcomes), k)
        assert fast == pytest.approx(metrics.pass_at_k_bruteforce(outcomes, k), abs=1e-12)
        assert fast == pytest.approx(1 - comb(n - sum(outcomes), k) / comb(n, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    # comb(1000, 500) overflows float; the product form does not
    assert metrics.pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    assert 0.0 < metrics.pass_at_k(1000, 3, 500) < 1.0
    with pytest.raises(ValueError):
        metrics.pass_at_k(4, 5, 1)


def test_avg_at_k_by_hand() -> None:
    per = [[True, False, False, False], [True, True, True, True], [False] * 4]
    assert metrics.avg_at_k(per) == pytest.approx((0.25 + 1 + 0) / 3)
    s = metrics.summarize(per)
    assert s["avg_at_k"] == pytest.approx(0.41666666, abs=1e-6) and s["k"] == 4
    # pass@1 equals avg@k; pass@4 = fraction of problems solved at least once
    assert s["pass_at_k"]["1"] == pytest.approx(s["avg_at_k"]) and s["pass_at_k"]["4"] == pytest.approx(2 / 3)
    # se of [0.25, 1, 0]: sample std 0.5204 / sqrt(3)
    assert s["se"] == pytest.approx(0.30046, abs=1e-4)
    lo, hi = s["ci95"]
    assert 0.0 <= lo <= s["avg_at_k"] <= hi <= 1.0


def test_bootstrap_is_seeded_and_sane() -> None:
    vals = [random.Random(1).random() for _ in range(50)]
    assert metrics.bootstrap_ci(vals, seed=3) == metrics.bootstrap_ci(vals, seed=3)
    const = metrics.bootstrap_ci([0.5] * 20)
    assert const == (0.5, 0.5)


def test_pass_ks() -> None:
    assert metrics.pass_ks(8) == [1, 2, 4, 8]
    assert metrics.pass_ks(6) == [1, 2, 4, 6]
    assert metrics.pass_ks(1) == [1]
