"""The trusted side of ``check(candidate)`` tests: runs the dataset's check code outside the program.

The check source (which holds the expected values) executes here, in the run's supervisor process
under its own uid, never in the judged process. ``candidate`` - and any other name the check uses
that it does not define itself (HumanEval's ``poly``, ``encode_cyclic``; LeetCode's ``Solution``) -
is a :class:`wire.Ref` proxy: calling it sends the arguments to the sandboxed program, which calls
its function and sends back an *encoded* result that is rebuilt here from plain types or from this
side's own classes (``ListNode``...). So the program's objects never reach an ``==`` in the check,
and the check's expected values are never in the program's memory. A test passes only if
``check(...)`` returns here; nothing the program prints or its exit code can say otherwise.
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import Any

from . import wire

# Exceptions that a check may expect the candidate to raise (``with pytest.raises``-style tests).
_REMOTE_EXCEPTIONS = {
    name: obj for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, OSError)
}


_TOP_CHECK_CALL = re.compile(r"^check\s*\(", re.MULTILINE)


class CandidateDied(Exception):
    """The program's process ended (or broke the protocol) while a check was calling it."""


class Remote:
    """The RPC client to the sandboxed program (one socket, one call at a time)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.namespace: dict[str, Any] = {}

    def request(self, req: dict) -> Any:
        try:
            wire.write_msg(self.fd, req)
            reply = wire.read_msg(self.fd)
        except (OSError, wire.WireError) as err:
            raise CandidateDied(str(err)) from None
        if not isinstance(reply, dict):
            raise CandidateDied("the program's process ended")
        if "exc" in reply:
            name = str(reply.get("exc"))
            cls = _REMOTE_EXCEPTIONS.get(name, RuntimeError)
            exc = cls(str(reply.get("msg", ""))[:400])
            exc.remote_name = name  # type: ignore[attr-defined]
            raise exc
        if "missing" in reply:
            raise KeyError
        try:
            return wire.decode(reply.get("ok"), make_object=self.make_object, make_handle=self.make_ref)
        except wire.WireError as err:
            raise CandidateDied(f"bad reply: {err}") from None

    def make_ref(self, key: int) -> wire.Ref:
        return wire.Ref(self, key)

    def make_object(self, name: str) -> Any:
        """A fresh instance of the check side's own class ``name`` (``None`` if it has none)."""
        cls = dict.get(self.namespace, name)
        if isinstance(cls, type) and cls.__new__ is object.__new__ and cls.__module__ != "builtins":
            return object.__new__(cls)
        return None


class CheckGlobals(dict):
    """Globals for check code: names it does not define resolve to the program's names, remotely."""

    remote: Remote

    def __missing__(self, key: str) -> Any:
        if key in vars(builtins) or key.startswith("__"):
            raise KeyError(key)
        value = self.remote.request({"op": "name", "name": key})
        self[key] = value
        return value


def names_candidate(source: str) -> bool:
    """True if ``source`` itself calls ``check(<candidate>)`` at top level (so no fn_name is needed)."""
    return bool(_TOP_CHECK_CALL.search(source))


def split_check(source: str) -> tuple[str, str | None]:
    """Remove top-level ``check(<expr>)`` calls from ``source``; return it and the last ``<expr>``."""
    if not _TOP_CHECK_CALL.search(source):
        return source, None
    tree = ast.parse(source)
    body, target = [], None
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check"
                and len(call.args) == 1 and not call.keywords):
            target = ast.unparse(call.args[0])
            continue
        body.append(node)
    tree.body = body
    return ast.unparse(tree), target


def run_check(remote: Remote, prelude: dict[str, Any], source: str, fn_name: str | None) -> tuple[str, str]:
    """Run one check test; return ``(status, detail)`` with status ``ok`` on success."""
    try:
        code, target = split_check(source)
        compiled = compile(code, "<check>", "exec")
    except (SyntaxError, ValueError) as err:
        return "sandbox_error", f"check source does not compile: {err}"
    ns = CheckGlobals(prelude)
    ns.update({"__name__": "__check__", "__builtins__": builtins})
    ns.remote = remote
    remote.namespace = ns
    try:
        exec(compiled, ns)
        check = dict.get(ns, "check")
        if not callable(check):
            return "sandbox_error", "check source defines no check()"
        candidate = eval(target, ns) if target is not None else remote.request({"op": "entry", "expr": fn_name})
        check(candidate)
    except CandidateDied as err:
        return "died", str(err)[:400]
    except AssertionError as err:
        return "wrong_answer", f"assertion failed {err}"[:400]
    except Exception as err:
        remote_name = getattr(err, "remote_name", None)
        if remote_name == "MemoryError":
            return "memory_limit", "MemoryError"
        if remote_name is not None:
            return "runtime_error", f"{remote_name}: {err}"[:400]
        return "wrong_answer", f"{type(err).__name__}: {err}"[:400]
    return "ok", ""
