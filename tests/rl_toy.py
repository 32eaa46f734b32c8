"""Toy rewards for trainer tests (importable as ``tests.rl_toy:...`` from a recipe)."""

from __future__ import annotations

from collections.abc import Sequence

from acereason.schema import Problem, Verdict


def starts_with_digit(problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
    """1 when the response starts with a digit: about 10% of a random char model's samples at first,
    so groups are mixed and GRPO has signal from step one."""
    return [Verdict(correct=bool(r) and r[0].isdigit(), reason="toy", extracted=r[:1]) for r in responses]


def always_right(problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
    """Every response is correct (a reward that differs from :func:`starts_with_digit`)."""
    return [Verdict(correct=True, reason="toy") for _ in responses]
