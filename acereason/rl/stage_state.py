"""The native trainer's progress, typed: one :class:`StageState` per stage inside one :class:`RunState`.

Only :class:`~acereason.rl.trainer.Trainer` changes these objects; the step's functions
(:mod:`acereason.rl.step`) and the data loaders (:mod:`acereason.rl.data`) never see them, so the
stage position moves in one place (:meth:`StageState.take`) and nowhere else.

On disk (a checkpoint's ``state.json``) they are exactly the JSON the trainer wrote before these types
existed: ``{"stage_index", "global_step", "optim_stage", "stages": {name: {"step", "epoch", "pos", "active",
"filtered", "solved_this_epoch", "history", "temperature", "done", "load_dropped"}}}``, so run directories
written earlier resume unchanged. :meth:`RunState.from_json` refuses an unknown or missing key naming it
(``stages.<name>.<key>``) rather than guessing; only keys an older trainer may not have written get a default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acereason.rl.recipe import StageCfg
from acereason.schema import DataError


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_counts(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _is_int(n) for k, n in v.items())


def _is_ids(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(i, str) for i in v)


def _is_history(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(h, list) and len(h) == 2 and all(map(_is_int, h))
                                       for h in v.values())


# key -> (check of the JSON value, what it must be). Every StageState field is here, in field order.
_STAGE_KEYS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "step": (_is_int, "an integer"),
    "epoch": (_is_int, "an integer"),
    "pos": (_is_int, "an integer"),
    "active": (lambda v: v is None or _is_ids(v), "null or a list of prompt ids"),
    "filtered": (_is_counts, "a mapping of reason -> count"),
    "solved_this_epoch": (_is_ids, "a list of prompt ids"),
    "history": (_is_history, "a mapping of prompt id -> [solved, total]"),
    "temperature": (lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)),
                    "null or a number"),
    "done": (lambda v: isinstance(v, bool), "true or false"),
    "load_dropped": (lambda v: v is None or _is_counts(v), "a mapping of reason -> count"),
}
# Keys a checkpoint may lack, and what they mean then (the trainer always wrote the others).
_STAGE_DEFAULTS: dict[str, Any] = {"load_dropped": None}


@dataclass
class StageState:
    """One stage's progress; a new stage starts from ``StageState()``."""

    step: int = 0
    """Optimizer steps taken in this stage; +1 after each step."""
    epoch: int = 0
    """Passes over ``active`` completed; +1 at each epoch end (:meth:`next_epoch`)."""
    pos: int = 0
    """Index, in this epoch's shuffled order, of the next prompt to train on; moved only by :meth:`take`,
    back to 0 by :meth:`next_epoch`."""
    active: list[str] | None = None
    """Prompt ids the stage trains on: None until stage entry selects them (load filters, pass-rate filter,
    prompt length); epoch ends with ``remove_solved_each_epoch`` remove the solved ones."""
    filtered: dict[str, int] = field(default_factory=dict)
    """Prompts left out, by reason: set at stage entry (load drops, entry filter, ``prompt_too_long``),
    ``solved_every_rollout`` grows at epoch ends."""
    solved_this_epoch: list[str] = field(default_factory=list)
    """Prompts with a group all of whose rollouts were right this epoch, in the order first seen
    (:meth:`record_group`); emptied at each epoch end."""
    history: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per prompt, ``(solved, total)`` rollouts over the whole stage (:meth:`record_group`); a later stage's
    ``only_unsolved_from`` reads it."""
    temperature: float | None = None
    """Sampling temperature of the next step: None until the stage starts, then the schedule's value at each
    epoch (``temperature_schedule``) or the entropy controller's after a step (``entropy_target``)."""
    done: bool = False
    """Whether the stage finished (its policy exported); an ``--extend`` that lengthens it sets it back."""
    load_dropped: dict[str, int] | None = None
    """Rows dropped when the stage's data was first loaded, by reason (None until then; not written while None).
    The stage-entry filter starts its ``filtered`` counts from these."""

    def take(self, order: Sequence[str], k: int) -> list[str]:
        """The next (up to) ``k`` prompt ids of the epoch's ``order``; the position moves past them."""
        ids = list(order[self.pos: self.pos + k])
        self.pos += len(ids)
        return ids

    def record_group(self, pid: str, solved: int, total: int) -> None:
        """Add one group's result for ``pid`` (``solved`` of ``total`` rollouts right) to the pass history;
        a group solved by every rollout marks the prompt solved this epoch."""
        s, t = self.history.get(pid, (0, 0))
        self.history[pid] = (s + solved, t + total)
        if solved == total and pid not in self.solved_this_epoch:
            self.solved_this_epoch.append(pid)

    def next_epoch(self, remove_solved: bool) -> int:
        """End the epoch: with ``remove_solved`` (the paper's epoch-wise removal), drop the prompts solved this
        epoch from ``active`` and count them as ``solved_every_rollout``; then epoch +1, position 0. Returns how
        many prompts were removed."""
        removed = 0
        if remove_solved and self.solved_this_epoch:
            solved = set(self.solved_this_epoch)
            self.active = [i for i in self.active or [] if i not in solved]
            removed = len(solved)
            self.filtered["solved_every_rollout"] = self.filtered.get("solved_every_rollout", 0) + removed
        self.solved_this_epoch = []
        self.epoch += 1
        self.pos = 0
        return removed

    def finished(self, stage: StageCfg) -> bool:
        """Whether the stage has run its ``steps`` (or ``epochs``), or has no prompts left."""
        if stage.steps is not None:
            return self.step >= stage.steps or not self.active
        return self.epoch >= (stage.epochs or 0) or not self.active

    def to_json(self) -> dict[str, Any]:
        """The checkpoint form (fresh containers; ``load_dropped`` only once set)."""
        out: dict[str, Any] = {
            "step": self.step, "epoch": self.epoch, "pos": self.pos,
            "active": None if self.active is None else list(self.active), "filtered": dict(self.filtered),
            "solved_this_epoch": list(self.solved_this_epoch),
            "history": {pid: [s, t] for pid, (s, t) in self.history.items()},
            "temperature": self.temperature, "done": self.done,
        }
        if self.load_dropped is not None:
            out["load_dropped"] = dict(self.load_dropped)
        return out

    @classmethod
    def from_json(cls, data: Any, name: str = "?", path: str | Path | None = None) -> StageState:
        """Read a checkpoint's ``stages.<name>`` entry; a missing, unknown or mistyped key raises
        :class:`~acereason.schema.DataError` naming ``stages.<name>.<key>`` (``path``: the file it came from)."""
        where = f"stages.{name}"
        if not isinstance(data, Mapping):
            raise DataError(path, None, "must be a mapping of stage progress", field=where)
        unknown = [k for k in data if k not in _STAGE_KEYS]
        if unknown:
            raise DataError(path, None, f"unknown key in a stage's state (this trainer knows "
                                        f"{', '.join(_STAGE_KEYS)})", field=f"{where}.{unknown[0]}")
        values: dict[str, Any] = {}
        for key, (ok, what) in _STAGE_KEYS.items():
            if key not in data:
                if key not in _STAGE_DEFAULTS:
                    raise DataError(path, None, "missing from the checkpoint's stage state", field=f"{where}.{key}")
                values[key] = _STAGE_DEFAULTS[key]
                continue
            if not ok(data[key]):
                raise DataError(path, None, f"must be {what}, got {data[key]!r:.60}", field=f"{where}.{key}")
            values[key] = data[key]
        st = cls(**values)
        st.active = None if st.active is None else list(st.active)
        st.filtered, st.solved_this_epoch = dict(st.filtered), list(st.solved_this_epoch)
        st.history = {pid: (h[0], h[1]) for pid, h in data["history"].items()}
        st.load_dropped = None if st.load_dropped is None else dict(st.load_dropped)
        return st


