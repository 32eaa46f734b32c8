"""Shards in worker processes, with their progress relayed to the parent while they run.

The workers are spawned (nothing is shared implicitly), so a shard's progress travels through one queue
the pool hands each worker at start: a worker batches its counts (:class:`QueueProgress`) and the parent
drains the queue while it waits for the shards (:func:`run_in_workers`).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any

from acereason.schema import DataError

Progress = Callable[[int, int], None]
"""``progress(finished, kept)``: this many more records finished, of which this many were kept."""

# The parent's progress queue, in a worker process (set by _init_worker); None in the parent itself.
_QUEUE: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _QUEUE
    _QUEUE = progress_queue


class QueueProgress:
    """Counts finished and kept records in a worker and sends the counts to the parent at most every
    0.2 s (one queue message per record would cost more than a fast filter step)."""

    def __init__(self, sink: Any) -> None:
        self.sink, self.n, self.kept, self.last = sink, 0, 0, time.monotonic()

    def __call__(self, kept: bool) -> None:
        self.n += 1
        self.kept += kept
        if time.monotonic() - self.last >= 0.2:
            self.flush()

    def add(self, done: int, kept: int) -> None:
        """Report ``done`` records at once (a shard that was already finished)."""
        self.sink.put((done, kept))

    def flush(self) -> None:
        if self.n:
            self.sink.put((self.n, self.kept))
        self.n, self.kept, self.last = 0, 0, time.monotonic()


def worker_progress() -> QueueProgress | None:
    """In a worker process: a counter that reports to the parent; None in the parent."""
    return QueueProgress(_QUEUE) if _QUEUE is not None else None


class WorkerDataError(DataError):
    """A :class:`DataError` from a worker process, carried back as its one-line text (DataError's
    constructor arguments do not survive pickling, which would turn a bad input row into a traceback)."""

    def __init__(self, text: str) -> None:
        ValueError.__init__(self, text)
        self.path = self.line = self.field = None


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    try:
        return fn(*args)
    except DataError as err:
        raise WorkerDataError(str(err)) from None


def run_in_workers(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int,
                   progress: Progress | None) -> list[Any]:
    """``[fn(*args) for args in jobs]`` in up to ``workers`` spawned processes (``fn`` and ``args``
    picklable), relaying what the workers report to ``progress`` while they run."""
    mp = get_context("spawn")
    progress_queue = mp.Queue()
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp, initializer=_init_worker,
                             initargs=(progress_queue,)) as ex:
        futures = [ex.submit(_call, fn, args) for args in jobs]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(progress_queue, progress)
        results = [f.result() for f in futures]
    _drain(progress_queue, progress)  # the workers have exited: everything they sent is readable now
    return results


def _drain(progress_queue: Any, progress: Progress | None) -> None:
    while True:
        try:
            done, kept = progress_queue.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(done, kept)
