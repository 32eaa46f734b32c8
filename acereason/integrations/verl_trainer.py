"""The recipe's per-epoch and per-sample rules inside one veRL run: trainer mode ``acereason``.

Imports veRL (and torch): loaded by veRL through our plugin (:mod:`acereason.integrations.verl_plugin`), never by
the main package. Two layers:

* plain functions and :class:`EpochTracker`, on veRL's data structures (``DataProto``, numpy object arrays of
  ``reward_extra_info`` dicts), tested on CPU (``tests/test_verl_trainer.py``):

  - :func:`loss_mask`: a sample's ``response_mask`` row is zeroed when the response is truncated (``overlong``
    from our reward manager, with ``overlong_filtering``) or when its group's **raw accuracy** (``acc``, not a
    shaped score) is the same for every rollout (``zero_variance_groups: drop``): excluded from the loss and
    from the token-mean denominator, as the native trainer's ``train_mask``;
  - :class:`EpochTracker`: per-epoch temperature and group size, the prompts every rollout of the epoch solved,
    their removal at the epoch boundary (``remove_solved_each_epoch``), the entropy-targeted temperature
    (AceReason 1.1, the native trainer's rule), and its own state saved next to veRL's checkpoint so a resume at
    an epoch boundary neither skips nor repeats an epoch.

* :class:`AceReasonTrainer` (registered with veRL's ``register_trainer("acereason")``; run with
  ``trainer.v1.trainer_mode=acereason``), a subclass of veRL 0.9.1's synchronous v1 trainer that calls them at
  veRL's own seams: ``_fetch_one_gen_batch`` (epoch boundary; the epoch's group size as veRL's per-prompt
  ``__rollout_n__``), ``_compute_advantage`` (the loss mask, written back to the TransferQueue), ``_save_checkpoint`` /
  ``_load_checkpoint`` (tracker state). One veRL run per stage: the optimizer and the dataloader live through
  every epoch. This layer needs veRL's GPU workers and was not run here (docs/verl.md).

The stage's settings come from ``+acereason.stage`` (written by ``acereason export verl``): ``epochs``,
``temperature``, ``temperature_schedule``, ``rollouts_per_prompt``, ``rollouts_schedule``,
``remove_solved_each_epoch``, ``overlong_filtering``, ``zero_variance_groups``, ``entropy_target``.

The tracker's temperature (the epoch's scheduled one, or the entropy-targeted one) reaches vLLM through our agent
loop (:mod:`acereason.integrations.verl_agent_loop`): :func:`prepare_gen_batch` writes it per sample
(``acereason_temperature``) with ``agent_name = "acereason_single_turn"``; the loop sends it and records what it
sent in the trajectory's ``extra_fields``. veRL's driver gives the actor its temperature per call
(``extra_info["temperature"]`` of the batch, read from ``actor_rollout_ref.rollout.temperature`` of the driver's
config in ``_compute_old_log_prob``, ``_compute_ref_log_prob``, ``_update_actor``): before those, the trainer
sets that config value to the temperature the batch was sampled at (:func:`batch_temperature`), so the log-probs
of the loss are those of the sampler's distribution.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acereason.atomic import write_text
from acereason.integrations.verl_agent_loop import AGENT_NAME, SAMPLED_KEY, TEMPERATURE_FIELD

logger = logging.getLogger(__name__)

__all__ = ["AceReasonTrainer", "EpochTracker", "StageSpec", "batch_temperature", "entropy_temperature", "extra_values",
           "loss_mask", "prepare_gen_batch", "rollout_prompt_ids"]

STATE_FILE = "acereason_epochs.json"
ENTROPY_GAIN = 0.5  # the native trainer's gain (acereason.rl.step): T *= exp(g * (target - H) / target)
TEMPERATURE_RANGE = (0.1, 2.0)


@dataclass(frozen=True)
class StageSpec:
    """What the trainer extension needs of a recipe stage (``+acereason.stage`` in the run's config)."""

    epochs: int = 1
    temperature: float = 1.0
    temperature_schedule: tuple[float, ...] = ()
    rollouts_per_prompt: int = 8
    rollouts_schedule: tuple[int, ...] = ()
    remove_solved_each_epoch: bool = False
    overlong_filtering: bool = False
    zero_variance_groups: str = "keep"
    entropy_target: float | None = None

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None) -> StageSpec:
        d = dict(node or {})
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"acereason.stage: unknown field {unknown[0]!r}")
        for k in ("temperature_schedule", "rollouts_schedule"):
            d[k] = tuple(d.get(k) or ())
        return cls(**d)

    def temperature_at(self, epoch: int) -> float:
        s = self.temperature_schedule
        return float(s[min(epoch, len(s) - 1)]) if s else float(self.temperature)

    def group_size_at(self, epoch: int) -> int:
        s = self.rollouts_schedule
        return int(s[min(epoch, len(s) - 1)]) if s else int(self.rollouts_per_prompt)


