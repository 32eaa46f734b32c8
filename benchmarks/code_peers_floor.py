"""The no-isolation floor for benchmarks/code_peers.py: the least any Python judge can spend on a submission.

``python code_peers_floor.py SUBS.json OUT.json [--workers 2]`` (run by our own interpreter with the repo on
``PYTHONPATH``; timed per batch and written by code_peers_runner.py's ``time_batches``/``write_result``).

Each of ``workers`` long-lived processes runs submissions one after another *in itself*: no process, namespace,
uid or limit per submission or per test, no fork, no pipe. A stdin test puts its input on fd 0 and a fresh
output file on fd 1 (memfds, ``dup2``) and runs the compiled program in a new ``__main__`` dict copied from our
prelude; a call-based submission is loaded once and each test calls the entry point on a fresh ``Solution()``.
Outputs are compared with our judge's own functions (``stdout_matches`` / ``values_match``). A test stops at
6 s of CPU (``ITIMER_PROF``), LiveCodeBench's ``timeout=6``.

What it measures: the programs' own work plus the thinnest harness around it. No judge that isolates a
submission at all can be faster than this on the same submissions, so a peer's time over this one's is the most
any judge could be faster than that peer. It is a measuring stick only: it shares one process between
submissions and trusts them (run it on the benchmark's own programs, never on untrusted code).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from acereason.verify.code.compare import parse_json_value, stdout_matches, values_match
from acereason.verify.code.harness import Program
from acereason.verify.code.prelude import build_prelude
from benchmarks.code_peers_runner import time_batches, write_result

LIMIT_S = 6.0

_PRELUDE: dict[str, Any] = {}
_FDS: tuple[int, int, int, int] = (-1, -1, -1, -1)


class _Timeout(BaseException):
    """Raised by the CPU timer: a BaseException so that a program's ``except Exception`` does not keep going."""


_ARMED = False  # the timer raises only while a program runs: never in the harness's own clean-up


def _on_timer(signum: int, frame: Any) -> None:
    if _ARMED:
        raise _Timeout


def _limited(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` under the 6 s CPU timer; callers catch BaseException (the timer may fire on the way out)."""
    global _ARMED
    _ARMED = True
    signal.setitimer(signal.ITIMER_PROF, LIMIT_S)
    try:
        return fn(*args)
    finally:
        _ARMED = False
        signal.setitimer(signal.ITIMER_PROF, 0)


def _init() -> None:
    global _FDS
    _PRELUDE.update(build_prelude())
    # Deep recursion (sys.setrecursionlimit(10**6) is common) needs the main thread's stack to grow.
    _, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = 1 << 30 if hard == resource.RLIM_INFINITY else min(hard, 1 << 30)
    resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
    signal.signal(signal.SIGPROF, _on_timer)
    _FDS = (os.dup(0), os.dup(1), os.memfd_create("in"), os.memfd_create("out"))


def _stdin_test(code: Any, text: str) -> tuple[bool, str]:
    """Run a compiled stdin program on ``text``; (ended normally, stdout)."""
    saved_in, saved_out, mem_in, mem_out = _FDS
    for fd in (mem_in, mem_out):
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
    os.write(mem_in, text.encode())
    os.lseek(mem_in, 0, os.SEEK_SET)
    os.dup2(mem_in, 0)
    os.dup2(mem_out, 1)
    real = sys.stdin, sys.stdout, os._exit, sys.getrecursionlimit()
    sys.stdin, sys.stdout = open(0, closefd=False), open(1, "w", closefd=False)  # noqa: SIM115
    os._exit = sys.exit  # type: ignore[assignment]  # the worker must outlive the program
    ok = True
    try:
        _limited(exec, code, dict(_PRELUDE, __name__="__main__"))
    except SystemExit as stop:
        ok = stop.code in (None, 0)
    except BaseException:  # the program's exception, or the timer
        ok = False
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            ok = False
        sys.stdin, sys.stdout, os._exit = real[0], real[1], real[2]
        sys.setrecursionlimit(real[3])
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
    os.lseek(mem_out, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(mem_out, 1 << 20):
        chunks.append(chunk)
    return ok, b"".join(chunks).decode(errors="replace")


def _call_tests(code: Any, fn_name: str, sub: dict) -> bool:
    ns = dict(_PRELUDE, __name__="solution")
    try:
        _limited(exec, code, ns)
        for inp, out in zip(sub["inputs"], sub["outputs"], strict=True):
            args = [json.loads(line) for line in inp.split("\n") if line.strip()]
            fn = getattr(ns["Solution"](), fn_name) if "Solution" in ns else ns[fn_name]
            if not values_match(_limited(fn, *args), parse_json_value(out)):
                return False
    except BaseException:
        return False
    return True


def judge_one(sub: dict) -> bool:
    """Accepted on every test, in this process, with the thinnest harness (see the module docstring)."""
    try:  # our compile, with its fallback for a top-level ``return`` (run as a function, as APPS programs expect)
        code = Program(sub["code"], {}).code
    except (SyntaxError, ValueError):
        return False
    if sub["fn_name"]:
        return _call_tests(code, sub["fn_name"], sub)
    for inp, out in zip(sub["inputs"], sub["outputs"], strict=True):
        ok, got = _stdin_test(code, inp)
        if not ok or not stdout_matches(got, out):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("subs")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with open(args.subs) as fh:
        subs = json.load(fh)
    with ProcessPoolExecutor(args.workers, initializer=_init) as ex:
        # Started and warm before any batch is timed: the floor is the programs' cost, not the pool's.
        list(ex.map(judge_one, [{"code": "pass", "fn_name": None, "inputs": [], "outputs": []}] * args.workers))
        result = time_batches(subs, lambda items: dict(zip([s["id"] for s in items],
                                                           ex.map(judge_one, items, chunksize=1), strict=True)),
                              "floor")
    write_result(args.out, result | {"python": platform.python_version()})

if __name__ == "__main__":
    main()
