"""The untrusted side's process plumbing, for :mod:`.harness`: the pristine-state snapshot a reused stdin
test process is checked against, U's reaping loop, CPU limits and waits, how a test process ends, and the
per-test stdio.

Like :mod:`.harness`, everything here executes in the judged program's processes and is not trusted.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import fcntl
import gc
import io
import math
import os
import resource
import select
import signal
import sys
import threading
import time
from typing import Any

from . import wire


class Snapshot:
    """Process-wide state a stdin or functional test can change, taken when a test process starts.

    :meth:`pristine` after a test restores what can be restored exactly (recursion limit, thread stack
    size, garbage collector, umask, decimal context, int digit limit, switch interval) and says whether
    everything else is as it was: no thread started (ever), no child process left, the judge's own
    ``sys.std*`` objects, the same fds, the same signal
    handlers, timers, rlimits, environment, ``sys.argv``, process group, atexit handlers (a functional
    test's call that registers one leaves them pending), import path, warning filters,
    trace/profile hooks, builtins, a heap not grown by more than 64 MiB, and every module it knew with
    the same set of attributes (rebinding an existing attribute of an imported module, or mutating an
    object a module holds, is the one kind of change this does not see). If not, the process exits and
    the next test gets a newly forked one, so each test sees what a fresh process would.
    """

    _SIGNALS = tuple(s for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP))
    _LIMITS = tuple(getattr(resource, n) for n in ("RLIMIT_AS", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_FSIZE",
                                                   "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_DATA"))

    def __init__(self) -> None:
        import decimal
        import warnings

        self.decimal, self.warnings = decimal, warnings
        self.recursion = sys.getrecursionlimit()
        self.gc = (gc.isenabled(), gc.get_threshold())
        self.umask = os.umask(0o077)
        os.umask(self.umask)
        self.digits = sys.get_int_max_str_digits()
        self.switch = sys.getswitchinterval()
        self.fds = _open_fds()
        self.handlers = {s: signal.getsignal(s) for s in self._SIGNALS}
        self.limits = {r: resource.getrlimit(r) for r in self._LIMITS}
        self.environ = dict(os.environ)
        self.path, self.meta_path, self.path_hooks = list(sys.path), list(sys.meta_path), list(sys.path_hooks)
        self.filters = list(warnings.filters)
        self.hooks = (sys.displayhook, sys.excepthook, sys.unraisablehook, sys.breakpointhook)
        self.builtins = dict(vars(builtins))
        self.modules = {name: (m, len(vars(m))) for name, m in list(sys.modules.items()) if m is not None}
        self.me = str(os.getpid())
        self.argv, self.pgrp = list(sys.argv), os.getpgrp()
        self.exit_funcs = atexit._ncallbacks()
        self.data_pages = _data_pages()

    def pristine(self) -> bool:
        try:
            return self._restore() and self._unchanged()
        except BaseException:
            return False

    def _restore(self) -> bool:
        sys.setrecursionlimit(self.recursion)
        threading.stack_size(0)
        enabled, threshold = self.gc
        if enabled:
            gc.enable()
        gc.set_threshold(*threshold)
        os.umask(self.umask)
        sys.set_int_max_str_digits(self.digits)
        sys.setswitchinterval(self.switch)
        self.decimal.setcontext(self.decimal.Context())
        return True

    def _unchanged(self) -> bool:
        if threading.active_count() != 1 or _threads_shut_down:
            return False
        if sys.gettrace() is not None or sys.getprofile() is not None:
            return False
        # A replaced sys.std* (say sys.stdin = open(0)) may close its fd whenever it is collected.
        std = (sys.stdin, sys.stdout, sys.stderr)
        if std != (sys.__stdin__, sys.__stdout__, sys.__stderr__) or any(
                a is not b for a, b in zip(std, _streams, strict=True)):
            return False
        if any(signal.getitimer(t) != (0.0, 0.0) for t in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL)):
            return False
        procs = [p for p in os.listdir("/proc") if p.isdigit() and p not in ("1", self.me)]
        if len(procs) != 1:  # L only: no child, daemon or zombie of this process
            return False
        if _open_fds() != self.fds:
            return False
        if any(signal.getsignal(s) is not h for s, h in self.handlers.items()):
            return False
        if any(resource.getrlimit(r) != v for r, v in self.limits.items()):
            return False
        if dict(os.environ) != self.environ or list(self.warnings.filters) != self.filters:
            return False
        if sys.path != self.path or sys.meta_path != self.meta_path or sys.path_hooks != self.path_hooks:
            return False
        if (sys.displayhook, sys.excepthook, sys.unraisablehook, sys.breakpointhook) != self.hooks:
            return False
        if sys.argv != self.argv or os.getpgrp() != self.pgrp or atexit._ncallbacks() != self.exit_funcs:
            return False
        if _data_pages() - self.data_pages > _HEAP_GROWTH_PAGES:  # a heap grown for good (fragmentation)
            return False  # would leave the next test less room under RLIMIT_AS than a fresh process has
        b = vars(builtins)
        if len(b) != len(self.builtins) or any(b.get(k, b) is not v for k, v in self.builtins.items()):
            return False
        for name, (mod, n) in self.modules.items():
            if sys.modules.get(name) is not mod or len(vars(mod)) != n:
                return False
        return True


_HEAP_GROWTH_PAGES = (64 << 20) // os.sysconf("SC_PAGE_SIZE")


def _data_pages() -> int:
    """The process's data + stack size in pages (``/proc/self/statm``, field 6)."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[5])


def _open_fds() -> set[int]:
    """The caller's open fds (but the one listing them: the lowest free fd, as listdir's own was)."""
    fds = {int(fd) for fd in os.listdir("/proc/self/fd")}
    probe = os.open("/dev/null", os.O_RDONLY)
    os.close(probe)
    return fds - {probe}


# --------------------------------------------------------------------------- U: the namespace's init
def init_loop(lpid: int, res_fd: int) -> None:
    """U: reap every process until L ends, then report how it ended (L's wait status and CPU seconds)."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return
        if pid == lpid:
            with contextlib.suppress(OSError):
                wire.write_msg(res_fd, {"k": "gone", "status": status,
                                        "cpu": round(usage.ru_utime + usage.ru_stime, 4)})
            return


# --------------------------------------------------------------------------- processes and limits
def sweep_namespace(within_s: float = 1.0) -> None:
    """L, inside the run's PID namespace: SIGKILL whatever a test left running (daemons, children) and
    wait until init has reaped it, so that the next test's process finds nothing of an earlier one.
    ``kill(-1)`` reaches every process of the namespace but its init and the caller, nothing outside."""
    if os.getuid() == 0 or os.getppid() != 1:
        return  # not the unprivileged runner of a PID namespace (whose parent is its init): never sweep
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        return  # ESRCH: nothing was left
    me, deadline = str(os.getpid()), time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            left = [p for p in os.listdir("/proc") if p.isdigit() and p not in ("1", me)]
        except OSError:
            return
        if not left:
            return
        time.sleep(0.0005)


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _die_with_parent() -> None:
    from . import sandbox

    sandbox.die_with_parent()


def limit_cpu(limit: float, lower_hard: bool = False) -> None:
    """Stop the caller once it has used ``limit`` more CPU seconds.

    ``SIGPROF`` from a CPU-time interval timer at the limit itself (precise: not rounded to seconds);
    as a backstop for a program that catches or ignores it, ``RLIMIT_CPU``'s ``SIGXCPU`` a second or two
    later and, with ``lower_hard``, its ``SIGKILL`` a second after that. Neither signal reaches a PID
    namespace's init, which is why the program never runs as one.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    now = usage.ru_utime + usage.ru_stime
    with contextlib.suppress(ValueError, OSError):
        signal.setitimer(signal.ITIMER_PROF, max(limit, 0.001))
    soft = math.ceil(now + limit) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    new_hard = soft + 1 if lower_hard else hard
    if hard != resource.RLIM_INFINITY:
        new_hard = min(new_hard, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (soft, new_hard))


def release_cpu() -> None:
    """Undo :func:`limit_cpu` (L between tests: its soft limit back to the submission's hard one)."""
    with contextlib.suppress(ValueError, OSError):
        signal.setitimer(signal.ITIMER_PROF, 0)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def wait_child(pid: int, wall_s: float) -> tuple[int, float, bool]:
    """Wait for child ``pid`` for at most ``wall_s`` (then SIGKILL it); return (status, CPU s, timed out)."""
    timed_out = False
    try:
        pfd: int | None = os.pidfd_open(pid)
    except (OSError, AttributeError):
        pfd = None  # no pidfd (old kernel): the judge's wall deadline is the only wall limit
    if pfd is not None:
        try:
            poller = select.poll()
            poller.register(pfd, select.POLLIN)
            deadline = time.monotonic() + wall_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    break
                if poller.poll(int(left * 1000) + 1):
                    break
        finally:
            os.close(pfd)
    _, status, usage = os.wait4(pid, 0)
    return status, usage.ru_utime + usage.ru_stime, timed_out


def exit_status(exc: SystemExit) -> int:
    """The process exit status Python gives ``raise SystemExit(code)``."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


_threads_shut_down = False


def finalise(code: int, ns: dict[str, Any]) -> int:
    """What the interpreter does at exit, in its order: join non-daemon threads, run atexit handlers,
    flush ``sys.stdout`` (a failure makes the status 120), then release the program's globals (files
    it left open are flushed by their finalisers; no full collection - objects only a reference cycle
    keeps alive are not finalised, which costs a millisecond per test for a case no idiom needs)."""
    global _threads_shut_down
    with contextlib.suppress(BaseException):
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None and (threading.active_count() > 1 or getattr(threading, "_threading_atexits", 0)):
            _threads_shut_down = True  # once only per process: it is not reused for another test
            shutdown()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    failed = _flush() is not None
    with contextlib.suppress(BaseException):
        ns.clear()
        _flush()
    return 120 if failed and code == 0 else code


# --------------------------------------------------------------------------- stdio plumbing
_streams: tuple[Any, ...] = ()  # the sys.std* objects _stdio made, to tell whether a test replaced them


def _stdio(in_path: str, out_path: str) -> None:
    """Point fds 0/1/2 at ``in_path``, a fresh ``out_path`` and /dev/null, and ``sys.std*`` at new
    streams on them (as an interpreter starting on those fds would have: ``.buffer`` works, ``close()``
    leaves the fd open). Robust to any of 0/1/2 having been closed before."""
    fds = [os.open(in_path, os.O_RDONLY),
           os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600),
           os.open(os.devnull, os.O_WRONLY)]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in fds]
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding="utf-8", errors="surrogateescape")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                                   encoding="utf-8", errors="surrogateescape")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                                   encoding="utf-8", errors="backslashreplace", line_buffering=True)
    global _streams
    _streams = (sys.stdin, sys.stdout, sys.stderr)


def _flush() -> BaseException | None:
    """Flush ``sys.stdout`` then ``sys.stderr``; return the stdout error, if any."""
    err = None
    for name in ("stdout", "stderr"):
        try:
            stream = getattr(sys, name)
            if stream is not None and not stream.closed:
                stream.flush()
        except BaseException as exc:
            if name == "stdout":
                err = exc
    return err


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
