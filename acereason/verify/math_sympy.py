"""Pre-started sympy worker processes, killed on timeout: the last layer of the math verifier.

Why processes: sympy's ``simplify`` can run for minutes on a short input, and Python cannot stop a
running computation in its own thread. ``signal.alarm`` (math-verify's timeout) only works in the main
thread; elsewhere it fails, which silently scored every sample 0 in other trainers. A separate
process can always be killed. Workers are plain ``subprocess`` children running
``math_sympy_worker.py`` (not ``multiprocessing``), so they work from any thread, inside daemonic or
``ProcessPoolExecutor`` workers, under pytest, and after ``fork``:

* the pool starts lazily (or eagerly via :func:`warm_up`), at most ``max_workers`` processes; a job's
  time limit covers everything it waits for, so a verification is bounded even on a cold start;
* a forked child forgets its parent's workers (``os.register_at_fork``) and starts its own;
* workers are killed at interpreter exit, and exit by themselves when their parent's pipe closes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

WORKER_SCRIPT = Path(__file__).with_name("math_sympy_worker.py")
STARTUP_TIMEOUT_S = 60.0  # how long warm_up(wait=True) waits for a worker's sympy import


class SympyTimeout(Exception):
    """The job overran its time limit; its worker was killed."""


class SympyFailure(Exception):
    """The worker could not start or crashed: an internal failure, reported as ``error``."""


class SympyRaised(Exception):
    """sympy itself raised on this input (e.g. ``log`` base 1): it could not decide."""


class SympyMemory(Exception):
    """sympy ran out of the worker's memory cap on this input."""


class _Worker:
    """One worker process and its pipes. Used by one thread at a time (the pool hands it out)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-u", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True,
        )
        self.ready = False
        self._buf = b""

    def _read_exact(self, n: int, deadline: float) -> bytes:
        # Bytes read before a timeout stay in self._buf, so a message split across calls is not lost.
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SympyTimeout("timed out")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise SympyTimeout("timed out")
            chunk = os.read(fd, max(n - len(self._buf), 65536))
            if not chunk:
                raise SympyFailure("worker exited")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def recv(self, deadline: float) -> Any:
        head = self._read_exact(4, deadline)
        (n,) = struct.unpack("<I", head)
        try:
            return pickle.loads(self._read_exact(n, deadline))
        except SympyTimeout:
            self._buf = head + self._buf  # put the header back: the message is read whole next time
            raise

    def send(self, obj: Any) -> None:
        data = pickle.dumps(obj)
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError) as err:
            raise SympyFailure(f"worker pipe closed: {err}") from None

    def wait_ready(self, deadline: float) -> None:
        """Wait (until ``deadline``) for the worker's "ready": its sympy import is done."""
        if not self.ready:
            if self.recv(deadline) != "ready":
                raise SympyFailure("worker did not start")
            self.ready = True

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for fh in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                fh.close()  # type: ignore[union-attr]

    def abandon(self) -> None:
        """In a forked child: close our copies of the parent's pipes without touching its process."""
        for fh in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                os.close(fh.fileno())  # type: ignore[union-attr]
        self.proc.returncode = 0  # so Popen.__del__ never waits on a process that is not ours


