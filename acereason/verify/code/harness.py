"""The untrusted side: runs one submission's tests in a loop inside the sandboxed child.

Everything in this module executes in the same process as the judged program, so nothing here is
trusted by the judge: it only *reports* (program output, encoded return values, exceptions) and the
judge decides. It never receives expected outputs or ``check`` sources. For ``check`` tests it serves
calls from the trusted check runner (:mod:`.checker`) over a socket: resolve the candidate, look up a
program-level name, call a handle, read an attribute.

Messages it writes to the judge (one frame each): ``{"k": "ready"}`` after the program loaded,
``{"k": "load", "err": status, "detail"}`` if it did not, ``{"k": "r", "i", "out"|"val"|"err", "cpu"}``
per stdin/functional test.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import math
import os
import resource
import sys
import time
import traceback
from typing import Any

from . import wire

_MAX_DETAIL = 400
_LOAD_NAME = "__solution__"


def _detail(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f"line {f.lineno}" for f in reversed(tb) if f.filename == "<solution>"), "")
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
    """Runs the tests of one job and writes results to ``res_fd``."""

    def __init__(self, job: dict, res_fd: int, rpc_fd: int, prelude: dict[str, Any]) -> None:
        self.job = job
        self.res_fd = res_fd
        self.rpc_fd = rpc_fd
        self.prelude = prelude
        self.time_limit = float(job["limits"]["time_limit_s"])
        self.handles: dict[int, Any] = {}

    def send(self, msg: dict) -> None:
        wire.write_msg(self.res_fd, msg)

    def run(self) -> None:
        try:
            prog = Program(self.job["code"], self.prelude)
        except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as err:
            self.send({"k": "load", "err": "compile_error", "detail": f"{type(err).__name__}: {err}"[:400]})
            return
        tests = self.job["tests"]
        if any(t["t"] != "stdin" for t in tests):
            try:
                self._per_test_cpu()
                prog.load()
            except BaseException as err:
                self.send({"k": "load", "err": exception_status(err), "detail": _detail(err)})
                return
        self.send({"k": "ready"})
        for i, test in enumerate(tests):
            self._per_test_cpu()
            if test["t"] == "stdin":
                self._run_stdin(prog, i, test["in"])
            elif test["t"] == "functional":
                self._run_call(prog, i, test["in"])
            else:
                self._serve_check(prog)

    def _per_test_cpu(self) -> None:
        used = resource.getrusage(resource.RUSAGE_SELF)
        now = used.ru_utime + used.ru_stime
        soft = math.ceil(now + self.time_limit) + 1
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))

    def _timed(self, fn: Any) -> tuple[float, BaseException | None, Any]:
        t0 = time.process_time()
        try:
            out = fn()
            err = None
        except SystemExit as exc:
            out = None
            err = None if exc.code in (None, 0) else exc
        except BaseException as exc:
            out, err = None, exc
        return time.process_time() - t0, err, out

    def _run_stdin(self, prog: Program, i: int, data: str) -> None:
        _redirect(data)
        cpu, err, _ = self._timed(lambda: exec(prog.code, prog.fresh_ns("__main__")))
        flush_err = _flush()
        if err is None and flush_err is not None:
            err = flush_err
        out = _read_stdout()
        if err is not None:
            self.send({"k": "r", "i": i, "err": exception_status(err), "detail": _detail(err), "cpu": cpu})
        elif cpu > self.time_limit:
            self.send({"k": "r", "i": i, "err": "time_limit", "cpu": cpu})
        else:
            self.send({"k": "r", "i": i, "out": out, "cpu": cpu})

    def _run_call(self, prog: Program, i: int, data: str) -> None:
        _redirect("")
        try:
            args = [json.loads(line) for line in data.split("\n") if line.strip()]
        except ValueError as err:
            self.send({"k": "r", "i": i, "err": "sandbox_error", "detail": f"bad test input: {err}"})
            return
        cpu, err, out = self._timed(lambda: prog.resolve(self.job.get("fn_name"))(*args))
        _flush()
        if err is not None:
            self.send({"k": "r", "i": i, "err": exception_status(err), "detail": _detail(err), "cpu": cpu})
            return
        if cpu > self.time_limit:
            self.send({"k": "r", "i": i, "err": "time_limit", "cpu": cpu})
            return
        try:
            val = wire.encode(out)
        except (ValueError, RecursionError, MemoryError) as exc:
            self.send({"k": "r", "i": i, "err": "wrong_answer", "detail": f"unencodable result: {exc}"})
            return
        self.send({"k": "r", "i": i, "val": val, "cpu": cpu})

    # ----------------------------------------------------------- check tests: serve the check runner
    def _serve_check(self, prog: Program) -> None:
        _redirect("")  # whatever the candidate prints goes to the run directory, bounded by FSIZE
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


# --------------------------------------------------------------------------- stdio plumbing
_IN, _OUT, _ERR = "stdin.txt", "stdout.txt", "stderr.txt"


def _redirect(data: str) -> None:
    """Point fds 0/1/2 and sys.std* at fresh files in the run directory (real fds, ``.buffer`` works)."""
    raw = data.encode("utf-8", "surrogateescape")
    fd = os.open(_IN, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    view = memoryview(raw)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    for name, target in ((_OUT, 1), (_ERR, 2)):
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding="utf-8", errors="surrogateescape")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                                   encoding="utf-8", errors="surrogateescape")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                                   encoding="utf-8", errors="backslashreplace")


def _flush() -> BaseException | None:
    err = None
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "closed", False):
            continue
        try:
            stream.flush()
        except BaseException as exc:
            err = err or exc
    return err


def _read_stdout() -> str:
    with open(_OUT, "rb") as fh:
        return fh.read().decode("utf-8", "replace")
