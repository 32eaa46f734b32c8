"""One run as the judge sees it: read result frames, compare them, enforce the deadlines.

:class:`Session` is the judge's event loop for a single submission: it writes the job to the program and
the ``check`` sources to the trusted runner, reads both result streams without blocking, compares each
stdin/functional result with the expected output as it arrives (:mod:`.compare`), accepts ``check``
outcomes only from the trusted runner, applies the wall deadline per test, and stops as soon as the
verdict is decided. Expected outputs never leave this process.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import compare, wire

STATUSES = ("accepted", "wrong_answer", "time_limit", "memory_limit", "runtime_error", "compile_error",
            "no_code", "sandbox_error")
WALL_FACTOR = 2.5      # wall-clock allowance per test, as a multiple of the CPU time limit
WALL_SLACK_S = 1.0     # plus this, for scheduling noise on a loaded machine

Checker = Callable[[Any, Any, Any], bool]
"""Custom output checker ``(test, expected, got) -> bool`` (got: stdout text or decoded return value)."""


@dataclass
class Limits:
    """Resource limits of one run."""

    time_limit_s: float = 6.0
    memory_mb: int = 1024
    output_mb: int = 64
    nproc: int = 32


@dataclass
class RunResult:
    """Per-test outcomes of one run: status per test index (missing = not run)."""

    statuses: dict[int, str] = field(default_factory=dict)
    details: dict[int, str] = field(default_factory=dict)
    load_status: str | None = None
    load_detail: str = ""


def describe_exit(status: int | None, cpu: float | None = None, time_limit_s: float | None = None) -> tuple[str, str]:
    """Map a wait status of the program's runner to ``(status, detail)``."""
    if status is None:
        return "runtime_error", "the program ended early"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig in (signal.SIGXCPU, signal.SIGPROF):
            limit = f"{time_limit_s:g} s " if time_limit_s else ""
            return "time_limit", f"CPU time limit {limit}({name})"
        if sig == signal.SIGXFSZ:
            return "runtime_error", "output limit exceeded (SIGXFSZ)"
        return "runtime_error", f"killed by {name}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return "runtime_error", f"the program exited (code {code}) before finishing its tests"


def brief(value: Any, n: int = 48) -> str:
    """A short printable prefix of ``value`` for a verdict's detail."""
    text = repr(value)
    return text if len(text) <= n else text[:n] + "..."


