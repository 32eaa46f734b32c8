"""Typed comparison of two parsed answers, cheapest layer first.

Layers, in the order they are tried for a pair of expressions:

1. exact rationals (:func:`math_eval.exact`): integers, fractions, terminating decimals, compared with
   no tolerance; a gold written as a non-integer decimal (``0.35``) accepts an answer strictly
   within half a unit of its last place (one that rounds to it at the gold's precision);
2. high-precision numeric evaluation (40 digits) at fixed pseudo-random positive points: a clear
   difference (confirmed at 120 digits, to rule out cancellation) is a mismatch, agreement to 33
   digits at every point is a match;
3. sympy ``simplify`` in a killable worker process, only when layer 2 could not decide (every point
   failed to evaluate, or the values agree only loosely).

Structures are compared by type before any arithmetic: a tuple/point ``(1, 2)`` is ordered, a set
``\\{1, 2\\}`` or a bare list ``1, 2`` is unordered, an interval keeps its bracket types (``[0, 1)`` is not
``(0, 1)``), a union is an unordered collection of intervals, an inequality in one variable is read
as the interval it describes, a matrix compares cell by cell, and ``x = 5`` compares as ``5``.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from acereason.verify import math_eval as ev
from acereason.verify.math_sympy import SympyTimeout, sympy_equal

EXACT, NUMERIC, SYMBOLIC = 1, 2, 3
LAYER_REASON = {EXACT: "match_exact", NUMERIC: "match_numeric", SYMBOLIC: "match_symbolic"}
MAX_ITEMS = 64
NUMERIC_POINTS = 3
TIGHT_REL = 1e-33  # 40-digit evaluation: agreement to 33 digits is equality
HIGH_PRECISION_BITS = 400  # re-check of an apparent difference
LOOSE_REL = 1e-20  # beyond this the values differ; in between (evaluation noise?), ask sympy

_INF = ("c", "inf")
_NEG_INF = ("-", _INF)
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}


class Undecided(Exception):
    """No layer could decide (sympy could not simplify the difference)."""


def _simple_lhs(node: Any) -> bool:
    """A left-hand side that only names the answer: ``x``, ``a_1``, ``f(x)``, ``(a, b)``."""
    if node[0] == "seq" and node[1] == "(":  # (a, b) = (1, 2)
        return all(it[0] == "s" for it in node[2])
    return node[0] == "s" or (node[0] == "*" and len(node[1]) == 2 and node[1][0][0] == "s"
                              and node[1][1][0] == "s")


def _as_interval(node: Any) -> Any:
    """Read a one-variable inequality (``x > 3``, ``-2 \\le x < 5``, ``3 < x``) as an interval."""
    ops, exprs = node[1], node[2]
    if "=" in ops or "!=" in ops or "in" in ops:
        return node
    if len(exprs) == 2:
        (lhs, rhs), op = exprs, ops[0]
        if lhs[0] == "s" and not ev.free_symbols(rhs):
            var_left = True
        elif rhs[0] == "s" and not ev.free_symbols(lhs):
            lhs, rhs, op, var_left = rhs, lhs, _FLIP[op], True
        else:
            return node
        if var_left and op in (">", ">="):
            return ("seq", "(" if op == ">" else "[", (rhs, _INF), ")")
        return ("seq", "(", (_NEG_INF, rhs), ")" if op == "<" else "]")
    if len(exprs) == 3 and exprs[1][0] == "s" and not ev.free_symbols((exprs[0], exprs[2])):
        lo, hi = exprs[0], exprs[2]
        if ops[0] in ("<", "<=") and ops[1] in ("<", "<="):
            return ("seq", "(" if ops[0] == "<" else "[", (lo, hi), ")" if ops[1] == "<" else "]")
        if ops[0] in (">", ">=") and ops[1] in (">", ">="):
            return ("seq", "(" if ops[1] == ">" else "[", (hi, lo), ")" if ops[0] == ">" else "]")
    return node


def canonical(node: Any) -> Any:
    """Structural canonical form: ``±`` expanded, ``x°`` at top level read as ``x``, ``\\mathbb{R}`` and
    inequalities read as intervals, ``x \\in S`` read as ``S``, one-item lists unwrapped."""
    tag = node[0]
    if tag == "deg":
        return canonical(node[1])
    if tag == "pm":
        a, b = node[1], node[2]
        plus = b if a is None else ("+", (a, b))
        minus = ("-", b) if a is None else ("+", (a, ("-", b)))
        return ("list", (plus, minus))
    if tag == "reals":
        return ("seq", "(", (_NEG_INF, _INF), ")")
    if tag == "rel":
        if node[1] == ("in",):
            return canonical(node[2][1])
        if node[1] == ("=",) and _simple_lhs(node[2][0]):
            return ("rel", node[1], (node[2][0], canonical(node[2][1])))
        return _as_interval(node)
    if tag in ("list", "set"):
        items: list[Any] = []
        for it in node[1][:MAX_ITEMS + 1]:
            c = canonical(it)
            if c[0] == "list":  # "1, \pm 2" and "\{\pm 2\}" hold the expanded pair
                items.extend(c[1])
            else:
                items.append(c)
        if len(items) > MAX_ITEMS:
            raise ev.TooLarge("too many items")
        if tag == "list" and len(items) == 1:
            return items[0]
        return (tag, tuple(items))
    if tag == "seq":
        return ("seq", node[1], tuple(canonical(it) for it in node[2]), node[3])
    if tag == "union":
        return ("union", tuple(canonical(it) for it in node[1]))
    return node


def _as_set(g: Any, a: Any) -> bool:
    """Compare two collections as sets (repeats ignored) rather than as multisets?

    Yes when one is written as a set ``\\{...\\}``, or when both are lists of tuples (a list of
    solutions ``(3, 17), (17, 3)``: repeating a solution does not change the solution set), and the
    gold itself has no repeated item: a gold ``3, 3, 4`` (the sides of a triangle) counts the repeat.
    """
    if not (g[0] == "set" or a[0] == "set" or all(it[0] == "seq" for it in g[1] + a[1])):
        return False
    return len(set(g[1])) == len(g[1])


def _named_point(node: Any) -> tuple | None:
    """The point named by ``x = 1, y = -2`` (or ``y = -2, x = 1``): values in alphabetical order of
    their distinct names (x, y, z; a, b, c), else None."""
    items = node[1]
    if len(items) < 2 or not all(_is_eq_with_name(it) and it[2][0][0] == "s" for it in items):
        return None
    named = sorted(((it[2][0][1], it[2][1]) for it in items), key=lambda nv: nv[0])
    names = [n for n, _ in named]
    return tuple(v for _, v in named) if len(set(names)) == len(names) else None


def _is_eq_with_name(node: Any) -> bool:
    return node[0] == "rel" and node[1] == ("=",) and _simple_lhs(node[2][0])


def decimal_tolerance(node: Any) -> Fraction | None:
    """Half a unit in the last place of a gold written as a decimal, or None (compare exactly).

    ``0.35`` -> 0.005; ``1.5 \\times 10^{6}`` -> 50000. An integer-valued decimal such as ``27.0`` (how
    some datasets store integer answers) gets no tolerance: integers are compared exactly.
    """
    if node[0] == "-":
        node = node[1]
    if node[0] == "n" and node[2] is not None and node[1].denominator != 1:
        return node[2] / 2
    if node[0] == "*" and len(node[1]) == 2:
        mant, power = node[1]
        if mant[0] == "n" and mant[2] is not None and power[0] == "^" and power[1][:2] == ("n", 10):
            try:
                k = ev.exact(power[2])
            except (ev.NotExact, ev.TooLarge):
                return None
            if isinstance(k, Fraction) and k.denominator == 1 and abs(k) < 400:
                return mant[2] / 2 * Fraction(10) ** int(k)
    return None


def _contains(node: Any, target: tuple) -> bool:
    if node == target:
        return True
    if isinstance(node, tuple):
        return any(isinstance(c, tuple) and _contains(c, target) for c in node)
    return False


class Comparator:
    """Compares two canonical answers under one time budget for sympy work."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def compare(self, g: Any, a: Any) -> int | None:
        """The layer that proved ``g == a`` (EXACT/NUMERIC/SYMBOLIC), or None for a mismatch."""
        kg, ka = g[0], a[0]
        if kg == "rel" or ka == "rel":
            return self._compare_relations(g, a)
        if {kg, ka} == {"seq", "list"}:
            point = _named_point(a if kg == "seq" else g)
            if point is not None:  # "x = 1, y = -2" is the point (1, -2)
                tup = g if kg == "seq" else a
                return self._ordered(tup[2], point) if tup[1] == "(" and len(tup[2]) == len(point) else None
        if kg in ("list", "set") or ka in ("list", "set"):
            if kg in ("list", "set") and ka in ("list", "set"):
                if _as_set(g, a):
                    return self._same_set(g[1], a[1])
                return self._unordered(g[1], a[1])
            return None
        if kg == "seq" or ka == "seq":
            if kg == ka == "seq" and g[1] == a[1] and g[3] == a[3] and len(g[2]) == len(a[2]):
                return self._ordered(g[2], a[2])
            return None
        if kg == "union" or ka == "union":
            return self._unordered(g[1], a[1]) if kg == ka else None
        if kg == "base" or ka == "base":
            return _compare_base(g, a)
        if kg == "mat" or ka == "mat":
            if kg == ka and len(g[1]) == len(a[1]) and len(g[1][0]) == len(a[1][0]):
                return self._ordered(sum(g[1], ()), sum(a[1], ()))
            return None
        return self.compare_exprs(g, a)

    def _ordered(self, gs: tuple, as_: tuple) -> int | None:
        worst = EXACT
        for g, a in zip(gs, as_, strict=True):
            r = self.compare(g, a)
            if r is None:
                return None
            worst = max(worst, r)
        return worst

    def _unordered(self, gs: tuple, as_: tuple) -> int | None:
        if len(gs) != len(as_):
            return None
        unused = list(as_)
        worst = EXACT
        for g in gs:
            for j, a in enumerate(unused):
                r = self.compare(g, a)
                if r is not None:
                    worst = max(worst, r)
                    del unused[j]
                    break
            else:
                return None
        return worst

    def _same_set(self, gs: tuple, as_: tuple) -> int | None:
        """Equal as sets: every gold item is among the answer's and every answer item among the gold's
        (a repeated item adds nothing: ``\\{1, 1, 2\\} = \\{1, 2\\}``)."""
        worst = EXACT
        matched = [False] * len(as_)
        for g in gs:  # each gold item matched to an answer item, unmatched answer items first
            order = [j for j in range(len(as_)) if not matched[j]] + [j for j in range(len(as_)) if matched[j]]
            for j in order:
                r = self.compare(g, as_[j])
                if r is not None:
                    worst, matched[j] = max(worst, r), True
                    break
            else:
                return None
        for j, a in enumerate(as_):  # then each remaining answer item must repeat a gold item
            if not matched[j]:
                r = next((r for g in gs if (r := self.compare(g, a)) is not None), None)
                if r is None:
                    return None
                worst = max(worst, r)
        return worst

    def _compare_relations(self, g: Any, a: Any) -> int | None:
        g_named, a_named = _is_eq_with_name(g), _is_eq_with_name(a)
        if g_named and a[0] != "rel":
            return self.compare(g[2][1], a)
        if a_named and g[0] != "rel":
            return self.compare(g, a[2][1])
        if g[0] != "rel" or a[0] != "rel" or len(g[1]) != len(a[1]):
            return None
        if g_named and a_named:
            return self.compare(g[2][1], a[2][1]) if g[2][0] == a[2][0] else None
        if g[1] == a[1]:
            r = self._ordered(g[2], a[2])
            if r is not None:
                return r
        if tuple(_FLIP[o] for o in reversed(a[1])) == g[1]:
            r = self._ordered(g[2], tuple(reversed(a[2])))
            if r is not None:
                return r
        if g[1] == a[1] == ("=",):
            return self._proportional_equations(g[2], a[2])
        return None

    def _proportional_equations(self, g: tuple, a: tuple) -> int | None:
        """``2x + 2y = 4`` is ``x + y = 2``: the differences lhs - rhs are proportional."""
        dg = ("+", (g[0], ("-", g[1])))
        da = ("+", (a[0], ("-", a[1])))
        ctx = ev.mp_context()
        names = sorted(ev.free_symbols(dg) | ev.free_symbols(da))
        ratios = []
        for k in range(NUMERIC_POINTS + 1):
            env = {s: ctx.mpf(ev.symbol_value(s, k)) for s in names}
            try:
                vg, va = ev.numeric(dg, env, ctx), ev.numeric(da, env, ctx)
            except (ev.EvalError, ZeroDivisionError, ValueError):
                continue
            if va == 0 or vg == 0:
                if va == vg:
                    continue
                return None
            ratios.append(vg / va)
        if len(ratios) >= 2 and all(abs(r - ratios[0]) <= TIGHT_REL * abs(ratios[0]) for r in ratios):
            return SYMBOLIC
        return None

    # -- expressions ---------------------------------------------------------------------------
    def compare_exprs(self, g: Any, a: Any) -> int | None:
        if _contains_structure(g) or _contains_structure(a):
            return None  # a tuple/set/... inside arithmetic ("t(0, 4]") has no value to compare
        if _contains(g, _INF) or _contains(a, _INF):
            return EXACT if _inf_sign(g) == _inf_sign(a) and _inf_sign(g) != 0 else None
        gv = av = None
        g_big = a_big = False
        try:
            gv = ev.exact(g)
            g_big = isinstance(gv, tuple)
        except ev.NotExact:
            pass
        try:
            av = ev.exact(a)
            a_big = isinstance(av, tuple)
        except ev.NotExact:
            pass
        if g_big or a_big:
            return NUMERIC if gv == av else None
        tol = decimal_tolerance(g)
        if gv is not None and av is not None:
            if tol is not None:
                return NUMERIC if abs(gv - av) < tol else None
            return NUMERIC if gv == av else None
        if tol is not None and gv is not None and not ev.free_symbols(a):
            ctx = ev.mp_context()
            try:
                val = ev.numeric(a, {}, ctx)
            except (ev.EvalError, ZeroDivisionError, ValueError):
                return None
            if ctx.im(val) != 0:
                return None
            return NUMERIC if abs(ctx.re(val) - ctx.mpf(gv.numerator) / gv.denominator) < \
                ctx.mpf(tol.numerator) / tol.denominator else None
        return self._numeric_then_sympy(g, a)

    def _numeric_then_sympy(self, g: Any, a: Any) -> int | None:
        ctx = ev.mp_context()
        names = sorted(ev.free_symbols(g) | ev.free_symbols(a))
        wanted = NUMERIC_POINTS if names else 1
        agree = unsure = overflows = 0
        for k in range(wanted + 3):
            verdict = _compare_at_point(g, a, names, k, ctx)
            overflows += verdict == "overflow"
            if verdict == "differ":
                # Catastrophic cancellation can fake a difference at 40 digits ((x + 10^{30}) - 10^{30});
                # a genuine difference survives at 120 digits.
                verdict = _compare_at_point(g, a, names, k, ev.mp_context(HIGH_PRECISION_BITS))
                if verdict == "differ":
                    return None
            if verdict == "agree":
                agree += 1
            elif verdict in ("unsure", "differ"):
                unsure += 1
            if agree + unsure >= wanted:
                break
        if agree >= wanted and unsure == 0:
            return SYMBOLIC
        if overflows and agree + unsure == 0:
            # Beyond 1e300 wherever we look: sympy would only try to build the giant number.
            raise ev.TooLarge("value beyond 1e300 at every sample point")
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SympyTimeout("time budget spent before sympy")
        verdict = sympy_equal(g, a, left)
        if verdict is None:
            raise Undecided("sympy could not decide")
        return SYMBOLIC if verdict else None


