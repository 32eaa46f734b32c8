"""A run directory's record of its recipe, and the rules for resuming it.

A run records its recipe when it starts: ``recipe.json`` (the full validated recipe) and ``run.json`` (the
recipe's SHA-256 and the list of extensions). ``--resume`` compares the recipe it is given with the record
and refuses any change: a resumed run that silently trains on with another lr, reward or length is neither
the old run nor a new one. ``--extend`` allows exactly the changes that continue the same run: larger
``steps`` / ``epochs`` for the last started stage or a later one, and new stages appended at the end.
``base_dir``, ``train.device`` and ``train.sampler`` may differ (a moved run directory, another machine): they
say where the files are and what runs the run, not what it trains.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from acereason.atomic import write_json
from acereason.cli_util import OptionError
from acereason.digest import file_digest
from acereason.rl.checkpoint import latest_checkpoint
from acereason.rl.recipe import Recipe
from acereason.schema import DataError

IGNORED = ("base_dir", "train.device", "train.sampler")
_ABSENT = object()
_LENGTH = re.compile(r"stages\.(\d+)\.(steps|epochs)")


@dataclass(frozen=True)
class Change:
    """One field that differs between the recorded recipe and the given one."""

    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        if self.old is _ABSENT:
            return f"{self.field} added" + (f" ({self.new['name']!r})" if isinstance(self.new, dict) else "")
        if self.new is _ABSENT:
            return f"{self.field} removed"
        old, new = _short(self.old), _short(self.new)
        return self.field if old is None or new is None else f"{self.field} {old} -> {new}"


def _short(v: Any) -> str | None:
    """A value short enough to print in a one-line error, else None (only the field is named)."""
    text = f"{v:g}" if isinstance(v, float) else json.dumps(v)
    return text if len(text) <= 40 else None


def recipe_content(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain JSON data, every default filled in (what ``recipe.json`` records)."""
    return recipe.model_dump(mode="json")


def with_defaults(content: dict[str, Any]) -> dict[str, Any]:
    """A recorded recipe with the defaults of fields added since it was recorded filled in, so that a run
    started before a field existed still resumes (its record says nothing about the field; the default is what
    the code then does). A record that no longer validates is returned as it is (the diff names the fields)."""
    try:
        filled = Recipe.model_validate(content).model_dump(mode="json")
    except ValidationError:
        return content
    return _merge_missing(content, filled)


def _merge_missing(recorded: Any, filled: Any) -> Any:
    if isinstance(recorded, dict) and isinstance(filled, dict):
        return {**{k: v for k, v in filled.items() if k not in recorded},
                **{k: _merge_missing(v, filled.get(k)) for k, v in recorded.items()}}
    if isinstance(recorded, list) and isinstance(filled, list) and len(recorded) == len(filled):
        return [_merge_missing(a, b) for a, b in zip(recorded, filled, strict=True)]
    return recorded


def _comparable(content: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(content))
    for dotted in IGNORED:
        *parents, leaf = dotted.split(".")
        node = out
        for p in parents:
            node = node.get(p, {})
        node.pop(leaf, None)
    return out