class Channel:
    """Non-blocking frame reader for one pipe."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.limit = limit
        self.eof = False

    def feed(self) -> list[Any]:
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return []
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
            return []
        self.buf += chunk
        out = []
        while len(self.buf) >= wire.HEADER.size:
            (n,) = wire.HEADER.unpack_from(self.buf)
            if n > self.limit:
                raise wire.WireError(f"frame of {n} bytes over the limit")
            if len(self.buf) < wire.HEADER.size + n:
                break
            body = bytes(self.buf[wire.HEADER.size:wire.HEADER.size + n])
            del self.buf[:wire.HEADER.size + n]
            out.append(wire.loads(body))
        return out


class Session:
    """The judge's event loop for one run: write jobs, read results, compare, enforce deadlines."""

    def __init__(self, tests: Sequence[Any], limits: Limits, all_tests: bool, checker: Checker | None,
                 res_r: int, tres_r: int) -> None:
        self.tests = tests
        self.limits = limits
        self.all_tests = all_tests
        self.checker = checker
        self.result = RunResult()
        frame_limit = (limits.output_mb << 20) * 2 + (1 << 20)
        self.prog = Channel(res_r, frame_limit)
        self.trusted = Channel(tres_r, 1 << 24)
        self.upid: int | None = None
        self.exit_status: int | None = None
        self.exit_seen = False
        self.died_tests: set[int] = set()
        self.runner_status: int | None = None

    # -- decisions
    def _record(self, i: int, status: str, detail: str = "") -> None:
        if 0 <= i < len(self.tests) and i not in self.result.statuses:
            self.result.statuses[i] = status
            if detail:
                self.result.details[i] = detail[:400]

    def _decided(self) -> bool:
        r = self.result
        if r.load_status is not None:
            return True
        for i in range(len(self.tests)):
            st = r.statuses.get(i)
            if st is None:
                return False
            if st != "ok" and not self.all_tests:
                return True
        return True

    def _first_open(self) -> int:
        return next((i for i in range(len(self.tests)) if i not in self.result.statuses), len(self.tests))

    # -- messages
    def _on_program(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        kind = msg.get("k")
        if kind == "gone":  # U: how the runner L ended (untrusted, like all of the program's reports)
            if type(msg.get("status")) is int:
                self.runner_status = msg["status"]
            return
        if kind == "load":
            status = msg.get("err")
            self.result.load_status = status if status in STATUSES else "runtime_error"
            self.result.load_detail = str(msg.get("detail", ""))[:400]
        elif kind == "r":
            i = msg.get("i")
            if type(i) is not int or not 0 <= i < len(self.tests) or self.tests[i].testtype == "check":
                return  # the program cannot report check results
            self._judge_output(i, msg)

    def _judge_output(self, i: int, msg: dict) -> None:
        test = self.tests[i]
        if "err" in msg:
            err = msg["err"]
            self._record(i, err if err in STATUSES else "runtime_error", str(msg.get("detail", "")))
            return
        try:
            if test.testtype == "stdin":
                got = msg["out"]
                if type(got) is not str:
                    raise wire.WireError("stdout is not text")
                want: Any = test.output
                ok = (self.checker(test, test.output, got) if self.checker
                      else compare.stdout_matches(got, test.output))
                what = "output"
            else:
                got = wire.decode(msg["val"])
                want = compare.parse_json_value(test.output)
                ok = self.checker(test, want, got) if self.checker else compare.values_match(got, want)
                what = "return value"
        except (KeyError, ValueError, wire.WireError) as err:
            self._record(i, "wrong_answer", f"unreadable result: {err}")
            return
        if ok:
            self._record(i, "ok")
        else:
            self._record(i, "wrong_answer", f"wrong {what}: expected {brief(want)}, got {brief(got)}")

    def _on_trusted(self, msg: Any) -> None:
        kind = msg.get("k") if isinstance(msg, dict) else None
        if kind == "pid":
            self.upid = int(msg["pid"])
        elif kind == "exit":
            self.exit_seen = True
            self.exit_status = int(msg["status"])
        elif kind == "r":
            i, status = int(msg["i"]), str(msg.get("status"))
            if status == "died":
                self.died_tests.add(i)
            else:
                self._record(i, status if status in STATUSES or status == "ok" else "sandbox_error",
                             str(msg.get("detail", "")))

    # -- loop
    def drive(self, pending_writes: dict[int, bytes]) -> None:
        sel = selectors.DefaultSelector()
        out = {fd: memoryview(data) for fd, data in pending_writes.items()}
        for fd in out:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_WRITE)
        for ch in (self.prog, self.trusted):
            os.set_blocking(ch.fd, False)
            sel.register(ch.fd, selectors.EVENT_READ, ch)
        per_test = self.limits.time_limit_s * WALL_FACTOR + WALL_SLACK_S
        deadline = time.monotonic() + 2 * per_test
        progress = len(self.result.statuses)
        try:
            while not self._decided():
                if self.prog.eof and (self.trusted.eof or self.exit_seen):
                    self._program_gone()
                    break
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    self._record(self._first_open(), "time_limit", f"wall clock over {per_test:.1f} s")
                    if not self.all_tests:
                        break
                    for i in range(len(self.tests)):
                        self._record(i, "time_limit", "not run: an earlier test timed out")
                    break
                for key, _ in sel.select(timeout):
                    fd = key.fd
                    if fd in out:
                        try:
                            n = os.write(fd, out[fd])
                        except OSError:  # the reader is gone; its fate is read elsewhere
                            n = len(out[fd])
                        out[fd] = out[fd][n:]
                        if not out[fd]:
                            sel.unregister(fd)
                            del out[fd]
                        continue
                    ch: Channel = key.data
                    try:
                        msgs = ch.feed()
                    except wire.WireError as err:
                        msgs = []
                        ch.eof = True
                        self._record(self._first_open(), "runtime_error", f"protocol violation: {err}")
                    if ch.eof:
                        sel.unregister(fd)
                    for msg in msgs:
                        if ch is self.prog:
                            if msg == {"k": "ready"}:
                                deadline = time.monotonic() + per_test
                            self._on_program(msg)
                        else:
                            self._on_trusted(msg)
                if len(self.result.statuses) != progress:
                    progress = len(self.result.statuses)
                    deadline = time.monotonic() + per_test
        finally:
            sel.close()

    def _program_gone(self) -> None:
        """The program's process ended: every unfinished test takes the reason it ended."""
        if self.runner_status is not None:
            status, detail = describe_exit(self.runner_status, time_limit_s=self.limits.time_limit_s)
        else:
            status, detail = describe_exit(self.exit_status if self.exit_seen else None)
        if self.result.load_status is None:
            for i in range(len(self.tests)):
                self._record(i, status, detail)