def _compare_at_point(g: Any, a: Any, names: list[str], k: int, ctx: Any) -> str:
    """'agree', 'unsure', 'differ', 'overflow' or 'failed' (no value) for g and a at the k-th point."""
    env = {s: ctx.mpf(ev.symbol_value(s, k)) for s in names}
    try:
        vg = ev.numeric(g, env, ctx)
        va = ev.numeric(a, env, ctx)
    except (ev.EvalError, ZeroDivisionError, ValueError, OverflowError) as err:
        return "overflow" if str(err) == "overflow" else "failed"
    diff = abs(vg - va)
    scale = max(abs(vg), abs(va))
    if diff <= TIGHT_REL * scale + 1e-32:
        return "agree"
    if diff <= LOOSE_REL * scale + 1e-28:
        return "unsure"
    return "differ"


_STRUCTURES = {"seq", "set", "list", "union", "mat", "rel", "pm", "reals", "base"}


def _contains_structure(node: Any) -> bool:
    if not isinstance(node, tuple) or not node:
        return False
    if isinstance(node[0], str):
        if node[0] in _STRUCTURES:
            return True
        children = node[1:]
    else:
        children = node
    return any(isinstance(c, tuple) and _contains_structure(c) for c in children)


def _compare_base(g: Any, a: Any) -> int | None:
    """``52_8`` equals ``52_{8}``, and the bare digits ``52`` (the base is the question's); not ``42``."""
    if g[0] == a[0] == "base":
        return EXACT if g[1:] == a[1:] else None
    based, other = (g, a) if g[0] == "base" else (a, g)
    if other[0] == "n" and other[2] is None and other[1].denominator == 1 and other[1] >= 0:
        return EXACT if str(other[1].numerator) == based[1] else None
    return None


def _inf_sign(node: Any) -> int:
    """+1 for ``\\infty``/``+\\infty``, -1 for ``-\\infty``, 0 for anything else."""
    if node == _INF:
        return 1
    if node[0] == "-":
        return -_inf_sign(node[1])
    if node[0] == "+" and len(node[1]) == 1:
        return _inf_sign(node[1][0])
    return 0
