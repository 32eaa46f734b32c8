"""Per-step metrics to ``metrics.jsonl`` (one JSON object per step) and TensorBoard event files.

Metric names use fixed prefixes (``reward/``, ``groups/``, ``response/``, ``policy/``, ``prompts/``,
``verify/``, ``time/``, ``perf/``) so dashboards line up across runs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Appends metrics; on resume first drops lines past the checkpoint's step (they will be recomputed)."""

    def __init__(self, out_dir: Path, truncate_after: int | None = None) -> None:
        self.path = out_dir / "metrics.jsonl"
        if truncate_after is not None and self.path.exists():
            kept = []
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by kill -9
                    continue
                if rec.get("step", 0) <= truncate_after:
                    kept.append(line)
            tmp = self.path.with_name(".metrics.jsonl.tmp")
            tmp.write_text("".join(x + "\n" for x in kept))
            os.replace(tmp, self.path)
        elif truncate_after is None and self.path.exists():
            self.path.unlink()
        self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run
        self.tb = None
        try:
            from tensorboardX import SummaryWriter

            self.tb = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:  # optional: metrics.jsonl is the source of truth
            self.tb = None

    def log(self, metrics: dict[str, Any]) -> None:
        self.fh.write(json.dumps(metrics, sort_keys=True) + "\n")
        self.fh.flush()
        if self.tb is not None:
            step = int(metrics.get("step", 0))
            for k, v in metrics.items():
                if "/" in k and isinstance(v, int | float) and math.isfinite(v):
                    self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All complete metric lines of a run's ``metrics.jsonl``."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