def entropy_temperature(temperature: float, entropy: float, target: float) -> float:
    """The next step's temperature holding the sampled-token entropy near ``target`` (AceReason 1.1)."""
    adj = math.exp(ENTROPY_GAIN * (target - entropy) / target)
    lo, hi = TEMPERATURE_RANGE
    return float(min(hi, max(lo, temperature * adj)))


def extra_values(extra_fields: Sequence[Any], key: str, default: float = 0.0) -> np.ndarray:
    """``reward_extra_info[key]`` of every sample, from veRL's per-sample ``extra_fields`` dicts (agent loop
    outputs) or from plain ``reward_extra_info`` dicts."""
    out = []
    for ef in extra_fields:
        info = ef.get("reward_extra_info", ef) if isinstance(ef, Mapping) else {}
        out.append(float(info.get(key, default)) if isinstance(info, Mapping) else default)
    return np.asarray(out, dtype=np.float64)


def zero_variance(uids: Sequence[Any], acc: Sequence[float]) -> np.ndarray:
    """True for every sample whose group (same ``uid``) has one raw accuracy for all its rollouts."""
    groups: dict[Any, set[float]] = {}
    for u, a in zip(uids, acc, strict=True):
        groups.setdefault(u, set()).add(float(a))
    return np.array([len(groups[u]) == 1 for u in uids], dtype=bool)


def loss_mask(response_mask: torch.Tensor, uids: Sequence[Any], acc: Sequence[float], overlong: Sequence[float],
              spec: StageSpec) -> tuple[torch.Tensor, dict[str, float]]:
    """``response_mask`` with the rows of excluded samples zeroed, and what was excluded (metrics).

    Excluded: truncated responses when ``spec.overlong_filtering``; every sample of a zero-variance group (on
    raw accuracy) when ``spec.zero_variance_groups == "drop"``. When that would exclude every sample the mask is
    returned unchanged (veRL's token-mean over zero tokens is undefined; such a batch has advantage 0 anyway).
    """
    n = response_mask.shape[0]
    drop = np.zeros(n, dtype=bool)
    over = np.asarray(overlong, dtype=np.float64) > 0.5
    zv = zero_variance(uids, acc)
    if spec.overlong_filtering:
        drop |= over
    if spec.zero_variance_groups == "drop":
        drop |= zv
    metrics = {"acereason/overlong_frac": float(over.mean()) if n else 0.0,
               "acereason/zero_variance_frac": float(zv.mean()) if n else 0.0,
               "acereason/loss_excluded_frac": float(drop.mean()) if n else 0.0}
    if drop.all():
        metrics["acereason/loss_excluded_frac"] = 0.0
        return response_mask, metrics
    keep = torch.as_tensor(~drop, device=response_mask.device).to(response_mask.dtype).unsqueeze(-1)
    return response_mask * keep, metrics


