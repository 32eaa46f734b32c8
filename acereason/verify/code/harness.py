"""The untrusted side: runs one submission's tests inside the sandbox.

Everything in this module executes in the judged program's processes, so nothing here is trusted by
the judge: it only *reports* (program output, encoded return values, exceptions, how a process ended)
and the judge decides. It never receives expected outputs or ``check`` sources.

Processes (all inside the run's PID namespace)::

    U  PID 1: a minimal init (:func:`.harness_proc.init_loop`); reaps, and reports how L ended
    `- L  the test runner (:class:`Runner`): loads a call-based program once, serves ``check`` calls
       `- C  forked from L for stdin / functional tests: each test runs as in a fresh process

The program never runs as PID 1: the kernel drops default-action signals sent to a namespace's init,
so a CPU-limit signal (``SIGPROF`` from the per-test CPU timer, ``SIGXCPU`` from ``RLIMIT_CPU``) would
never end it. Each stdin/functional test runs in a process C forked from L, with its own fds 0/1/2 on
that test's files and its own ``sys.std*``, from the program's source in a new module namespace; C is
reused for the next test only while everything process-wide a test can change is as C started
(:class:`.harness_proc.Snapshot`), else it ends and the next test gets a new C: whatever a test does to
stdin/stdout/stderr, fds, the recursion limit, the thread stack size, atexit, signals or module state
is gone by the next test, and a test ends the way a fresh interpreter would (non-daemon threads joined,
atexit handlers run, ``sys.stdout`` flushed - exit status 120 if that fails; ``os._exit`` loses
unflushed output). A functional test of a program that does real work when it loads is forked from L
(which loaded it once) instead, one C per test, so the load is not repeated. For ``check`` tests L
serves the trusted check runner's calls (:mod:`.checker`) itself: resolve the candidate, look up a
program-level name, call a handle, read an attribute.

Messages to the judge (one frame each): ``{"k": "ready"}`` after the program loaded, ``{"k": "load",
"err": status, "detail"}`` if it did not, ``{"k": "r", "i", "out"|"val"|"err", "cpu"}`` per
stdin/functional test (the first frame for a test counts: C reports exceptions and return values, L
reports output and how C ended), and ``{"k": "gone", "status", "cpu"}`` from U when L ended.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import gc
import json
import os
import resource
import select
import shutil
import signal
import struct
import time
import traceback
from typing import Any

from . import sandbox, wire
from .harness_proc import (
    Snapshot,
    _die_with_parent,
    _flush,
    _read_text,
    _stdio,
    exit_status,
    finalise,
    limit_cpu,
    release_cpu,
    signal_name,
    sweep_namespace,
    wait_child,
)

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

    def resolve(self, fn_name: str | None, ns: dict[str, Any] | None = None) -> Any:
        """The callable under test in ``ns`` (default: the loaded program's): ``Solution().fn``, a top-level
        ``fn``, or an expression."""
        ns = self.ns if ns is None else ns
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
        self.reload_calls = False
        self._args: dict[int, list[Any]] = {}

    def _reusable(self, i: int) -> bool:
        """Whether test ``i`` can run in a reused test process: a stdin test, or a functional test of a
        cheaply loaded program whose input parses (a bad one is reported by :meth:`_forked_test`)."""
        test = self.job["tests"][i]
        if test["t"] == "stdin":
            return True
        if test["t"] != "functional" or not self.reload_calls:
            return False
        if i not in self._args:
            try:
                self._args[i] = _call_args(test["in"])
            except ValueError:
                return False
        return True

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
            t0 = time.process_time()
            try:
                prog.load()
            except BaseException as err:
                release_cpu()
                self.send({"k": "load", "err": exception_status(err), "detail": self._why(err)})
                return
            # A program whose load is cheap is loaded afresh for each functional test inside a reused test
            # process (no fork and exit per test); one that does real work at load time (a sieve, a table)
            # is cheaper forked from this loaded process, once per test.
            self.reload_calls = time.process_time() - t0 <= _RELOAD_MAX_S
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
            elif self.sweep and self._reusable(i):
                end = next((j for j in range(i, len(tests)) if not self._reusable(j)), len(tests))
                i = self._test_process(prog, i, end)
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
                args = _call_args(test["in"])
            except ValueError as err:
                self.send({"k": "r", "i": i, "err": "sandbox_error", "detail": f"bad test input: {err}"})
                return
        in_path = self._path(f"in-{i}", test["in"] if test["t"] == "stdin" else "")
        out_path = self._path(f"out-{i}")
        work = self._path(f"cwd-{i}")
        os.mkdir(work, 0o700)  # each test starts in an empty working directory
        pid = os.fork()
        if pid == 0:
            sandbox.set_name("judge-C")
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

    # ----------------------------- stdin and functional tests: a fresh process, reused while it stays pristine
    def _test_process(self, prog: Program, start: int, end: int) -> int:
        """Fork one test process C for tests ``start..end-1``; return the first test it did not finish.

        C runs test after test while, after each, every piece of process-wide state a test can change is
        back to what it was when C started (:func:`pristine`: restored where that is exact, else C
        exits and the next test gets a newly forked process). Each test starts from the program's source
        in a new module namespace, as in a fresh interpreter: a stdin test executes it as ``__main__``, a
        functional test loads it and makes the call (so module-level state a call changes, a cache or a
        counter, is gone by the next test). C reports each finished test on a pipe (index, exit status,
        cumulative CPU); L reports the test's output, and how C ended for the test it was running if it
        died (``os._exit``, a signal, the CPU timer, the wall limit).
        """
        prog_r, prog_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            sandbox.set_name("judge-C")
            os.close(prog_r)
            self._test_loop(prog, start, end, prog_w)  # never returns
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
                        self._report_looped(j, code << 8, total - cum, False)
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
                self._report_looped(j, code << 8, total - cum, False)
                nxt, cum = j + 1, total
        if self.sweep:
            sweep_namespace()
        if nxt < end and not leaving:  # C ended while running test nxt
            self._report_looped(nxt, status, usage.ru_utime + usage.ru_stime - cum, timed_out)
            nxt += 1
        return nxt

    def _report_looped(self, i: int, status: int, cpu: float, timed_out: bool) -> None:
        out_path = os.path.join(self.run_dir, f"out-{i}")
        msg = self._outcome(i, self.job["tests"][i]["t"], status, max(cpu, 0.0), timed_out, out_path)
        for name in (f"in-{i}", f"out-{i}"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.run_dir, name))
        work = os.path.join(self.run_dir, f"cwd-{i}")
        try:
            os.rmdir(work)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        self.send(msg)

    def _test_loop(self, prog: Program, start: int, end: int, done_fd: int) -> None:
        """C for a run of stdin/functional tests: one test after another while the process stays pristine."""
        code = 1
        try:
            with contextlib.suppress(OSError):
                os.close(self.rpc_fd)
            _die_with_parent()
            for sig in (signal.SIGPROF, signal.SIGXCPU):
                signal.signal(sig, signal.SIG_DFL)
            snap = Snapshot() if end - start > 1 else None  # nothing to compare against after the last test
            for j in range(start, end):
                stdin = self.job["tests"][j]["t"] == "stdin"
                in_path = self._path(f"in-{j}", self.job["tests"][j]["in"] if stdin else "")
                out_path = self._path(f"out-{j}")
                work = self._path(f"cwd-{j}")
                os.mkdir(work, 0o700)
                os.chdir(work)
                _stdio(in_path, out_path)
                limit_cpu(self.time_limit)
                status = self._child_stdin(prog, j) if stdin else self._looped_call(prog, j)
                with contextlib.suppress(ValueError, OSError):
                    signal.setitimer(signal.ITIMER_PROF, 0)
                usage = resource.getrusage(resource.RUSAGE_SELF)
                os.write(done_fd, _DONE.pack(j, status, usage.ru_utime + usage.ru_stime))
                if j + 1 < end and snap is not None and not snap.pristine():
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

    def _child_call(self, prog: Program, i: int, args: list[Any], ns: dict[str, Any] | None = None,
                    t0: float = 0.0) -> int:
        """Call the program's function on ``args`` (in ``ns``, default the loaded program) and report the
        value; CPU counts from ``t0`` (this process's CPU clock when the test began). Returns the exit status."""
        try:
            out = prog.resolve(self.job.get("fn_name"), ns)(*args)
        except BaseException as exc:
            return self._call_failed(i, exc, t0, "during the call")
        cpu = time.process_time() - t0
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

    def _call_failed(self, i: int, exc: BaseException, t0: float, when: str) -> int:
        """Report what a functional test raised (``when``: during the call, while loading); its exit status.
        ``exit()`` is a runtime error; any other exception is reported unless the CPU limit was already
        passed (then L reports the time limit)."""
        if isinstance(exc, SystemExit):
            self.send({"k": "r", "i": i, "err": "runtime_error",
                       "detail": f"exit() {when} (SystemExit: {exc.code!r})"[:_MAX_DETAIL]})
            return exit_status(exc) or 1
        if time.process_time() - t0 <= self.time_limit:
            self.send({"k": "r", "i": i, "err": exception_status(exc), "detail": self._why(exc),
                       "cpu": round(time.process_time() - t0, 4)})
        return 1

    def _looped_call(self, prog: Program, i: int) -> int:
        """A functional test in a reused process: load the program afresh, as a new interpreter would, then
        call. A load that fails here (it did not in L: the program is not deterministic) fails the test."""
        t0 = time.process_time()
        ns = prog.fresh_ns(_LOAD_NAME)
        try:
            try:
                exec(prog.code, ns)
            except BaseException as exc:
                return self._call_failed(i, exc, t0, "while loading")
            return self._child_call(prog, i, self._args[i], ns, t0)
        finally:
            with contextlib.suppress(BaseException):
                ns.clear()

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


def _call_args(text: str) -> list[Any]:
    """A functional test's arguments: one JSON value per non-blank line (ValueError if one does not parse)."""
    return [json.loads(line) for line in text.split("\n") if line.strip()]


_RELOAD_MAX_S = 0.002  # a load cheaper than a fork and exit is repeated per functional test instead
_DONE = struct.Struct("<iid")  # test index, exit status, cumulative CPU seconds of the test process
_LEAVING = -1                  # in place of a test index: the test process exits, not pristine any more