def recipe_hash(content: dict[str, Any]) -> str:
    """SHA-256 of the recipe's content, without the fields a resume may change (:data:`IGNORED`)."""
    text = json.dumps(_comparable(content), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def diff(old: Any, new: Any, prefix: str = "") -> list[Change]:
    """Every differing leaf, named by its dotted path (``stages.1.lr``); list items of mappings (the stages)
    compare one by one, so an appended stage is one ``stages.N added`` change."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for k in [*old, *(k for k in new if k not in old)]:
            out += diff(old.get(k, _ABSENT), new.get(k, _ABSENT), f"{prefix}{k}.")
        return out
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(x, dict) for x in old + new):
        out = []
        for i in range(max(len(old), len(new))):
            out += diff(old[i] if i < len(old) else _ABSENT, new[i] if i < len(new) else _ABSENT, f"{prefix}{i}.")
        return out
    return [] if old == new else [Change(prefix.rstrip("."), old, new)]


def has_run(out: Path) -> bool:
    """Whether ``out`` holds a started run (a recipe record or a checkpoint)."""
    return (out / "run.json").exists() or (out / "recipe.json").exists() \
        or latest_checkpoint(out / "checkpoints") is not None


def _checkpoint_state(out: Path) -> dict[str, Any]:
    path = latest_checkpoint(out / "checkpoints")
    return json.loads((path / "state.json").read_text()) if path is not None else {"stages": {}}


def _allowed(c: Change, old_stages: list[dict[str, Any]], last_started: int) -> bool:
    """What ``--extend`` may change: a larger steps/epochs from the last started stage on; a new last stage."""
    m = _LENGTH.fullmatch(c.field)
    if m:
        ok_types = isinstance(c.old, int) and isinstance(c.new, int)
        return int(m.group(1)) >= last_started and ok_types and c.new > c.old
    m = re.fullmatch(r"stages\.(\d+)", c.field)
    return bool(m) and c.old is _ABSENT and int(m.group(1)) >= len(old_stages)


def check_resume(out: Path, recipe: Recipe, extend: bool = False) -> list[Change]:
    """Compare ``recipe`` with the run's record; return the (allowed) changes or raise one-line errors.

    Raises :class:`OptionError` when there is no run to resume and :class:`DataError` (naming every changed
    field) when the recipe differs in a way ``extend`` does not allow, or a data file's contents changed.
    """
    record = out / "recipe.json"
    if not record.exists():
        if latest_checkpoint(out / "checkpoints") is not None:
            raise DataError(out, None, "has checkpoints but no recipe.json, so the recipe cannot be checked; "
                                       "start a new --out")
        raise OptionError("--resume", f"nothing to resume in {out} (no run was started there); "
                                      "run without --resume to start one")
    check_data(out, recipe)
    old = with_defaults(json.loads(record.read_text(encoding="utf-8")))
    new = recipe_content(recipe)
    changes = diff(_comparable(old), _comparable(new))
    if not changes:
        return []
    state = _checkpoint_state(out)
    names = [s["name"] for s in old.get("stages", [])]
    started = [i for i, n in enumerate(names) if n in state.get("stages", {})]
    last_started = max(started, default=0)
    bad = [c for c in changes if not _allowed(c, old.get("stages", []), last_started)]
    if bad or not extend:
        listed = ", ".join(str(c) for c in changes)
        hint = (f"start a new --out, or restore the recipe recorded in {record}" if bad else
                "pass --extend to train the added steps, epochs or stages")
        raise DataError(out, None, f"recipe changed since the run started: {listed}; {hint}")
    return changes


def data_digests(recipe: Recipe) -> dict[str, str]:
    """Content digest of every data and replay file the recipe names, keyed as the recipe spells them (so a
    moved run directory with another ``base_dir`` still matches)."""
    return {f: file_digest(recipe.resolve(f)) for stage in recipe.stages for f in [*stage.data, *stage.replay_data]}


def check_data(out: Path, recipe: Recipe) -> None:
    """Refuse a resume whose data files were edited since the run recorded them: the prompts, answers or
    tests the run trains on would change under it without a word."""
    meta_path = out / "run.json"
    recorded = json.loads(meta_path.read_text()).get("data_digests", {}) if meta_path.exists() else {}
    now = data_digests(recipe)
    changed = [f for f, digest in recorded.items() if f in now and now[f] != digest]
    if changed:
        raise DataError(out, None, f"data changed since the run started: {', '.join(changed)} (contents differ); "
                                   "start a new --out, or restore the files")


def write_record(out: Path, recipe: Recipe, changes: list[Change] | None = None, step: int = 0) -> None:
    """Record the recipe at a run's start (``changes is None``) or after an extension."""
    content = recipe_content(recipe)
    meta_path = out / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"extensions": []}
    if changes is None:
        meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "extensions": []}
    elif changes:
        meta.setdefault("extensions", []).append({"at_step": step, "changes": [str(c) for c in changes],
                                                  "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    meta["recipe_sha256"] = recipe_hash(content)
    meta["data_digests"] = {**data_digests(recipe), **meta.get("data_digests", {})}  # first digests stay the record
    if changes is None or changes:
        write_json(out / "recipe.json", content, indent=1)
    write_json(meta_path, meta, indent=1)