@dataclass
class RunState:
    """The whole run's progress, as a checkpoint's ``state.json`` holds it."""

    stage_index: int = 0
    """Index of the stage being trained (the number of finished stages); +1 when a stage finishes."""
    global_step: int = 0
    """Optimizer steps over all stages; +1 after each step; names the checkpoints ``step-XXXXXXXX``."""
    optim_stage: str | None = None
    """The stage the checkpointed optimizer and scheduler belong to (resume reloads them only there)."""
    stages: dict[str, StageState] = field(default_factory=dict)
    """Each started stage's progress, by stage name, in the order the stages started."""

    def stage(self, name: str) -> StageState:
        """The stage's state, a fresh one when it has not started."""
        return self.stages.setdefault(name, StageState())

    def to_json(self) -> dict[str, Any]:
        """The checkpoint form (``optim_stage`` only once set, as before these types)."""
        out: dict[str, Any] = {"stage_index": self.stage_index, "global_step": self.global_step,
                               "stages": {n: s.to_json() for n, s in self.stages.items()}}
        if self.optim_stage is not None:
            out["optim_stage"] = self.optim_stage
        return out

    @classmethod
    def from_json(cls, data: Any, path: str | Path | None = None) -> RunState:
        """Read a checkpoint's ``state.json`` contents; bad keys raise :class:`~acereason.schema.DataError`
        naming them (as :meth:`StageState.from_json`)."""
        if not isinstance(data, Mapping):
            raise DataError(path, None, "a checkpoint's state must be a JSON object")
        known = ("stage_index", "global_step", "optim_stage", "stages")
        unknown = [k for k in data if k not in known]
        if unknown:
            raise DataError(path, None, f"unknown key in the checkpoint's state (this trainer knows "
                                        f"{', '.join(known)})", field=unknown[0])
        for key in ("stage_index", "global_step", "stages"):
            if key not in data:
                raise DataError(path, None, "missing from the checkpoint's state", field=key)
        for key in ("stage_index", "global_step"):
            if not _is_int(data[key]):
                raise DataError(path, None, f"must be an integer, got {data[key]!r:.60}", field=key)
        optim_stage = data.get("optim_stage")
        if optim_stage is not None and not isinstance(optim_stage, str):
            raise DataError(path, None, f"must be a stage name, got {optim_stage!r:.60}", field="optim_stage")
        if not isinstance(data["stages"], Mapping):
            raise DataError(path, None, "must be a mapping of stage name -> progress", field="stages")
        stages = {str(n): StageState.from_json(s, str(n), path) for n, s in data["stages"].items()}
        return cls(data["stage_index"], data["global_step"], optim_stage, stages)


__all__ = ["RunState", "StageState"]
