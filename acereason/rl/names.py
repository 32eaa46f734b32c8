"""The algorithm names a recipe spells, defined once (issue 16): the recipe's field types, the GRPO math in
``rl/algos.py`` and the step in ``rl/step.py`` all use these enums, so a name exists in exactly one place.

Each is a ``StrEnum``: a recipe writes the plain string (``advantage: dr_grpo``), pydantic turns it into the
member (an unknown name fails naming the field and listing the allowed ones), and a member compares, formats
and serialises (``model_dump(mode="json")``, the recipe hash, veRL overrides) as that same string. No torch
here: loading a recipe must not import it.
"""

from __future__ import annotations

from enum import StrEnum


class AdvantageEstimator(StrEnum):
    """``train.advantage``."""

    GRPO = "grpo"  # (r - mean) / (std + eps): the paper's choice
    DR_GRPO = "dr_grpo"  # r - mean (Dr. GRPO: no std scaling, avoids up-weighting near-solved groups)


class LossAggregation(StrEnum):
    """``train.loss_aggregation``."""

    TOKEN_MEAN = "token-mean"  # sum over all tokens / total tokens in the batch: the paper's choice
    SEQ_MEAN_TOKEN_MEAN = "seq-mean-token-mean"  # mean over sequences of per-sequence token means (GRPO paper)
    SEQ_MEAN_TOKEN_SUM = "seq-mean-token-sum"  # mean over sequences of per-sequence token sums


class ZeroVarianceGroups(StrEnum):
    """``stages[].zero_variance_groups``: what to do with a group whose rollouts all got the same reward."""

    KEEP = "keep"  # in the loss with advantage 0
    DROP = "drop"  # out of the loss
    RESAMPLE = "resample"  # out of the loss, and more prompts sampled to refill the batch


class PromptOverflow(StrEnum):
    """``stages[].prompt_overflow``: a prompt over ``max_prompt_tokens``."""

    DROP = "drop"
    TRUNCATE_LEFT = "truncate_left"


class SamplerKind(StrEnum):
    """``train.sampler``: the rollout sampler over the live policy."""

    AUTO = "auto"
    HF = "hf"
    STATIC = "static"