class SympyPool:
    """A bounded set of sympy worker processes shared by all threads of this process."""

    def __init__(self, max_workers: int | None = None) -> None:
        # Up to two per core (at least 2): sympy jobs are rare, and a thread waiting for a busy worker
        # spends its own time budget.
        self.max_workers = max_workers or max(2, min(2 * (os.cpu_count() or 1), 8))
        self._init_state()

    def _init_state(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._pid = os.getpid()

    def after_fork_in_child(self) -> None:
        for w in self._all:
            w.abandon()
        self._init_state()

    def start(self, n: int = 1, wait: bool = False) -> None:
        """Start up to ``n`` workers now; with ``wait``, return once they have imported sympy."""
        with self._cond:
            while len(self._all) < min(n, self.max_workers):
                w = _Worker()
                self._all.append(w)
                self._idle.append(w)
            starting = [w for w in self._idle if not w.ready]
            for w in starting:
                self._idle.remove(w)
        for w in starting:  # taken out of the idle list, so no other thread reads their pipes meanwhile
            ok = True
            try:
                if wait:
                    w.wait_ready(time.monotonic() + STARTUP_TIMEOUT_S)
            except (SympyTimeout, SympyFailure):
                ok = False
            self._release(w, ok)

    def _acquire(self, deadline: float) -> _Worker:
        with self._cond:
            while True:
                if self._idle:
                    # Prefer a worker that has finished starting.
                    ready = [w for w in self._idle if w.ready]
                    w = ready[-1] if ready else self._idle[-1]
                    self._idle.remove(w)
                    return w
                if len(self._all) < self.max_workers:
                    w = _Worker()
                    self._all.append(w)
                    return w
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SympyTimeout("no free sympy worker")
                self._cond.wait(left)

    def _release(self, w: _Worker, ok: bool) -> None:
        if ok:
            with self._cond:
                self._idle.append(w)
                self._cond.notify()
            return
        with self._cond:
            if w in self._all:
                self._all.remove(w)
        # Kill and replace off the caller's path: reaping a process and starting an interpreter take
        # tens of milliseconds on a loaded machine, which must not count against the verification.
        threading.Thread(target=self._replace, args=(w,), daemon=True).start()

    def _replace(self, dead: _Worker) -> None:
        dead.kill()
        if os.getpid() != self._pid:
            return
        with self._cond:
            if len(self._all) >= self.max_workers:
                return
            try:
                w = _Worker()
            except OSError:
                return
            self._all.append(w)
            self._idle.append(w)
            self._cond.notify()

    def run(self, job: tuple, timeout_s: float) -> Any:
        """Run one job within ``timeout_s`` (waiting for a free, started worker included).

        Raises SympyTimeout when the budget runs out: if the job itself overran, its worker is killed
        and replaced; a worker that is merely still importing sympy is kept. Raises SympyRaised or
        SympyMemory when sympy failed on the input, SympyFailure when the worker died.
        """
        if os.getpid() != self._pid:  # forked without the at-fork hook (defensive)
            self.after_fork_in_child()
        deadline = time.monotonic() + timeout_s
        w = self._acquire(deadline)
        ok, sent = True, False
        try:
            w.wait_ready(deadline)
            w.send(job)
            sent = True
            status, value = w.recv(deadline)
        except SympyTimeout:
            ok = not sent
            what = f"sympy job exceeded {timeout_s:g} s; worker killed" if sent else \
                "no sympy worker ready within the time budget"
            raise SympyTimeout(what) from None
        except SympyFailure:
            ok = False
            raise
        finally:
            self._release(w, ok)
        if status == "memory":
            raise SympyMemory(value)
        if status == "raised":
            raise SympyRaised(value)
        if status != "ok":
            raise SympyFailure(f"unexpected reply {status!r}")
        return value

    def shutdown(self) -> None:
        """Kill every worker of this process (registered with ``atexit``)."""
        if os.getpid() != self._pid:
            return
        with self._cond:
            workers, self._all, self._idle = self._all, [], []
        for w in workers:
            w.kill()


POOL = SympyPool()
atexit.register(POOL.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL.after_fork_in_child)


def sympy_equal(a: tuple, b: tuple, timeout_s: float) -> bool | None:
    """Ask a sympy worker whether two expression ASTs are equal (None: sympy could not decide)."""
    return POOL.run(("equal", a, b), timeout_s)


def warm_up(n: int = 1, wait: bool = False) -> None:
    """Start ``n`` sympy workers ahead of need; with ``wait``, block until they are ready (~1 s once).

    A job's time budget includes waiting for a worker that is still importing sympy, so callers that
    grade a batch (the CLI, :func:`verify_batch`, a trainer's reward setup) warm up with ``wait=True``
    to keep the first hard cases from timing out.
    """
    POOL.start(n, wait=wait)
