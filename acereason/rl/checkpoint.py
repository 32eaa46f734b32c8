"""Checkpoints that make resume exact: model, optimizer, scheduler, RNG states and trainer state.

A checkpoint is a directory ``step-XXXXXXXX`` written under a temporary name and renamed only when
complete, then ``LATEST`` (a one-line file, itself replaced atomically) points at it, so a ``kill -9``
at any moment leaves either the previous or the new checkpoint, never a half one. The last N are kept.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acereason.atomic import atomic_dir, write_text


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states."""
    out: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                           "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(root: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``root/step-<step>`` atomically and point ``root/LATEST`` at it; prune older ones."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    with atomic_dir(final) as tmp:  # .tmp-step-XXXXXXXX-<pid>, fsynced, renamed when complete
        torch.save(model.state_dict(), tmp / "model.pt")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler else None,
                    "rng": rng_states()}, tmp / "optim.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))
    write_text(root / "LATEST", final.name + "\n")
    existing = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in existing[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-step-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    """The directory ``LATEST`` points at, or None when there is no complete checkpoint."""
    pointer = root / "LATEST"
    if not pointer.exists():
        return None
    path = root / pointer.read_text().strip()
    return path if (path / "state.json").exists() else None


def load_checkpoint(path: Path, model: torch.nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load model weights in place; return ``(trainer_state, {"optimizer", "scheduler", "rng"})``."""
    model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
    optim = torch.load(path / "optim.pt", map_location="cpu", weights_only=False)
    state = json.loads((path / "state.json").read_text())
    return state, optim
