"""One GRPO step: rollouts for a batch of prompts, rewards, group filtering, advantages, one update."""

from __future__ import annotations

import math
import random
import time
from typing import TYPE_CHECKING, Any

import torch

from acereason.rl import algos
from acereason.rl.batch import Sample, rollout_logprobs, train_step
from acereason.rl.recipe import StageCfg
from acereason.schema import Problem

if TYPE_CHECKING:
    from acereason.rl.trainer import Trainer

_MAX_RESAMPLE_ROUNDS = 2
_ENTROPY_GAIN = 0.5


def derived_seed(*parts: int) -> int:
    """A stable 31-bit seed from integers (no Python hash randomisation involved)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFF)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFF


def _replay_mix(tr: Trainer, stage: StageCfg, index: int, problems: list[Problem],
                replay: list[Problem]) -> list[Problem]:
    if not replay or not stage.replay_fraction:
        return problems
    k = max(1, round(len(problems) * stage.replay_fraction / (1 - stage.replay_fraction)))
    rng = random.Random(derived_seed(tr.cfg.seed, index, tr.state["global_step"] + 1, 7))
    return problems + rng.sample(replay, min(k, len(replay)))


def grpo_step(tr: Trainer, stage: StageCfg, index: int, st: dict[str, Any], problems: list[Problem],
              replay: list[Problem], optimizer: Any, scheduler: Any, ref_model: Any,
              order: list[str]) -> dict[str, Any]:
    """Run one step and log its metrics; returns them."""
    cfg = tr.cfg
    t_start = time.perf_counter()
    step = tr.state["global_step"] + 1
    group = stage.group_size_at(st["epoch"])
    temperature = float(st["temperature"])
    batch = _replay_mix(tr, stage, index, problems, replay)
    replay_ids = {p.id for p in batch[len(problems):]}
    outs, verdicts, t_gen, t_ver = tr._rollouts(batch, group, temperature, stage.top_p, stage.max_response_tokens,
                                                seed=derived_seed(cfg.seed, index, step))
    truncated_prompts = tr.truncated_prompts
    resampled = 0
    if stage.zero_variance_groups == "resample":
        by_id = tr.pool_by_id
        for attempt in range(_MAX_RESAMPLE_ROUNDS):
            mixed = sum(len({v.correct for v in g}) > 1 for g in verdicts)
            need = stage.prompts_per_step - mixed
            if need <= 0 or st["pos"] >= len(order):
                break
            extra_ids = order[st["pos"]: st["pos"] + need]
            st["pos"] += len(extra_ids)
            extra = [by_id[i] for i in extra_ids]
            o2, v2, g2, v2t = tr._rollouts(extra, group, temperature, stage.top_p, stage.max_response_tokens,
                                           seed=derived_seed(cfg.seed, index, step, 1 + attempt))
            batch, outs, verdicts = batch + extra, outs + o2, verdicts + v2
            t_gen, t_ver, resampled = t_gen + g2, t_ver + v2t, resampled + len(extra)
            truncated_prompts += tr.truncated_prompts

    stage_ids = {p.id for p in batch} - replay_ids
    rewards: list[float] = []
    samples: list[Sample] = []
    zero_var = mixed = 0
    lengths, truncated = [], 0
    timeouts = errors = 0
    kept_groups = 0
    for p, comps, vs in zip(batch, outs, verdicts, strict=True):
        r = [1.0 if v.correct else 0.0 for v in vs]
        degenerate = len(set(r)) == 1
        zero_var += degenerate
        mixed += not degenerate
        if p.id in stage_ids:
            h = st["history"].setdefault(p.id, [0, 0])
            h[0] += int(sum(r))
            h[1] += len(r)
            if all(r) and p.id not in st["solved_this_epoch"]:
                st["solved_this_epoch"].append(p.id)
        adv = algos.group_advantages(torch.tensor(r), len(r), cfg.advantage).tolist()
        drop_group = degenerate and stage.zero_variance_groups in ("drop", "resample")
        if stage.zero_variance_groups == "resample" and not degenerate:
            kept_groups += 1
            drop_group = kept_groups > stage.prompts_per_step  # cap the refilled batch at its nominal size
        for c, a, v in zip(comps, adv, vs, strict=True):
            rewards.append(1.0 if v.correct else 0.0)
            lengths.append(len(c.token_ids))
            is_trunc = c.finish_reason == "length"
            truncated += is_trunc
            timeouts += v.reason == "timeout"
            errors += v.reason in ("error", "sandbox_error")
            mask = not drop_group and not (stage.overlong_filtering and is_trunc)
            samples.append(Sample(list(c.prompt_token_ids or []), list(c.token_ids), float(a), mask,
                                  sampler_logprobs=list(c.logprobs) if c.logprobs is not None else None))

    t_train0 = time.perf_counter()
    pad = tr.tokenizer.pad_token_id
    autocast = torch.bfloat16 if tr.recipe.model.bf16_autocast else None
    budget = cfg.max_tokens_per_micro_batch
    old = (rollout_logprobs(tr.model, samples, pad, cfg.micro_batch_size, temperature, budget, autocast)
           if cfg.updates_per_batch > 1 else None)
    stats = first = None
    for _ in range(cfg.updates_per_batch):
        stats = train_step(tr.model, optimizer, samples, pad, cfg.micro_batch_size, cfg.loss_aggregation,
                           cfg.clip_eps, cfg.clip_eps_high, cfg.grad_clip, cfg.kl_coef, ref_model, old,
                           temperature=temperature, autocast_dtype=autocast, max_tokens_per_micro_batch=budget,
                           tis_cap=cfg.tis_cap)
        first = first or stats
    scheduler.step()
    t_train = time.perf_counter() - t_train0
    assert stats is not None and first is not None

    if stage.entropy_target is not None and stats.tokens:
        # AceReason 1.1: hold the temperature-adjusted entropy near the target by nudging the temperature.
        adj = math.exp(_ENTROPY_GAIN * (stage.entropy_target - stats.entropy) / stage.entropy_target)
        st["temperature"] = float(min(2.0, max(0.1, temperature * adj)))

    st["step"] += 1
    tr.state["global_step"] = step
    gen_tokens = sum(lengths)
    n_groups = max(len(batch), 1)
    metrics = {
        "step": step, "stage": stage.name, "stage_index": index, "stage_step": st["step"], "epoch": st["epoch"],
        "reward/mean": sum(rewards) / max(len(rewards), 1),
        "reward/pass_at_group": sum(any(v.correct for v in vs) for vs in verdicts) / n_groups,
        "groups/zero_variance_frac": zero_var / n_groups, "groups/mixed_frac": mixed / n_groups,
        "groups/resampled_prompts": resampled,
        "response/length_mean": gen_tokens / max(len(lengths), 1), "response/length_max": max(lengths, default=0),
        "response/truncation_ratio": truncated / max(len(lengths), 1),
        "policy/entropy": stats.entropy, "policy/grad_norm": stats.grad_norm, "policy/kl": stats.kl,
        "policy/loss": stats.loss, "policy/lr": optimizer.param_groups[0]["lr"], "policy/temperature": temperature,
        "policy/group_size": group, "policy/trained_tokens": stats.tokens,
        "prompts/active": len(st["active"]), "prompts/filtered": sum(st["filtered"].values()),
        "verify/timeouts": timeouts, "verify/errors": errors,
        "perf/padding_frac": stats.padding_frac, "perf/micro_batches": stats.micro_batches,
        "prompts/truncated": truncated_prompts, **first.mismatch,
        "time/generate": t_gen, "time/verify": t_ver, "time/train": t_train,
        "time/step": time.perf_counter() - t_start, "perf/tokens_per_s": gen_tokens / max(t_gen, 1e-9),
    }
    tr.log.log(metrics)
    return metrics
