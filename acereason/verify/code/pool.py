"""The judge's side of the sandbox: worker processes, one run's protocol, and the worker pool.

A :class:`Worker` owns one zygote (see :mod:`.zygote`): a fresh interpreter that has imported the
harness and isolated itself once. For each submission the worker creates four pipes, hands the far
ends to the zygote (``SCM_RIGHTS``), which forks the run; the judge then writes the job (program +
test inputs) to the program and the ``check`` sources to the trusted check runner, and reads results
back under a wall deadline per test. Expected outputs stay here; results are compared here
(:mod:`.compare`). When the run is decided - first failure, all tests done, deadline, or the program
dying - the zygote kills and reaps the run's whole process tree and removes its directory before the
verdict is returned.

:class:`JudgePool` holds one worker per core and hands them to threads; :func:`default_pool` is the
process-wide pool used by :func:`acereason.verify.code.judge`, closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from . import wire
from .session import WALL_FACTOR, WALL_SLACK_S, Checker, Limits, RunResult, Session

CODE_DIR = os.path.dirname(os.path.abspath(__file__))
_BOOT = ("import sys, types; pkg = types.ModuleType('_acereason_sandbox'); pkg.__path__ = [sys.argv[3]]; "
         "sys.modules['_acereason_sandbox'] = pkg; from _acereason_sandbox import zygote; zygote.main()")



def _ro_paths() -> list[str]:
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]
    paths += [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix]
    return [p for p in dict.fromkeys(paths) if p and os.path.exists(p)]


class Worker:
    """One zygote process and the protocol to judge one submission in it."""

    def __init__(self, isolate: bool = True) -> None:
        self.isolate = isolate
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.layers: dict[str, bool] = {}
        self.notes: list[str] = []
        self.seq = 0
        self.pending = 0
        self.spare: tuple[int, int, int, int] | None = None
        self.spare_pid: int | None = None
        # One unprivileged uid per worker (never shared with another worker or judge process), used by
        # the program and by its run's supervisor; RLIMIT_NPROC counts per uid, so it binds per run.
        self.uid = self.tuid = 200_000 + secrets.randbelow(1 << 30)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the zygote and wait for its hello (which lists the active isolation layers)."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"judge_pid": os.getpid(), "ro_paths": _ro_paths(), "isolate": self.isolate, "runs_size_mb": 1024}
        cmd = ["/bin/sh", "-c", 'ulimit -s 1048576 2>/dev/null; exec "$@"', "sh", sys.executable, "-I", "-c",
               _BOOT, str(child.fileno()), json.dumps(config), CODE_DIR]
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        self.proc = subprocess.Popen(cmd, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr, env=env,
                                     start_new_session=True, close_fds=True)
        child.close()
        self.sock = parent
        hello = self._recv(timeout=30.0)
        if not hello or hello.get("k") != "hello":
            raise RuntimeError(f"sandbox worker failed to start: {self.stderr_tail()}")
        self.layers, self.notes = hello["layers"], hello["notes"]

    def stderr_tail(self) -> str:
        try:
            self.stderr.seek(0, os.SEEK_END)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - 2000))
            return self.stderr.read().decode("utf-8", "replace").strip()
        except (OSError, AttributeError):
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        """Stop the zygote; it kills any run still going. Idempotent."""
        if self.spare is not None:
            for fd in self.spare:
                os.close(fd)
            self.spare = None
        self.spare_pid = None
        self.pending = 0
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None
        if getattr(self, "stderr", None) is not None:
            self.stderr.close()
            self.stderr = None

    def _recv(self, timeout: float) -> dict | None:
        assert self.sock is not None
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, OSError):
            return None
        return json.loads(data) if data else None

    # ------------------------------------------------------------------ one submission
    def _prepare(self) -> None:
        """Ask the zygote to fork the next run now (a warm spare waiting for its job)."""
        assert self.sock is not None
        self.seq += 1
        fds = [os.pipe() for _ in range(4)]  # job, res, tjob, tres
        (job_r, job_w), (res_r, res_w), (tjob_r, tjob_w), (tres_r, tres_w) = fds
        req = {"op": "spawn", "run": self.seq, "uid": self.uid, "tuid": self.tuid}
        try:
            socket.send_fds(self.sock, [json.dumps(req).encode()], [job_r, res_w, tjob_r, tres_w])
        finally:
            for fd in (job_r, res_w, tjob_r, tres_w):
                os.close(fd)
        self.spare = (job_w, res_r, tjob_w, tres_r)
        self.pending += 1

    def _next_reply(self) -> str:
        """Consume one outstanding reply of the zygote (the spare run's pid comes with its "spawned")."""
        reply = self._recv(timeout=30.0)
        self.pending -= 1
        if not reply or reply.get("k") not in ("spawned", "ended"):
            raise RuntimeError(f"sandbox worker stopped answering: {self.stderr_tail()}")
        if reply["k"] == "spawned":
            self.spare_pid = int(reply["pid"])
        return reply["k"]

    def _settle(self) -> None:
        """Consume the zygote's outstanding replies."""
        while self.pending:
            self._next_reply()

    def run(self, code: str, tests: Sequence[Any], fn_name: str | None, limits: Limits,
            all_tests: bool, checker: Checker | None) -> RunResult:
        """Judge ``code`` on ``tests`` (TestCase objects); return the per-test outcomes."""
        if not self.alive():
            self.close()
            self.start()
        if self.spare is None:
            self._prepare()
        self._settle()
        rpid, self.spare_pid = self.spare_pid, None
        if rpid is None or self.spare is None:
            raise RuntimeError("sandbox worker has no run ready")
        job_w, res_r, tjob_w, tres_r = self.spare
        self.spare = None
        session = Session(tests, limits, all_tests, checker, res_r, tres_r)
        # The runner's own wall limit per test comes half a second before the judge's deadline, so the
        # run names the test and goes on to the next one under all_tests.
        wall_s = limits.time_limit_s * WALL_FACTOR + WALL_SLACK_S - 0.5
        lim = {"time_limit_s": limits.time_limit_s, "memory_mb": limits.memory_mb, "nproc": limits.nproc,
               "output_mb": limits.output_mb, "wall_s": wall_s}
        ujob = {"code": code, "fn_name": fn_name, "limits": lim,
                "tests": [{"t": t.testtype, "in": "" if t.testtype == "check" else t.input} for t in tests]}
        tjob = {"fn_name": fn_name, "all_tests": all_tests, "memory_mb": limits.memory_mb,
                "checks": [{"i": i, "src": t.input} for i, t in enumerate(tests) if t.testtype == "check"]}
        try:
            session.drive({job_w: wire.frame(ujob), tjob_w: wire.frame(tjob)})
        finally:
            for fd in (job_w, res_r, tjob_w, tres_r):
                with contextlib.suppress(OSError):
                    os.close(fd)
            # Kill this run and fork the next spare (the zygote answers "ended", then "spawned").
            self.sock.sendall(json.dumps({"op": "end", "pid": rpid, "upid": session.upid}).encode())
            self.pending += 1
            self._prepare()
        # The verdict is returned only once the run's whole process tree is dead and reaped (the
        # zygote answers "ended" after reaping R and U, and U's reaping empties its PID namespace).
        # Forking the next spare still overlaps with the caller: its "spawned" stays pending.
        while self._next_reply() != "ended":
            pass
        return session.result

    def sync(self) -> None:
        """Wait for the zygote's outstanding replies (the next spare's "spawned", with its pid)."""
        if self.sock is not None and self.pending:
            self._settle()


# ---------------------------------------------------------------------------- the pool
class JudgePool:
    """``size`` workers (default: one per core), each judging one submission at a time."""

    def __init__(self, size: int | None = None, isolate: bool = True) -> None:
        self.size = max(1, size or cores())
        self.isolate = isolate
        self._idle: queue.LifoQueue[Worker] = queue.LifoQueue()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._warned = False
        self._pid = os.getpid()

    def _forget_if_forked(self) -> None:
        """In a forked child the workers belong to the parent: start afresh, never touch theirs."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._all = []
            self._idle = queue.LifoQueue()

    def _take(self) -> Worker:
        with self._lock:
            self._forget_if_forked()
            if self._closed:
                raise RuntimeError("the judge pool is closed")
            if self._idle.empty() and len(self._all) < self.size:
                w = Worker(self.isolate)
                self._all.append(w)
                return w
        return self._idle.get()

    def _give(self, w: Worker) -> None:
        self._idle.put(w)

    def run(self, code: str, tests: Sequence[Any], fn_name: str | None, limits: Limits, all_tests: bool,
            checker: Checker | None) -> RunResult:
        """Run one submission on a free worker (restarting a worker that died, once)."""
        w = self._take()
        try:
            for attempt in (1, 2):
                try:
                    result = w.run(code, tests, fn_name, limits, all_tests, checker)
                    self._warn_layers(w)
                    return result
                except (RuntimeError, OSError, ValueError) as err:
                    w.close()
                    if attempt == 2:
                        raise RuntimeError(f"sandbox failure: {err}") from err
            raise AssertionError("unreachable")
        finally:
            self._give(w)

    def _warn_layers(self, w: Worker) -> None:
        if self._warned or not w.layers or all(w.layers.values()):
            return
        self._warned = True
        off = [k for k, v in w.layers.items() if not v]
        warnings.warn(f"code judge: isolation layers unavailable: {', '.join(off)} ({'; '.join(w.notes)}); "
                      "see docs/verify-code.md for what remains isolated", RuntimeWarning, stacklevel=3)

    def layers(self) -> dict[str, bool]:
        """The isolation layers active in this pool's workers (starts one worker if none yet)."""
        w = self._take()
        try:
            if not w.alive():
                w.start()
            return dict(w.layers)
        finally:
            self._give(w)

    def close(self) -> None:
        """Stop every worker (and so every run). Safe to call twice."""
        with self._lock:
            self._forget_if_forked()
            self._closed = True
            workers, self._all = self._all, []
        for w in workers:
            w.close()

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: JudgePool | None = None
_default_lock = threading.Lock()


def default_pool() -> JudgePool:
    """The process-wide pool (one worker per core), created on first use and closed at exit."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = JudgePool()
            atexit.register(_default.close)
        return _default


def shutdown_default_pool() -> None:
    """Close the process-wide pool now (a later judge call starts a new one)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
            _default = None


def cores() -> int:
    """Cores available to this process (affinity-aware): the default pool size."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
