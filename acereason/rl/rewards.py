"""Reward functions for the trainer: the verifiers by default, or any ``module:function``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from acereason.cli_util import import_target
from acereason.schema import Problem, Verdict

RewardFn = Callable[[Sequence[Problem], Sequence[str]], list[Verdict]]


def load_reward_fn(spec: str | None, timeout_s: float, workers: int | None) -> RewardFn:
    """Resolve ``module:function`` (a batch reward returning one Verdict per response; a bad spec raises
    :class:`~acereason.cli_util.OptionError` naming ``train.reward_fn``) or, when ``spec`` is None, the
    rule-based verifiers with each verification bounded by ``timeout_s``."""
    if spec:
        return import_target("train.reward_fn", spec)

    def verify_rewards(problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
        from acereason.verify.dispatch import score_batch

        return score_batch(problems, responses, timeout_s=timeout_s, workers=workers)

    return verify_rewards
