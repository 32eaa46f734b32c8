"""The sympy worker process of the math verifier (run as a script; imports nothing from acereason).

The parent (:mod:`acereason.verify.math_sympy`) starts this file with ``python -u math_sympy_worker.py``
and talks to it over stdin/stdout with length-prefixed pickles: a job ``("equal", a_ast, b_ast)`` is
answered by ``("ok", True)`` (equivalent), ``("ok", False)`` (different), ``("ok", None)`` (sympy could
not decide), ``("memory", ...)`` or ``("raised", "<exception>")`` (sympy failed on this input). The
parent kills the process when a job overruns its time limit, which is the only reliable way to stop
sympy (no ``signal.alarm``: it works only in the main thread of the main interpreter). The worker's
address space is capped so a runaway ``simplify`` dies on its own instead of taking the machine.
It exits when its stdin closes, so it never outlives its parent.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from fractions import Fraction
from typing import Any

MEMORY_LIMIT_BYTES = 2 << 30

_TRIG = {"sin", "cos", "tan", "cot", "sec", "csc"}


def to_sympy(node: tuple, sp: Any, in_trig: bool = False) -> Any:
    """Build a sympy expression from a verifier AST (variables are positive reals, as in numeric checks)."""
    tag = node[0]
    if tag == "n":
        q: Fraction = node[1]
        return sp.Rational(q.numerator, q.denominator)
    if tag == "s":
        return sp.Symbol(node[1], positive=True)
    if tag == "c":
        return {"pi": sp.pi, "e": sp.E, "i": sp.I, "inf": sp.oo}[node[1]]
    if tag == "-":
        return -to_sympy(node[1], sp, in_trig)
    if tag == "+":
        return sp.Add(*(to_sympy(c, sp, in_trig) for c in node[1]))
    if tag == "*":
        return sp.Mul(*(to_sympy(c, sp, in_trig) for c in node[1]))
    if tag == "/":
        return to_sympy(node[1], sp, in_trig) / to_sympy(node[2], sp, in_trig)
    if tag == "^":
        return sp.Pow(to_sympy(node[1], sp, in_trig), to_sympy(node[2], sp, in_trig))
    if tag == "!":
        return sp.factorial(to_sympy(node[1], sp, in_trig))
    if tag == "deg":
        x = to_sympy(node[1], sp, in_trig)
        return x * sp.pi / 180 if in_trig else x
    if tag == "f":
        name, args = node[1], [to_sympy(a, sp, node[1] in _TRIG) for a in node[2]]
        table = {
            "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "cot": sp.cot, "sec": sp.sec, "csc": sp.csc,
            "asin": sp.asin, "acos": sp.acos, "atan": sp.atan, "acot": sp.acot, "sinh": sp.sinh,
            "cosh": sp.cosh, "tanh": sp.tanh, "ln": sp.log, "exp": sp.exp, "sqrt": sp.sqrt,
            "abs": sp.Abs, "floor": sp.floor, "ceil": sp.ceiling, "binom": sp.binomial, "gcd": sp.gcd,
            "lcm": sp.lcm, "max": sp.Max, "min": sp.Min, "conj": sp.conjugate,
        }
        return table[name](*args)
    raise ValueError(f"cannot convert {tag}")


def equal(a: tuple, b: tuple, sp: Any) -> bool | None:
    """Decide ``a == b`` symbolically: ``simplify(a - b) == 0``, then sympy's ``equals`` as a tiebreak."""
    diff = sp.simplify(to_sympy(a, sp) - to_sympy(b, sp))
    if diff == 0:
        return True
    if diff.is_number and diff.is_zero is False:
        return False
    return diff.equals(0)


def _read(fh: Any) -> Any:
    head = fh.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    return pickle.loads(fh.read(n))


def _write(fh: Any, obj: Any) -> None:
    data = pickle.dumps(obj)
    fh.write(struct.pack("<I", len(data)) + data)
    fh.flush()


def main() -> None:
    """Serve jobs until stdin closes. The first message, sent once sympy is imported, is ``"ready"``."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    import sympy as sp

    fin, fout = sys.stdin.buffer, sys.stdout.buffer
    _write(fout, "ready")
    while True:
        job = _read(fin)
        if job is None:
            return
        try:
            if job[0] == "ping":
                result: Any = ("ok", "pong")
            else:
                result = ("ok", equal(job[1], job[2], sp))
        except MemoryError:
            result = ("memory", "sympy ran out of memory")
        except Exception as err:  # report, never die: one bad job must not cost the next its worker
            result = ("raised", f"{type(err).__name__}: {err}"[:300])
        _write(fout, result)


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    os.environ.setdefault("SYMPY_USE_CACHE", "yes")
    main()
