"""The staged GRPO trainer: sample prompts -> G rollouts each (group size) -> verified rewards -> one on-policy step.

Run it with ``acereason train RECIPE.yaml --out RUN_DIR [--resume [--extend]]``. How it follows AceReason-Nemotron
(arXiv 2505.16400): stages run in order, each starting from the previous stage's policy with a fresh
AdamW; each step samples ``prompts_per_step`` prompts and ``G`` rollouts per prompt, scores them with
the rule-based verifiers (1/0), normalises rewards within each group, and takes exactly one optimizer
step (strictly on-policy, no KL, token-level loss). Between stages and epochs prompts are filtered
(pass rate at stage entry, epoch-wise removal of prompts every rollout solved, difficulty caps).

Determinism: every random choice derives from ``(seed, stage, epoch or step)``: data order, sampling
seeds, filter measurements. A resumed run therefore needs only the checkpoint (weights, optimizer,
scheduler, position, pass history) to reproduce an uninterrupted run's metrics exactly on CPU.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from acereason.atomic import write_json
from acereason.cli_util import check_device
from acereason.progress import Tracker
from acereason.prompts import build_messages
from acereason.rl.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, set_rng_states
from acereason.rl.data import load_stage_problems, select_entry_prompts
from acereason.rl.logging import MetricsLogger
from acereason.rl.names import PromptOverflow
from acereason.rl.recipe import Recipe, StageCfg
from acereason.rl.rewards import RewardFn, load_reward_fn
from acereason.rl.rundir import check_resume, has_run, write_record
from acereason.rl.seeding import derived_seed
from acereason.rl.stage_state import RunState, StageState
from acereason.rl.step import (
    Rollouts,
    collect_rollouts,
    next_temperature,
    replay_mix,
    score_groups,
    step_metrics,
    update_policy,
)
from acereason.schema import Problem, Verdict

TIME_KEYS = ("time/generate", "time/verify", "time/train", "time/step", "perf/tokens_per_s")


def pick_device(name: str, field: str = "train.device") -> torch.device:
    """The torch device for ``name`` on this machine; an unknown or unavailable one raises
    :class:`~acereason.cli_util.OptionError` naming ``field`` (before any model loads)."""
    return torch.device(check_device(field, name))


def load_policy(recipe: Recipe, device: torch.device) -> tuple[torch.nn.Module, Any]:
    """The initial policy and tokenizer (local directory, or the in-process tiny model)."""
    cfg = recipe.model
    if cfg.tiny and not cfg.path:
        from acereason.models import TinyModelConfig, build_char_tokenizer, build_tiny_model

        tok = build_char_tokenizer()
        model = build_tiny_model(tok, TinyModelConfig(layers=cfg.tiny_layers, hidden=cfg.tiny_hidden),
                                 seed=recipe.train.seed)
    else:
        from transformers import AutoModelForCausalLM

        from acereason.generate.hf import load_tokenizer

        path = recipe.resolve(cfg.path or "")
        tok = load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                     dtype=getattr(torch, cfg.dtype))
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model.to(device), tok


class Trainer:
    """Runs a recipe's stages in order, writing ``metrics.jsonl``, TensorBoard events and checkpoints
    under ``out_dir``; ``resume=True`` continues from the latest checkpoint exactly, refusing a recipe
    that differs from the one the run recorded; ``extend=True`` (implies ``resume``) also accepts larger
    ``steps``/``epochs`` from the last started stage on and appended stages, and trains them."""

    def __init__(self, recipe: Recipe, out_dir: str | Path, resume: bool = False,
                 reward_fn: RewardFn | None = None, generator_factory: Callable[..., Any] | None = None,
                 progress: bool = True, extend: bool = False) -> None:
        self.recipe = recipe
        self.out = Path(out_dir)
        self.cfg = recipe.train
        resume = resume or extend
        # Everything that can be wrong with the input is checked before the model loads.
        self.device = pick_device(self.cfg.device)
        self.reward_fn = reward_fn or load_reward_fn(self.cfg.reward_fn, self.cfg.reward_timeout_s,
                                                     self.cfg.verify_workers)
        changes = check_resume(self.out, recipe, extend) if resume else None
        if not resume and has_run(self.out):
            raise FileExistsError(f"{self.out} already holds a run; pass --resume or choose another --out")
        if self.cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        random.seed(self.cfg.seed)
        torch.manual_seed(self.cfg.seed)
        self.model, self.tokenizer = load_policy(recipe, self.device)
        self.generator_factory = generator_factory
        self.progress = progress
        self.ckpt_dir = self.out / "checkpoints"
        self.state = RunState()  # the run's progress; only this class changes it
        self._optim_state: dict[str, Any] | None = None
        self._gen: Any = None
        self._prompt_limit: int | None = None  # max_prompt_tokens of a stage that left-truncates prompts
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume()
        write_record(self.out, recipe, changes, self.state.global_step)
        self.log = MetricsLogger(self.out, truncate_after=self.state.global_step if resume else None)

    # ----------------------------------------------------------------------------------------- state
    def _resume(self) -> None:
        path = latest_checkpoint(self.ckpt_dir)
        if path is None:  # killed before the first checkpoint: the run starts again from step 0
            return
        state, self._optim_state = load_checkpoint(path, self.model)
        self.state = RunState.from_json(state, path / "state.json")
        set_rng_states(self._optim_state["rng"])
        # An extended stage was finished under its old length: reopen it (and go back to it) so that
        # the added steps or epochs really train. Unchanged recipes never reach this (check_resume).
        for index, stage in enumerate(self.recipe.stages):
            st = self.state.stages.get(stage.name)
            if st is not None and st.done and not st.finished(stage):
                st.done = False
                self.state.stage_index = min(self.state.stage_index, index)

    def _checkpoint(self, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        save_checkpoint(self.ckpt_dir, self.state.global_step, self.model, optimizer, scheduler,
                        self.state.to_json(), keep=self.cfg.keep_checkpoints)

    def _load_problems(self, stage: StageCfg, replay: bool = False) -> list[Problem]:
        """The stage's (or its replay) problems; :mod:`~acereason.rl.data` reads and fills a JSON view of the state
        (pass history of ``only_unsolved_from``; the stage's ``load_dropped`` counts, kept once set)."""
        view = self.state.to_json()
        problems = load_stage_problems(self.recipe, stage, view, replay=replay)
        if not replay:
            self.state.stage(stage.name).load_dropped = dict(view["stages"][stage.name]["load_dropped"])
        return problems

    # ----------------------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        """Train every remaining stage; returns the final trainer state in its checkpoint (JSON) form."""
        try:
            for index in range(self.state.stage_index, len(self.recipe.stages)):
                self.state.stage_index = index
                self._run_stage(index, self.recipe.stages[index])
        finally:
            self.log.close()
        return self.state.to_json()

    def _messages(self, problems: Sequence[Problem]) -> list[list[dict[str, str]]]:
        c = self.cfg
        return [build_messages(p, c.math_instruction, c.code_instruction, c.system_prompt) for p in problems]

    def prompt_lengths(self, problems: Sequence[Problem]) -> list[int]:
        """Tokens of each problem's rendered prompt (chat template included), as the generator sees them."""
        from acereason.generate.base import encode_prompt

        return [len(encode_prompt(self.tokenizer, m)) for m in self._messages(problems)]

    def _prompts(self, problems: Sequence[Problem]) -> tuple[list[Any], int]:
        """The prompts to sample from, and how many were left-truncated to the stage's ``max_prompt_tokens``
        (``prompt_overflow: truncate_left``): such a prompt's last ``max_prompt_tokens`` tokens, decoded and passed
        as text (the completion's ``prompt_token_ids`` record exactly what was conditioned on)."""
        from acereason.generate.base import encode_prompt

        messages: list[Any] = self._messages(problems)
        limit = self._prompt_limit
        if limit is None:
            return messages, 0
        cut = 0
        for i, m in enumerate(messages):
            ids = encode_prompt(self.tokenizer, m)
            keep = limit
            while len(ids) > limit and keep > 0:
                text = self.tokenizer.decode(ids[-keep:])
                n = len(encode_prompt(self.tokenizer, text))  # re-encoding the tail may give a few more tokens
                if n <= limit:
                    messages[i], cut = text, cut + 1
                    break
                keep -= n - limit
        return messages, cut

    def _generator(self) -> Any:
        """One generator over the live policy, built on first use (it samples from the current weights)."""
        if self._gen is None:
            if self.generator_factory is not None:
                self._gen = self.generator_factory(self.model, self.tokenizer)
            else:
                from acereason.generate.static_cache import policy_generator

                self._gen = policy_generator(self.model, self.tokenizer, self.device,
                                             self.cfg.generation_batch_size, self.cfg.sampler)
        return self._gen

    def _rollouts(self, problems: list[Problem], group_size: int, temperature: float, top_p: float, max_tokens: int,
                  seed: int) -> Rollouts:
        """Sample ``group_size`` completions per problem from the live policy and verify them (the step's
        :class:`Sampler`; the generator calls it ``n``)."""
        from acereason.generate.base import SamplingParams

        t0 = time.perf_counter()
        prompts, truncated = self._prompts(problems)
        outs = self._generator().generate(prompts, group_size,
                                          SamplingParams(temperature=temperature, top_p=top_p,
                                                         max_tokens=max_tokens, seed=seed))
        t1 = time.perf_counter()
        flat_p = [p for p, group in zip(problems, outs, strict=True) for _ in group]
        flat_r = [c.text for group in outs for c in group]
        verdicts = self.reward_fn(flat_p, flat_r)
        grouped: list[list[Verdict]] = []
        k = 0
        for group in outs:
            grouped.append(verdicts[k: k + len(group)])
            k += len(group)
        return Rollouts(list(problems), outs, grouped, t1 - t0, time.perf_counter() - t1, truncated)

    def _run_stage(self, index: int, stage: StageCfg) -> None:
        st = self.state.stage(stage.name)
        if st.done:
            return
        pool = self._load_problems(stage)
        by_id = {p.id: p for p in pool}
        self._prompt_limit = stage.max_prompt_tokens if stage.prompt_overflow == "truncate_left" else None
        if st.active is None:
            fitting, too_long = self._fitting_prompts(stage, pool)
            st.active, st.filtered = select_entry_prompts(self._rollouts, stage, index, fitting, self.cfg.seed,
                                                          self.cfg.generation_batch_size, st.load_dropped or {})
            if too_long:
                st.filtered["prompt_too_long"] = too_long
        replay = self._load_problems(stage, replay=True) if stage.replay_data else []
        replay, _ = self._fitting_prompts(stage, replay)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=stage.lr, betas=self.cfg.adam_betas,
                                      weight_decay=self.cfg.weight_decay)
        warm = max(self.cfg.warmup_steps, 0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warm + 1)))
        if self._optim_state is not None and self.state.optim_stage == stage.name:  # resuming mid-stage
            optimizer.load_state_dict(self._optim_state["optimizer"])
            if self._optim_state.get("scheduler"):
                scheduler.load_state_dict(self._optim_state["scheduler"])
        self._optim_state = None
        self.state.optim_stage = stage.name
        ref_model = None
        if self.cfg.kl_coef > 0:
            ref_model = copy.deepcopy(self.model).eval()
            for p in ref_model.parameters():
                p.requires_grad_(False)
        if st.temperature is None:
            st.temperature = stage.temperature_at(st.epoch)
        with Tracker(stage.name, stage.steps, unit="steps", enabled=self.progress, initial=st.step) as bar:
            while not st.finished(stage):
                order = self._epoch_order(index, st)
                if st.pos >= len(order):
                    self._end_epoch(stage, st, optimizer, scheduler)
                    continue
                # The step's prompts and any resampling rounds' (draw) come from st.take: one position, one mover.
                take = st.take(order, stage.prompts_per_step)
                metrics = self._step(stage, index, st, [by_id[i] for i in take], replay, optimizer, scheduler,
                                     ref_model, lambda k, order=order: [by_id[i] for i in st.take(order, k)])
                bar.update(st.step, info=self._step_info(stage, st, metrics))
                if self.state.global_step % self.cfg.checkpoint_every == 0:
                    self._checkpoint(optimizer, scheduler)
        st.done = True
        self.state.stage_index = index + 1
        self._checkpoint(optimizer, scheduler)
        self._export_stage(index, stage)

    def _step(self, stage: StageCfg, index: int, st: StageState, problems: list[Problem],
              replay: list[Problem], optimizer: Any, scheduler: Any, ref_model: Any,
              draw: Any) -> dict[str, Any]:
        """One GRPO step through :mod:`acereason.rl.step`'s functions; the trainer records its effects on the state
        (pass history, solved prompts, temperature, step counters) and logs its metrics."""
        cfg = self.cfg
        t_start = time.perf_counter()
        step = self.state.global_step + 1
        group_size = stage.group_size_at(st.epoch)
        temperature = float(st.temperature if st.temperature is not None else stage.temperature_at(st.epoch))
        batch = replay_mix(stage, problems, replay, derived_seed(cfg.seed, index, step, 7))
        replay_ids = {p.id for p in batch[len(problems):]}
        rollouts = collect_rollouts(self._rollouts, stage, batch, group_size, temperature, (cfg.seed, index, step),
                                    draw)
        stage_ids = {p.id for p in rollouts.problems} - replay_ids
        scored = score_groups(rollouts, stage_ids, stage, cfg.advantage)
        for pid, solved, total in scored.passes:
            st.record_group(pid, solved, total)
        t_train0 = time.perf_counter()
        autocast = torch.bfloat16 if self.recipe.model.bf16_autocast else None
        stats, first = update_policy(self.model, optimizer, scheduler, scored.samples, self.tokenizer.pad_token_id,
                                     cfg, temperature, autocast, ref_model)
        t_train = time.perf_counter() - t_train0
        new_temperature = next_temperature(stage, temperature, stats)
        if new_temperature is not None:
            st.temperature = new_temperature
        st.step += 1
        self.state.global_step = step
        head = {"step": step, "stage": stage.name, "stage_index": index, "stage_step": st.step, "epoch": st.epoch}
        prompts = {"active": len(st.active or []), "filtered": sum(st.filtered.values())}
        metrics = step_metrics(head, rollouts, scored, stats, first, optimizer.param_groups[0]["lr"], temperature,
                               group_size, prompts, t_train, t_start)
        self.log.log(metrics)
        return metrics

    def _fitting_prompts(self, stage: StageCfg, problems: list[Problem]) -> tuple[list[Problem], int]:
        """With ``prompt_overflow: drop``, the problems whose prompt fits ``max_prompt_tokens`` and how many did not."""
        if stage.prompt_overflow != PromptOverflow.DROP or not problems:
            return problems, 0
        fits = [n <= stage.max_prompt_tokens for n in self.prompt_lengths(problems)]
        return [p for p, ok in zip(problems, fits, strict=True) if ok], fits.count(False)

    @staticmethod
    def _step_info(stage: StageCfg, st: StageState, m: dict[str, Any]) -> str:
        """The per-step progress text: one plain stderr line per step when stderr is not a terminal."""
        epoch = f"epoch {st.epoch + 1}/{stage.epochs}  " if stage.epochs is not None else ""
        return (f"{epoch}reward {m['reward/mean']:.3f}  len {m['response/length_mean']:.0f}  "
                f"mixed {m['groups/mixed_frac']:.2f}  {m['time/step']:.1f}s")

    def _epoch_order(self, index: int, st: StageState) -> list[str]:
        """This epoch's prompt order: the active ids shuffled by ``(seed, stage index, epoch)``."""
        order = sorted(st.active or [])
        random.Random(derived_seed(self.cfg.seed, index, st.epoch)).shuffle(order)
        return order

    def _end_epoch(self, stage: StageCfg, st: StageState, optimizer: Any, scheduler: Any) -> None:
        st.next_epoch(stage.remove_solved_each_epoch)
        if stage.temperature_schedule:
            st.temperature = stage.temperature_at(st.epoch)
        self._checkpoint(optimizer, scheduler)  # epoch boundaries are resume points too

    def _export_stage(self, index: int, stage: StageCfg) -> None:
        """Save the stage's final policy in Hugging Face layout (the next stage and eval start from it)."""
        path = self.out / "stages" / f"{index:02d}-{stage.name}"
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        write_json(path / "stage.json", {"stage": stage.name, "index": index,
                                         "global_step": self.state.global_step}, indent=None)


__all__ = ["TIME_KEYS", "Trainer", "load_policy", "pick_device"]
