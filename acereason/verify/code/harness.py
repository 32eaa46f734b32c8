"""The untrusted side: runs one submission's tests inside the sandbox.

Everything in this module executes in the judged program's processes, so nothing here is trusted by
the judge: it only *reports* (program output, encoded return values, exceptions, how a process ended)
and the judge decides. It never receives expected outputs or ``check`` sources.

Processes (all inside the run's PID namespace)::

    U  PID 1: a minimal init (:func:`init_loop`); reaps, and reports how L ended
    `- L  the test runner (:class:`Runner`): loads a call-based program once, serves ``check`` calls
       `- C  one per stdin / functional test, forked from L: the test runs in a fresh process

The program never runs as PID 1: the kernel drops default-action signals sent to a namespace's init,
so a CPU-limit signal (``SIGPROF`` from the per-test CPU timer, ``SIGXCPU`` from ``RLIMIT_CPU``) would
never end it. Each stdin/functional test runs in its own process C, forked from L, with its own fds
0/1/2 on that test's files and its own ``sys.std*``: whatever a test does to stdin/stdout/stderr, fds,
the recursion limit, the thread stack size, atexit, signals or module state dies with it, and C ends
the way a fresh interpreter would (non-daemon threads joined, atexit handlers run, ``sys.stdout``
flushed - exit status 120 if that fails; ``os._exit`` loses unflushed output). For ``check`` tests L
serves the trusted check runner's calls (:mod:`.checker`) itself: resolve the candidate, look up a
program-level name, call a handle, read an attribute.

Messages to the judge (one frame each): ``{"k": "ready"}`` after the program loaded, ``{"k": "load",
"err": status, "detail"}`` if it did not, ``{"k": "r", "i", "out"|"val"|"err", "cpu"}`` per
stdin/functional test (the first frame for a test counts: C reports exceptions and return values, L
reports output and how C ended), and ``{"k": "gone", "status", "cpu"}`` from U when L ended.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import contextlib
import fcntl
import gc
import io
import json
import math
import os
import resource
import select
import shutil
import signal
import struct
import sys
import threading
import time
import traceback
from typing import Any

from . import wire

_MAX_DETAIL = 400
_LOAD_NAME = "__solution__"


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return next((f"line {f.lineno}" for f in reversed(tb) if f.filename == "<solution>"), "")


def _detail(exc: BaseException) -> str:
    where = _where(exc)
    text = f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL]
    return f"{text} ({where})" if where else text


def exception_status(exc: BaseException) -> str:
    """Map an exception raised by the program to a judge status."""
    if isinstance(exc, MemoryError):
        return "memory_limit"
    if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG: output over RLIMIT_FSIZE
        return "runtime_error"
    return "runtime_error"


def _compile_as_function(code: str) -> Any:
    """Compile a script that uses top-level ``return`` (valid under APPS/TACO harnesses, which wrap
    stdin programs in a function) as the body of a function that is then called."""
    tree = ast.parse(code, "<solution>")
    func = ast.FunctionDef(name="_judged_main", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                                                   kw_defaults=[], defaults=[]),
                           body=tree.body or [ast.Pass()], decorator_list=[], returns=None, type_params=[])
    call = ast.Expr(ast.Call(func=ast.Name("_judged_main", ast.Load()), args=[], keywords=[]))
    module = ast.Module(body=[func, call], type_ignores=[])
    return compile(ast.fix_missing_locations(module), "<solution>", "exec", dont_inherit=True)


class Program:
    """A compiled submission plus the namespace it runs in (prelude copy)."""

    def __init__(self, code: str, prelude: dict[str, Any]) -> None:
        self.source = code
        try:
            self.code = compile(code, "<solution>", "exec", dont_inherit=True)
        except SyntaxError as err:
            if "outside function" not in str(err.msg):
                raise
            self.code = _compile_as_function(code)
        self.prelude = prelude
        self.ns: dict[str, Any] = {}

    def fresh_ns(self, name: str) -> dict[str, Any]:
        ns = dict(self.prelude)
        ns.update({"__name__": name, "__builtins__": builtins, "__file__": "solution.py"})
        return ns

    def load(self) -> None:
        """Run the program once as a module (for functional and check tests)."""
        self.ns = self.fresh_ns(_LOAD_NAME)
        exec(self.code, self.ns)

    def resolve(self, fn_name: str | None) -> Any:
        """The callable under test: ``Solution().fn``, a top-level ``fn``, or an expression."""
        ns = self.ns
        if not fn_name:
            raise LookupError("no function name given for a call-based test")
        if not fn_name.isidentifier():
            return eval(fn_name, ns)  # a dataset entry point such as "Solution().twoSum"
        sol = ns.get("Solution")
        if isinstance(sol, type) and hasattr(sol, fn_name):
            return getattr(sol(), fn_name)
        if fn_name in ns and callable(ns[fn_name]):
            return ns[fn_name]
        raise LookupError(f"function {fn_name!r} not found")

    def find_class(self, name: str) -> Any:
        """A fresh instance of the program's (or the prelude's) class ``name``, or ``None``."""
        cls = self.ns.get(name, self.prelude.get(name))
        if isinstance(cls, type):
            try:
                return object.__new__(cls)
            except TypeError:
                return None
        return None


class Runner:
    """L: runs the tests of one job (forking one process per stdin/functional test), reporting on ``res_fd``.

    ``run_dir`` holds each test's input and output files; ``sweep`` (only inside a PID namespace, where
    ``kill(-1)`` reaches nothing outside the run) kills whatever a test left running before the next.
    """

    def __init__(self, job: dict, res_fd: int, rpc_fd: int, prelude: dict[str, Any], run_dir: str = ".",
                 sweep: bool = False) -> None:
        self.job = job
        self.res_fd = res_fd
        self.rpc_fd = rpc_fd
        self.prelude = prelude
        lim = job["limits"]
        self.time_limit = float(lim["time_limit_s"])
        self.wall_limit = float(lim.get("wall_s") or 2.5 * self.time_limit + 0.5)
        self.run_dir = os.path.abspath(run_dir)
        self.sweep = sweep
        self.handles: dict[int, Any] = {}

    def send(self, msg: dict) -> None:
        wire.write_msg(self.res_fd, msg)

    def _why(self, exc: BaseException) -> str:
        """An exception's detail; a MemoryError names the limit it hit."""
        if isinstance(exc, MemoryError):
            where = _where(exc)
            return f"MemoryError under the {self.job['limits'].get('memory_mb', '?')} MiB memory limit" + (
                f" ({where})" if where else "")
        return _detail(exc)

    def run(self) -> None:
        try:
            prog = Program(self.job["code"], self.prelude)
        except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as err:
            self.send({"k": "load", "err": "compile_error", "detail": f"{type(err).__name__}: {err}"[:400]})
            return
        tests = self.job["tests"]
        if any(t["t"] != "stdin" for t in tests):
            _stdio(self._path("load-in", ""), self._path("load-out"))
            limit_cpu(self.time_limit)
            try:
                prog.load()
            except BaseException as err:
                release_cpu()
                self.send({"k": "load", "err": exception_status(err), "detail": self._why(err)})
                return
            release_cpu()
        gc.freeze()  # a forked test's collector then never touches (so never copies) the loaded heap
        self.send({"k": "ready"})
        i = 0
        while i < len(tests):
            test = tests[i]
            if test["t"] == "check":
                _stdio(self._path("check-in", ""), self._path("check-out"))
                limit_cpu(self.time_limit)
                try:
                    self._serve_check(prog)
                finally:
                    release_cpu()
                i += 1
            elif test["t"] == "stdin" and self.sweep:
                end = next((j for j in range(i, len(tests)) if tests[j]["t"] != "stdin"), len(tests))
                i = self._stdin_process(prog, i, end)
            else:
                self._forked_test(prog, i, test)
                i += 1

    def _path(self, name: str, content: str | None = None) -> str:
        """``run_dir/name``, removed first; created with ``content`` if given."""
        path = os.path.join(self.run_dir, name)
        with contextlib.suppress(OSError):
            os.unlink(path)
        if content is not None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                view = memoryview(content.encode("utf-8", "surrogateescape"))
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        return path

    # ------------------------------------------------------- stdin / functional: one process per test
    def _forked_test(self, prog: Program, i: int, test: dict) -> None:
        args: list[Any] = []
        if test["t"] == "functional":
            try:
                args = [json.loads(line) for line in test["in"].split("\n") if line.strip()]
            except ValueError as err:
                self.send({"k": "r", "i": i, "err": "sandbox_error", "detail": f"bad test input: {err}"})
                return
        in_path = self._path(f"in-{i}", test["in"] if test["t"] == "stdin" else "")
        out_path = self._path(f"out-{i}")
        work = self._path(f"cwd-{i}")
        os.mkdir(work, 0o700)  # each test starts in an empty working directory
        pid = os.fork()
        if pid == 0:
            self._child(prog, i, test["t"], args, in_path, out_path, work)  # never returns
        status, cpu, timed_out = wait_child(pid, self.wall_limit)
        if self.sweep:
            sweep_namespace()
        msg = self._outcome(i, test["t"], status, cpu, timed_out, out_path)
        for path in (in_path, out_path):
            with contextlib.suppress(OSError):
                os.unlink(path)
        try:
            os.rmdir(work)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        self.send(msg)

    # ---------------------------------------- stdin tests: a fresh process, reused while it stays pristine
    def _stdin_process(self, prog: Program, start: int, end: int) -> int:
        """Fork one test process C for stdin tests ``start..end-1``; return the first test it did not finish.

        C runs test after test while, after each, every piece of process-wide state a test can change is
        back to what it was when C started (:func:`pristine`: restored where that is exact, else C
        exits and the next test gets a newly forked process). C reports each finished test on a pipe
        (index, exit status, cumulative CPU); L reports the test's output, and how C ended for the test
        it was running if it died (``os._exit``, a signal, the CPU timer, the wall limit).
        """
        prog_r, prog_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(prog_r)
            self._stdin_loop(prog, start, end, prog_w)  # never returns
        os.close(prog_w)
        nxt, cum = start, 0.0
        buf = b""
        timed_out = False
        try:
            pfd: int | None = os.pidfd_open(pid)
        except (OSError, AttributeError):
            pfd = None
        poller = select.poll()
        poller.register(prog_r, select.POLLIN)
        if pfd is not None:
            poller.register(pfd, select.POLLIN)
        deadline = time.monotonic() + self.wall_limit
        exited = leaving = False
        try:
            while not exited:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                    break
                for fd, _ in poller.poll(int(left * 1000) + 1):
                    if fd == pfd:
                        exited = True
                        continue
                    chunk = os.read(prog_r, 4096)
                    if not chunk:
                        poller.unregister(prog_r)
                        if pfd is None:
                            exited = True
                        continue
                    buf += chunk
                    while len(buf) >= _DONE.size:
                        j, code, total = _DONE.unpack_from(buf)
                        buf = buf[_DONE.size:]
                        if j == _LEAVING:
                            leaving = True
                        if j != nxt:  # C leaving, or not C's own report (the program wrote on the pipe)
                            continue
                        self._report_stdin(j, code << 8, total - cum, False)
                        nxt, cum = j + 1, total
                        deadline = time.monotonic() + self.wall_limit
        finally:
            if pfd is not None:
                os.close(pfd)
        os.set_blocking(prog_r, False)
        with contextlib.suppress(OSError):
            buf += os.read(prog_r, 1 << 16)
        os.close(prog_r)
        _, status, usage = os.wait4(pid, 0)
        while len(buf) >= _DONE.size and not timed_out:  # reports written just before C exited
            j, code, total = _DONE.unpack_from(buf)
            buf = buf[_DONE.size:]
            leaving = leaving or j == _LEAVING
            if j == nxt:
                self._report_stdin(j, code << 8, total - cum, False)
                nxt, cum = j + 1, total
        if self.sweep:
            sweep_namespace()
        if nxt < end and not leaving:  # C ended while running test nxt
            self._report_stdin(nxt, status, usage.ru_utime + usage.ru_stime - cum, timed_out)
            nxt += 1
        return nxt

    def _report_stdin(self, i: int, status: int, cpu: float, timed_out: bool) -> None:
        out_path = os.path.join(self.run_dir, f"out-{i}")
        msg = self._outcome(i, "stdin", status, max(cpu, 0.0), timed_out, out_path)
        for name in (f"in-{i}", f"out-{i}"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.run_dir, name))
        work = os.path.join(self.run_dir, f"cwd-{i}")
        try:
            os.rmdir(work)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        self.send(msg)

    def _stdin_loop(self, prog: Program, start: int, end: int, done_fd: int) -> None:
        """C for a run of stdin tests: one test after another while the process stays pristine."""
        code = 1
        try:
            with contextlib.suppress(OSError):
                os.close(self.rpc_fd)
            _die_with_parent()
            for sig in (signal.SIGPROF, signal.SIGXCPU):
                signal.signal(sig, signal.SIG_DFL)
            snap = Snapshot()
            for j in range(start, end):
                in_path = self._path(f"in-{j}", self.job["tests"][j]["in"])
                out_path = self._path(f"out-{j}")
                work = self._path(f"cwd-{j}")
                os.mkdir(work, 0o700)
                os.chdir(work)
                _stdio(in_path, out_path)
                limit_cpu(self.time_limit)
                status = self._child_stdin(prog, j)
                with contextlib.suppress(ValueError, OSError):
                    signal.setitimer(signal.ITIMER_PROF, 0)
                usage = resource.getrusage(resource.RUSAGE_SELF)
                os.write(done_fd, _DONE.pack(j, status, usage.ru_utime + usage.ru_stime))
                if j + 1 < end and not snap.pristine():
                    os.write(done_fd, _DONE.pack(_LEAVING, 0, 0.0))  # the next test gets a fresh process
                    break
            code = 0
        except BaseException:
            code = 1
        finally:
            os._exit(code)

    def _outcome(self, i: int, kind: str, status: int, cpu: float, timed_out: bool, out_path: str) -> dict:
        """L's report of test ``i`` from how its process ended (C's own report, if any, came first)."""
        lim = self.time_limit
        base = {"k": "r", "i": i, "cpu": round(cpu, 4)}
        if timed_out:
            return {**base, "err": "time_limit",
                    "detail": f"wall clock over {self.wall_limit:.1f} s (CPU {cpu:.2f} s; limit {lim:g} s)"}
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig in (signal.SIGPROF, signal.SIGXCPU) or (sig == signal.SIGKILL and cpu >= lim):
                return {**base, "err": "time_limit", "detail": f"CPU time limit {lim:g} s (stopped at {cpu:.2f} s)"}
            return {**base, "err": "runtime_error", "detail": f"killed by {signal_name(sig)}"}
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        if cpu > lim:
            return {**base, "err": "time_limit", "detail": f"CPU time {cpu:.2f} s over the {lim:g} s limit"}
        if code != 0:
            return {**base, "err": "runtime_error", "detail": f"exit status {code}"}
        if kind == "stdin":
            return {**base, "out": _read_text(out_path)}
        return {**base, "err": "runtime_error", "detail": "the process ended (status 0) without returning a value"}

    def _child(self, prog: Program, i: int, kind: str, args: list[Any], in_path: str, out_path: str,
               work: str) -> None:
        """C: run test ``i`` as a fresh process would, then exit with the status Python would."""
        code = 1
        try:
            with contextlib.suppress(OSError):
                os.close(self.rpc_fd)
            _die_with_parent()
            os.chdir(work)
            for sig in (signal.SIGPROF, signal.SIGXCPU):
                signal.signal(sig, signal.SIG_DFL)
            _stdio(in_path, out_path)
            limit_cpu(self.time_limit, lower_hard=True)
            code = self._child_stdin(prog, i) if kind == "stdin" else self._child_call(prog, i, args)
        except BaseException:
            code = 1
        finally:
            os._exit(code)

    def _child_stdin(self, prog: Program, i: int) -> int:
        ns = prog.fresh_ns("__main__")
        code, err = 0, None
        try:
            exec(prog.code, ns)
        except SystemExit as exc:
            code = exit_status(exc)
            if code and not isinstance(exc.code, int):
                err = exc
        except BaseException as exc:
            err, code = exc, 1
        code = finalise(code, ns)
        if err is not None and time.process_time() <= self.time_limit:
            with contextlib.suppress(BaseException):
                self.send({"k": "r", "i": i, "err": exception_status(err), "detail": self._why(err),
                           "cpu": round(time.process_time(), 4)})
        return code

    def _child_call(self, prog: Program, i: int, args: list[Any]) -> int:
        try:
            out = prog.resolve(self.job.get("fn_name"))(*args)
        except SystemExit as exc:
            self.send({"k": "r", "i": i, "err": "runtime_error",
                       "detail": f"exit() during the call (SystemExit: {exc.code!r})"[:_MAX_DETAIL]})
            return exit_status(exc) or 1
        except BaseException as exc:
            if time.process_time() <= self.time_limit:
                self.send({"k": "r", "i": i, "err": exception_status(exc), "detail": self._why(exc),
                           "cpu": round(time.process_time(), 4)})
            return 1
        cpu = time.process_time()
        if cpu > self.time_limit:
            return 0  # L reports the CPU time
        try:
            val = wire.encode(out)
        except (ValueError, RecursionError, MemoryError) as exc:
            self.send({"k": "r", "i": i, "err": "wrong_answer", "detail": f"unencodable result: {exc}"})
            return 0
        self.send({"k": "r", "i": i, "val": val, "cpu": round(cpu, 4)})
        _flush()
        return 0

    # ----------------------------------------------------------- check tests: serve the check runner
    def _serve_check(self, prog: Program) -> None:
        while True:
            req = wire.read_msg(self.rpc_fd)
            if req is None or req.get("op") == "end":
                return
            wire.write_msg(self.rpc_fd, self._answer(prog, req))

    def _answer(self, prog: Program, req: dict) -> dict:
        op = req.get("op")
        try:
            if op == "entry":
                value = prog.resolve(req.get("expr"))
            elif op == "name":
                name = req.get("name")
                if name not in prog.ns:
                    return {"missing": True}
                value = prog.ns[name]
            elif op == "call":
                target = self.handles[req["h"]]
                dec = dict(make_object=prog.find_class, make_handle=self.handles.__getitem__)
                args = wire.decode(req["a"], **dec)
                kwargs = wire.decode(req["kw"], **dec)
                try:
                    value = target(*args, **kwargs)
                finally:
                    _flush()
            elif op == "getattr":
                value = getattr(self.handles[req["h"]], req["name"])
            else:
                return {"exc": "ProtocolError", "msg": f"unknown op {op!r}"}
            return {"ok": wire.encode(value, self.handles)}
        except BaseException as exc:
            return {"exc": type(exc).__name__, "msg": _detail(exc)}


_DONE = struct.Struct("<iid")  # test index, exit status, cumulative CPU seconds of the test process
_LEAVING = -1                  # in place of a test index: the test process exits, not pristine any more


class Snapshot:
    """Process-wide state a stdin test can change, taken when a test process starts.

    :meth:`pristine` after a test restores what can be restored exactly (recursion limit, thread stack
    size, garbage collector, umask, decimal context, int digit limit, switch interval) and says whether
    everything else is as it was: no thread started (ever), no child process left, the judge's own
    ``sys.std*`` objects, the same fds, the same signal
    handlers, timers, rlimits, environment, ``sys.argv``, process group, import path, warning filters,
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
        if sys.argv != self.argv or os.getpgrp() != self.pgrp:
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
