"""Property tests: ``verify(boxed(x), x)`` holds for generated answers; random input never crashes or hangs."""

from __future__ import annotations

import time
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from acereason.verify import math_eval
from acereason.verify.math import REASONS, verify
from acereason.verify.math_normalize import normalize
from acereason.verify.math_parse import parse

NEVER_HANGS_S = 5.0  # the bound is 2 s; generous margin for a loaded test machine
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def boxed(ans: str) -> str:
    return f"<think>\nreasoning\n</think>\nSo the answer is $\\boxed{{{ans}}}$."


@FAST
@given(st.integers(min_value=-10**30, max_value=10**30))
def test_integers_verify_against_themselves_and_not_neighbours(n: int) -> None:
    assert verify(boxed(str(n)), str(n)).correct
    assert not verify(boxed(str(n + 1)), str(n)).correct


@FAST
@given(st.integers(-10**6, 10**6), st.integers(1, 10**6), st.integers(1, 50))
def test_fractions_equal_in_any_form(p: int, q: int, k: int) -> None:
    gold = f"\\frac{{{p}}}{{{q}}}"
    assert verify(boxed(f"\\dfrac{{{p * k}}}{{{q * k}}}"), gold).correct
    assert verify(boxed(f"{p * k}/{q * k}"), gold).correct
    assert not verify(boxed(f"\\frac{{{p + q}}}{{{q}}}"), gold).correct


@FAST
@given(st.decimals(min_value=-10**6, max_value=10**6, allow_nan=False, allow_infinity=False, places=4))
def test_decimals_verify_against_themselves_and_their_fraction(d) -> None:  # type: ignore[no-untyped-def]
    text = format(d, "f")
    q = Fraction(d)
    assert verify(boxed(text), text).correct
    assert verify(boxed(f"\\frac{{{q.numerator}}}{{{q.denominator}}}"), text).correct
    assert not verify(boxed(format(d + 1, "f")), text).correct


# Random expressions in the answer language, rendered as LaTeX.
_leaf = st.one_of(
    st.integers(1, 40).map(str),
    st.sampled_from(["x", "y", "n", "\\pi", "e"]),
    st.tuples(st.integers(1, 9), st.integers(2, 9)).map(lambda t: f"\\frac{{{t[0]}}}{{{t[1]}}}"),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map(lambda t: f"{t[0]} + {t[1]}"),
        st.tuples(children, children).map(lambda t: f"({t[0]}) - ({t[1]})"),
        st.tuples(children, children).map(lambda t: f"({t[0]})({t[1]})"),
        st.tuples(children, children).map(lambda t: f"\\frac{{{t[0]}}}{{{t[1]}}}"),
        st.tuples(children, st.integers(2, 4)).map(lambda t: f"({t[0]})^{{{t[1]}}}"),
        children.map(lambda c: f"\\sqrt{{{c}}}"),
        children.map(lambda c: f"\\sin({c})"),
        children.map(lambda c: f"\\ln({c})"),
    )


expressions = st.recursive(_leaf, _combine, max_leaves=8)


def defined(expr: str) -> bool:
    """True when the expression has a finite value at the verifier's first sample point (ln(0) does not)."""
    ctx = math_eval.mp_context()
    node = parse(normalize(expr))
    env = {s: ctx.mpf(math_eval.symbol_value(s, 0)) for s in math_eval.free_symbols(node)}
    try:
        math_eval.numeric(node, env, ctx)
    except (math_eval.EvalError, ZeroDivisionError, ValueError):
        return False
    return True


@FAST
@given(expressions)
def test_expressions_verify_against_themselves(expr: str) -> None:
    v = verify(boxed(expr), expr)
    assert v.correct, v


@FAST
@given(expressions)
def test_expressions_differ_from_themselves_plus_one(expr: str) -> None:
    assume(defined(expr))
    v = verify(boxed(f"{expr} + 1"), expr)
    assume(v.reason not in ("timeout", "undecided"))  # sympy may give up: that is reported, not wrong
    assert not v.correct, v


@FAST
@given(expressions, expressions)
def test_commuted_sums_are_equal(a: str, b: str) -> None:
    assume(defined(a) and defined(b))
    v = verify(boxed(f"{b} + {a}"), f"{a} + {b}")
    assume(v.reason not in ("timeout", "undecided"))
    assert v.correct, v


_latex_soup = st.lists(st.sampled_from([
    "\\frac", "\\sqrt", "{", "}", "(", ")", "[", "]", "^", "_", "\\boxed{", "</think>", "<think>", "1",
    "9", "99999", ".", ",", "-", "+", "x", "e", "i", "\\pi", "\\infty", "!", "\\cdot", "\\pm", "=", "<",
    "\\le", "\\cup", "\\{", "\\}", "|", "&", "\\\\", "\\begin{pmatrix}", "\\end{pmatrix}", "\\text{", "%",
    "^\\circ", "\\sin", "\\log_", "\\int", " ", "\\left(", "\\right)", "\\mathbb{R}", "10^{", "\\lfloor",
]), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(_latex_soup, _latex_soup)
def test_random_latex_never_crashes_or_hangs(response: str, gold: str) -> None:
    t0 = time.monotonic()
    v = verify(response, gold)
    assert time.monotonic() - t0 < NEVER_HANGS_S
    assert v.reason in REASONS
    assert v.reason != "error", v.detail


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=50))
def test_random_text_never_crashes(response: str, gold: str) -> None:
    v = verify(response, gold)
    assert v.reason in REASONS
    assert v.reason != "error", v.detail
    v = verify(f"\\boxed{{{response}}}", gold)
    assert v.reason in REASONS
    assert v.reason != "error", v.detail
