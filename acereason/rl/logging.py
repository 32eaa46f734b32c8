"""Per-step metrics to ``metrics.jsonl`` (one JSON object per step) and TensorBoard event files.

Metric names use fixed prefixes (``reward/``, ``groups/``, ``response/``, ``policy/``, ``prompts/``,
``verify/``, ``time/``, ``perf/``) so dashboards line up across runs. Both are flushed after every step, so
a ``kill -9`` loses neither file's last step.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from acereason.atomic import write_text


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
            write_text(self.path, "".join(x + "\n" for x in kept))
        elif truncate_after is None and self.path.exists():
            self.path.unlink()
        self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run
        self.tb = _open_events(out_dir / "tensorboard")

    def log(self, metrics: dict[str, Any]) -> None:
        self.fh.write(json.dumps(metrics, sort_keys=True) + "\n")
        self.fh.flush()
        if self.tb is not None:
            from tensorboardX.proto import event_pb2, summary_pb2

            values = [summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in metrics.items()
                      if "/" in k and isinstance(v, int | float) and math.isfinite(v)]
            self.tb.write_event(event_pb2.Event(wall_time=time.time(), step=int(metrics.get("step", 0)),
                                                summary=summary_pb2.Summary(value=values)))
            self.tb.flush()

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()


def _open_events(logdir: Path) -> Any:
    """A synchronous TensorBoard event-file writer, or None without tensorboardX.

    Not ``SummaryWriter``: it hands events to a background thread through a queue that its ``flush()``
    does not drain, so after ``kill -9`` the event file missed the steps that metrics.jsonl kept. Each
    step is one event with every scalar, written and flushed before the step returns.
    """
    try:
        from tensorboardX.event_file_writer import EventsWriter
    except ImportError:  # optional: metrics.jsonl is the source of truth
        return None
    logdir.mkdir(parents=True, exist_ok=True)
    return EventsWriter(str(logdir / "events"))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All complete metric lines of a run's ``metrics.jsonl``."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
