"""One GRPO step as plain functions over explicit types, called by the trainer (which alone owns the run's
state): rollouts (:func:`collect_rollouts`) -> scores, groups and advantages (:func:`score_groups`) ->
micro-batches and the update (:func:`update_policy`) -> the next temperature (:func:`next_temperature`) and the
step's metrics (:func:`step_metrics`). Nothing here imports the trainer; each piece is tested on its own.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from acereason.generate.base import Completion
from acereason.rl import algos
from acereason.rl.batch import Sample, StepStats, rollout_logprobs, train_step
from acereason.rl.names import ZeroVarianceGroups
from acereason.rl.recipe import StageCfg, TrainCfg
from acereason.rl.seeding import derived_seed
from acereason.schema import Problem, Verdict

_MAX_RESAMPLE_ROUNDS = 2
_ENTROPY_GAIN = 0.5

__all__ = ["Rollouts", "Sampler", "ScoredBatch", "collect_rollouts", "derived_seed", "next_temperature",
           "replay_mix", "score_groups", "step_metrics", "update_policy"]


@dataclass
class Rollouts:
    """``group_size`` completions per problem and their verdicts, grouped per problem, in problem order."""

    problems: list[Problem]
    outs: list[list[Completion]]
    verdicts: list[list[Verdict]]
    t_gen: float = 0.0
    """Seconds spent sampling."""
    t_ver: float = 0.0
    """Seconds spent verifying."""
    truncated_prompts: int = 0
    """Prompts left-truncated to ``max_prompt_tokens`` (``prompt_overflow: truncate_left``)."""
    resampled: int = 0
    """Prompts drawn to refill groups of zero variance (``zero_variance_groups: resample``)."""

    def __add__(self, other: Rollouts) -> Rollouts:
        return Rollouts(self.problems + other.problems, self.outs + other.outs, self.verdicts + other.verdicts,
                        self.t_gen + other.t_gen, self.t_ver + other.t_ver,
                        self.truncated_prompts + other.truncated_prompts, self.resampled + other.resampled)


class Sampler(Protocol):
    """Samples and verifies: ``group_size`` completions per problem (the group size G; the stage-entry filter
    passes its ``samples``) at ``temperature``/``top_p``/``max_tokens``, seeded."""

    def __call__(self, problems: list[Problem], group_size: int, temperature: float, top_p: float, max_tokens: int,
                 seed: int) -> Rollouts: ...


def replay_mix(stage: StageCfg, problems: list[Problem], replay: list[Problem], seed: int) -> list[Problem]:
    """``problems`` plus the stage's share of replay problems (``replay_fraction`` of the mixed batch), drawn
    with ``seed``."""
    if not replay or not stage.replay_fraction:
        return problems
    k = max(1, round(len(problems) * stage.replay_fraction / (1 - stage.replay_fraction)))
    rng = random.Random(seed)
    return problems + rng.sample(replay, min(k, len(replay)))


def collect_rollouts(sample: Sampler, stage: StageCfg, batch: list[Problem], group_size: int, temperature: float,
                     seed_parts: tuple[int, ...], draw: Callable[[int], list[Problem]]) -> Rollouts:
    """Sample ``batch`` (seed ``derived_seed(*seed_parts)``); with ``zero_variance_groups: resample``, up to two
    more rounds of prompts from ``draw(k)``
    (the caller's data order: it returns up to ``k`` next prompts and advances its own position) until
    ``prompts_per_step`` groups have mixed rewards."""
    out = sample(batch, group_size, temperature, stage.top_p, stage.max_response_tokens,
                 seed=derived_seed(*seed_parts))
    if stage.zero_variance_groups != ZeroVarianceGroups.RESAMPLE:
        return out
    for attempt in range(_MAX_RESAMPLE_ROUNDS):
        mixed = sum(len({v.correct for v in g}) > 1 for g in out.verdicts)
        need = stage.prompts_per_step - mixed
        extra = draw(need) if need > 0 else []
        if not extra:
            break
        more = sample(extra, group_size, temperature, stage.top_p, stage.max_response_tokens,
                      seed=derived_seed(*seed_parts, 1 + attempt))
        more.resampled = len(extra)
        out = out + more
    return out


@dataclass
class ScoredBatch:
    """Rewards, group advantages and the training samples of one rollout batch, with its counters."""

    samples: list[Sample]
    rewards: list[float]
    lengths: list[int]
    truncated: int = 0
    zero_variance: int = 0
    mixed: int = 0
    timeouts: int = 0
    errors: int = 0
    passes: list[tuple[str, int, int]] = field(default_factory=list)
    """``(problem id, rollouts correct, rollouts)`` per stage problem (not replay), in batch order: the pass
    history the trainer records."""


def score_groups(rollouts: Rollouts, stage_ids: set[str], stage: StageCfg, advantage: str) -> ScoredBatch:
    """1/0 rewards per rollout, advantages within each group (``advantage``: ``grpo`` | ``dr_grpo``), and one
    :class:`Sample` per rollout whose loss mask drops zero-variance groups (``drop``/``resample``; resample also
    caps the refilled batch at ``prompts_per_step`` mixed groups) and, with ``overlong_filtering``, truncated
    responses."""
    out = ScoredBatch([], [], [])
    kept_groups = 0
    for p, comps, vs in zip(rollouts.problems, rollouts.outs, rollouts.verdicts, strict=True):
        r = [1.0 if v.correct else 0.0 for v in vs]
        degenerate = len(set(r)) == 1
        out.zero_variance += degenerate
        out.mixed += not degenerate
        if p.id in stage_ids:
            out.passes.append((p.id, int(sum(r)), len(r)))
        adv = algos.group_advantages(torch.tensor(r), len(r), advantage).tolist()
        drop_group = degenerate and stage.zero_variance_groups in (ZeroVarianceGroups.DROP, ZeroVarianceGroups.RESAMPLE)
        if stage.zero_variance_groups == ZeroVarianceGroups.RESAMPLE and not degenerate:
            kept_groups += 1
            drop_group = kept_groups > stage.prompts_per_step  # cap the refilled batch at its nominal size
        for c, a, v in zip(comps, adv, vs, strict=True):
            out.rewards.append(1.0 if v.correct else 0.0)
            out.lengths.append(len(c.token_ids))
            is_trunc = c.finish_reason == "length"
            out.truncated += is_trunc
            out.timeouts += v.reason == "timeout"
            out.errors += v.reason in ("error", "sandbox_error")
            mask = not drop_group and not (stage.overlong_filtering and is_trunc)
            out.samples.append(Sample(list(c.prompt_token_ids or []), list(c.token_ids), float(a), mask,
                                      sampler_logprobs=list(c.logprobs) if c.logprobs is not None else None))
    return out


def update_policy(model: torch.nn.Module, optimizer: Any, scheduler: Any, samples: list[Sample], pad_id: int,
                  cfg: TrainCfg, temperature: float, autocast_dtype: torch.dtype | None,
                  ref_model: torch.nn.Module | None) -> tuple[StepStats, StepStats]:
    """``cfg.updates_per_batch`` optimizer steps on ``samples`` (one: strictly on-policy), then one scheduler step;
    returns the last update's stats and the first's (its mismatch metrics compare sampler and trainer)."""
    budget = cfg.max_tokens_per_micro_batch
    old = (rollout_logprobs(model, samples, pad_id, cfg.micro_batch_size, temperature, budget, autocast_dtype)
           if cfg.updates_per_batch > 1 else None)
    stats = first = None
    for _ in range(cfg.updates_per_batch):
        stats = train_step(model, optimizer, samples, pad_id, cfg.micro_batch_size, cfg.loss_aggregation,
                           cfg.clip_eps, cfg.clip_eps_high, cfg.grad_clip, cfg.kl_coef, ref_model, old,
                           temperature=temperature, autocast_dtype=autocast_dtype,
                           max_tokens_per_micro_batch=budget, tis_cap=cfg.tis_cap)
        first = first or stats
    scheduler.step()
    assert stats is not None and first is not None
    return stats, first


def next_temperature(stage: StageCfg, temperature: float, stats: StepStats) -> float | None:
    """AceReason 1.1: with ``entropy_target``, the temperature nudged to hold the temperature-adjusted entropy
    near the target (None: no change)."""
    if stage.entropy_target is None or not stats.tokens:
        return None
    adj = math.exp(_ENTROPY_GAIN * (stage.entropy_target - stats.entropy) / stage.entropy_target)
    return float(min(2.0, max(0.1, temperature * adj)))


def step_metrics(head: dict[str, Any], rollouts: Rollouts, scored: ScoredBatch, stats: StepStats,
                 first: StepStats, lr: float, temperature: float, group_size: int, prompts: dict[str, int],
                 t_train: float, t_start: float) -> dict[str, Any]:
    """One ``metrics.jsonl`` row: ``head`` (step, stage, ...) then the step's rewards, groups, lengths, policy,
    prompt counts (``prompts``: ``active``/``filtered``), verification and timing."""
    gen_tokens = sum(scored.lengths)
    n = max(len(scored.lengths), 1)
    n_groups = max(len(rollouts.problems), 1)
    verdicts: Sequence[list[Verdict]] = rollouts.verdicts
    return {
        **head,
        "reward/mean": sum(scored.rewards) / max(len(scored.rewards), 1),
        "reward/pass_at_group": sum(any(v.correct for v in vs) for vs in verdicts) / n_groups,
        "groups/zero_variance_frac": scored.zero_variance / n_groups, "groups/mixed_frac": scored.mixed / n_groups,
        "groups/resampled_prompts": rollouts.resampled,
        "response/length_mean": gen_tokens / n, "response/length_max": max(scored.lengths, default=0),
        "response/truncation_ratio": scored.truncated / n,
        "policy/entropy": stats.entropy, "policy/grad_norm": stats.grad_norm, "policy/kl": stats.kl,
        "policy/loss": stats.loss, "policy/lr": lr, "policy/temperature": temperature,
        "policy/group_size": group_size, "policy/trained_tokens": stats.tokens,
        "prompts/active": prompts["active"], "prompts/filtered": prompts["filtered"],
        "verify/timeouts": scored.timeouts, "verify/errors": scored.errors,
        "perf/padding_frac": stats.padding_frac, "perf/micro_batches": stats.micro_batches,
        "prompts/truncated": rollouts.truncated_prompts, **first.mismatch,
        "time/generate": rollouts.t_gen, "time/verify": rollouts.t_ver, "time/train": t_train,
        "time/step": time.perf_counter() - t_start, "perf/tokens_per_s": gen_tokens / max(rollouts.t_gen, 1e-9),
    }