@dataclass
class EpochTracker:
    """Epoch state of one stage inside one veRL run."""

    spec: StageSpec
    epoch: int = 0
    temperature: float = 0.0
    removed: list[str] = field(default_factory=list)
    solved_this_epoch: list[str] = field(default_factory=list)
    seen_this_epoch: dict[str, list[int]] = field(default_factory=dict)  # prompt -> [solved, total] rollouts
    epoch_start_steps: list[int] = field(default_factory=lambda: [1])

    def __post_init__(self) -> None:
        if not self.temperature:
            self.temperature = self.spec.temperature_at(self.epoch)

    @property
    def group_size(self) -> int:
        return self.spec.group_size_at(self.epoch)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.spec.epochs

    def record(self, prompt_ids: Sequence[str], acc: Sequence[float]) -> None:
        """A step's rollouts: ``prompt_ids[i]`` (one per rollout) and its raw accuracy."""
        for pid, a in zip(prompt_ids, acc, strict=True):
            h = self.seen_this_epoch.setdefault(str(pid), [0, 0])
            h[0] += int(float(a) >= 0.5)
            h[1] += 1
        self.solved_this_epoch = sorted(p for p, (s, t) in self.seen_this_epoch.items() if t and s == t)

    def end_epoch(self, next_step: int) -> list[str]:
        """Close the epoch; returns the prompts to remove from the next epoch (solved by every rollout)."""
        gone = list(self.solved_this_epoch) if self.spec.remove_solved_each_epoch else []
        self.removed = sorted(set(self.removed) | set(gone))
        self.solved_this_epoch, self.seen_this_epoch = [], {}
        self.epoch += 1
        self.epoch_start_steps.append(next_step)
        if self.spec.temperature_schedule or self.spec.entropy_target is None:
            self.temperature = self.spec.temperature_at(self.epoch)
        return gone

    def after_step(self, entropy: float | None) -> None:
        """Entropy-targeted temperature: nudge the next step's temperature towards ``spec.entropy_target``."""
        if self.spec.entropy_target is not None and entropy is not None and entropy > 0:
            self.temperature = entropy_temperature(self.temperature, entropy, self.spec.entropy_target)

    def epoch_at(self, step: int) -> int:
        """The epoch a (1-based) global step belongs to."""
        return max(0, sum(1 for s in self.epoch_start_steps if s <= step) - 1)

    def state_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("spec")
        return d

    @classmethod
    def from_state(cls, spec: StageSpec, state: Mapping[str, Any]) -> EpochTracker:
        return cls(spec=spec, **dict(state))

    def save(self, folder: str | Path) -> None:
        write_text(Path(folder) / STATE_FILE, json.dumps(self.state_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, spec: StageSpec, folder: str | Path) -> EpochTracker | None:
        path = Path(folder) / STATE_FILE
        return cls.from_state(spec, json.loads(path.read_text())) if path.exists() else None


def prompt_id(row: Mapping[str, Any]) -> str:
    """A dataset row's stable prompt id (our export's ``extra_info.problem_id``, else its ``index``)."""
    extra = row.get("extra_info") or {}
    return str(extra.get("problem_id") or extra.get("index") or row.get("index"))


def remove_prompts(dataset: Any, removed: Iterable[str]) -> int:
    """Drop the rows of veRL's ``RLHFDataset`` whose prompt id is in ``removed``; returns the rows left."""
    gone = set(removed)
    if gone:
        dataset.dataframe = dataset.dataframe.filter(lambda row: prompt_id(row) not in gone)
    return len(dataset.dataframe)


def prepare_gen_batch(batch_dict: dict[str, Any], tracker: EpochTracker) -> dict[str, Any]:
    """A dataloader batch (veRL's ``collate_fn`` output) made ready for veRL's agent loop: a fresh ``uid`` per
    prompt, the epoch's group size (``__rollout_n__``), the tracker's temperature (``acereason_temperature``)
    and our agent loop (``agent_name``). Returns a new dict."""
    import uuid

    out = dict(batch_dict)
    n = len(out["raw_prompt"])
    out["uid"] = np.array([str(uuid.uuid4()) for _ in range(n)], dtype=object)
    out["__rollout_n__"] = np.array([tracker.group_size] * n, dtype=object)
    out[TEMPERATURE_FIELD] = np.array([float(tracker.temperature)] * n, dtype=object)
    out["agent_name"] = np.array([AGENT_NAME] * n, dtype=object)
    return out


def batch_temperature(extra_fields: Sequence[Any], default: float) -> float:
    """The temperature a batch of trajectories was sampled at, from what our agent loop recorded in each one's
    ``extra_fields``; ``default`` when none recorded one (another agent loop). A batch sampled at more than one
    temperature is refused: veRL's actor takes one temperature per batch."""
    seen = sorted({round(float(ef[SAMPLED_KEY]), 12) for ef in extra_fields
                   if isinstance(ef, Mapping) and ef.get(SAMPLED_KEY) is not None})
    if not seen:
        return float(default)
    if len(seen) > 1:
        raise ValueError(f"acereason: one training batch was sampled at several temperatures {seen}; veRL's actor "
                         "computes log-probs at one temperature per batch")
    return seen[0]


def rollout_prompt_ids(extra_infos: Sequence[Any], uids: Sequence[Any]) -> list[str]:
    """Each trajectory's prompt id (the row's ``extra_info.problem_id``, as :func:`prompt_id`), else its ``uid``."""
    out = []
    for info, uid in zip(extra_infos, uids, strict=True):
        pid = (info.get("problem_id") or info.get("index")) if isinstance(info, Mapping) else None
        out.append(str(pid) if pid is not None else str(uid))
    return out


def set_rollout_temperature(config: Any, temperature: float) -> None:
    """Set ``actor_rollout_ref.rollout.temperature`` of the driver's config (what veRL's driver passes to the actor
    as ``extra_info["temperature"]``)."""
    from omegaconf import open_dict, read_write

    node = config.actor_rollout_ref.rollout
    with read_write(node), open_dict(node):
        node.temperature = float(temperature)


# ---------------------------------------------------------------------------------------------------------------
# veRL's v1 trainer with the recipe's rules (needs veRL's GPU workers; not run on CPU)
try:
    from verl.trainer.ppo.v1.trainer_base import register_trainer
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
except ImportError as _err:  # veRL without its trainer stack (e.g. transfer_queue missing): no trainer mode
    logger.warning("acereason: veRL's v1 trainer is not importable (%s); trainer mode 'acereason' unavailable", _err)
    AceReasonTrainer: Any = None
else:

    @register_trainer("acereason")
    class AceReasonTrainer(PPOTrainerSync):  # type: ignore[no-redef]
        """veRL's synchronous trainer plus the recipe's epoch and loss-mask rules (see the module doc)."""

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.ace_spec = StageSpec.from_config((config.get("acereason") or {}).get("stage"))
            self.ace = EpochTracker(self.ace_spec)

        # -- epochs --
        def _ace_steps_left(self) -> int:
            per_epoch = len(self.train_dataset) // self.config.data.train_batch_size
            return per_epoch * (self.ace_spec.epochs - self.ace.epoch)

        def _init_dataloader(self) -> None:
            super()._init_dataloader()
            self.total_training_steps = self._ace_steps_left()
            self.steps_per_epoch = max(1, self.total_training_steps)  # epochs are counted by the tracker

        def _fetch_one_gen_batch(self) -> Any:
            if self.train_dataloader_it is None:
                self.train_dataloader_it = iter(self.train_dataloader)
            try:
                batch_dict = next(self.train_dataloader_it)
            except StopIteration:
                gone = self.ace.end_epoch(self.global_steps)
                left = remove_prompts(self.train_dataset, gone)
                if left < self.config.data.train_batch_size:
                    raise RuntimeError(f"acereason: {left} prompts left after removing {len(gone)} solved ones, "
                                       "fewer than one batch") from None
                self.total_training_steps = self.global_steps - 1 + self._ace_steps_left()
                self.steps_per_epoch = max(1, self.total_training_steps)
                self.train_dataloader_it = iter(self.train_dataloader)
                batch_dict = next(self.train_dataloader_it)
            from verl.utils import tensordict_utils as tu

            # the epoch's group size and temperature per sample, routed to our agent loop (verl_agent_loop)
            return tu.get_tensordict(prepare_gen_batch(batch_dict, self.ace))

        # -- the actor's temperature: the one the batch was sampled at --
        def _ace_use_sampling_temperature(self, batch: Any, metrics: dict) -> float:
            import transfer_queue as tq

            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
            t = batch_temperature(list(data["extra_fields"]), self.config.actor_rollout_ref.rollout.temperature)
            set_rollout_temperature(self.config, t)  # read by veRL for extra_info["temperature"] of every call
            metrics["acereason/sampling_temperature"] = t
            return t

        def _compute_old_log_prob(self, batch: Any, metrics: dict) -> Any:
            self._ace_use_sampling_temperature(batch, metrics)
            return super()._compute_old_log_prob(batch, metrics)

        # -- loss mask and per-prompt results --
        def _compute_advantage(self, batch: Any, metrics: dict) -> Any:
            import transfer_queue as tq
            from verl.workers.utils.padding import response_from_nested, response_to_nested

            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id,
                                   select_fields=["uid", "response_mask", "extra_fields", "extra_info"])
            nested = data["response_mask"]
            mask = response_from_nested(nested, nested)
            extra = list(data["extra_fields"])
            uids = list(data["uid"])
            acc, over = extra_values(extra, "acc"), extra_values(extra, "overlong")
            new_mask, m = loss_mask(mask, uids, acc, over, self.ace_spec)
            metrics.update(m)
            for k in ("accepted", "wrong", "time_limit", "runtime_error", "no_code", "timeout", "verifier_error"):
                metrics[f"reward/verdict/{k}"] = float(extra_values(extra, f"verdict/{k}").mean())
            metrics["acereason/epoch"] = self.ace.epoch
            metrics["acereason/temperature"] = self.ace.temperature
            metrics["acereason/removed_prompts"] = len(self.ace.removed)
            # the row's extra_info is a field of its own in the TransferQueue (veRL stores the prompt's kwargs)
            self.ace.record(rollout_prompt_ids(list(data["extra_info"]), uids), acc)
            out = response_to_nested(new_mask, nested)
            tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id,
                            fields={"response_mask": out, "loss_mask": out})
            return super()._compute_advantage(batch, metrics)

        def _update_actor(self, batch: Any, metrics: dict) -> Any:
            out = super()._update_actor(batch, metrics)
            self.ace.after_step(metrics.get("actor/entropy"))
            return out

        # -- checkpoints --
        def _save_checkpoint(self) -> None:
            super()._save_checkpoint()
            folder = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
            self.ace.save(folder)

        def _load_checkpoint(self) -> Any:
            from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path

            latest = find_latest_ckpt_path(self.config.trainer.default_local_dir)
            restored = EpochTracker.load(self.ace_spec, latest) if latest else None
            if restored is not None:  # filter the dataset first: the dataloader state refers to the filtered one
                self.ace = restored
                remove_prompts(self.train_dataset, restored.removed)
            out = super()._load_checkpoint()
            self.total_training_steps = self.global_steps + self._ace_steps_left_after_resume()
            self.steps_per_epoch = max(1, self.total_training_steps)
            return out

        def _ace_steps_left_after_resume(self) -> int:
            per_epoch = len(self.train_dataset) // self.config.data.train_batch_size
            done_in_epoch = self.global_steps - (self.ace.epoch_start_steps[-1] - 1)
            return max(0, per_epoch - done_in_epoch) + per_epoch * (self.ace_spec.epochs - self.ace.epoch - 1)
