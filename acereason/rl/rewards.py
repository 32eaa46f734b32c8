"""Reward functions for the trainer: the verifiers by default, or any ``module:function``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from acereason.schema import Problem, Verdict

RewardFn = Callable[[Sequence[Problem], Sequence[str]], list[Verdict]]


def load_reward_fn(spec: str | None, timeout_s: float, workers: int | None) -> RewardFn:
    """Resolve ``module:function`` (a batch reward returning one Verdict per response) or, when ``spec`` is
    None, the rule-based verifiers with a per-sample time bound."""
    if spec:
        module, _, name = spec.partition(":")
        if not name:
            raise ValueError(f"reward_fn {spec!r} must look like 'package.module:function'")
        fn = getattr(importlib.import_module(module), name, None)
        if not callable(fn):
            raise ValueError(f"reward_fn {spec!r}: {name!r} is not a function in {module}")
        return fn

    def verify_rewards(problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
        from acereason.verify.dispatch import score_batch

        return score_batch(problems, responses, timeout_s=timeout_s, workers=workers)

    return verify_rewards
