"""Progress for long work: a rich bar on a terminal, plain log lines when output is not a terminal.

Cluster jobs, ``nohup`` runs and ``cmd > log`` see no bar (rich disables itself there), so without the plain
lines they see nothing for hours. :class:`Tracker` prints one line per ``every`` items (and at the end) to
stderr in that case, with the count, total, rate and the latest ``info`` text, flushed at once.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Tracker:
    """Track ``completed`` out of ``total`` (``None`` when unknown) for one named piece of work.

    ``every``: in plain mode, log when the count crosses a multiple of it (1 = every update, e.g. a
    training step; 1000 for records). ``initial``: work already done before this process (a resumed run),
    counted in the total but not in the rate. ``enabled=False`` silences both modes.
    """

    def __init__(self, description: str, total: int | None = None, *, every: int = 1, unit: str = "", initial: int = 0,
                 enabled: bool = True, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.description = description
        self.total = total
        self.every = max(1, every)
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty() if tty is None else tty
        self.completed = self._initial = self._logged = initial
        self.info = ""
        self._start = time.monotonic()
        self._bar: Progress | None = None
        if enabled and self.tty:
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), transient=False,
                                 console=Console(file=self.stream))
            self._task = self._bar.add_task(description, total=total, info="", completed=initial)

    def __enter__(self) -> Tracker:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled and exc_type is None and self.completed != self._logged:
            self._line()  # the final count; not on failure, where it would read as finished work

    def set_total(self, total: int | None) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def update(self, completed: int | None = None, *, advance: int = 0, info: str | None = None) -> None:
        """Set the count (or advance it) and the info text; log a plain line when one is due."""
        if completed is not None:
            self.completed = completed
        self.completed += advance
        if info is not None:
            self.info = info
        if self._bar is not None:
            self._bar.update(self._task, completed=self.completed, info=self.info)
        elif self.enabled and self.completed // self.every > self._logged // self.every:
            self._line()

    def _line(self) -> None:
        self._logged = self.completed
        elapsed = time.monotonic() - self._start
        of = f"/{self.total}" if self.total is not None else ""
        unit = f" {self.unit}" if self.unit else ""
        done = self.completed - self._initial
        rate = f", {done / elapsed:.3g}{unit}/s" if elapsed > 0 and done > 0 else ""
        info = f"  {self.info}" if self.info else ""
        print(f"[{self.description}] {self.completed}{of}{unit} ({elapsed:.0f}s{rate}){info}",
              file=self.stream, flush=True)
