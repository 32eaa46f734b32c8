"""A rich progress line per stage (disabled when output is not a terminal)."""

from __future__ import annotations

import sys
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class StageProgress:
    def __init__(self, name: str, total: int | None, enabled: bool = True) -> None:
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                 disable=not (enabled and sys.stderr.isatty()), transient=False)
        self.task = self.progress.add_task(name, total=total, info="")

    def __enter__(self) -> StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def advance_to(self, step: int) -> None:
        self.progress.update(self.task, completed=step)

    def update(self, step: int, metrics: dict[str, Any]) -> None:
        info = (f"reward {metrics.get('reward/mean', 0):.3f}  len {metrics.get('response/length_mean', 0):.0f}"
                f"  mixed {metrics.get('groups/mixed_frac', 0):.2f}")
        self.progress.update(self.task, completed=step, info=info)
