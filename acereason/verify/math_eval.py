"""Evaluation layers of the math verifier: exact rationals, then high-precision numbers.

Both evaluators walk the tuple AST of :mod:`acereason.verify.math_parse` and are bounded *before*
they compute: a power, factorial or binomial whose result would exceed :data:`BIT_LIMIT` bits is not
built. Exponent towers with integer bases are kept as a canonical ``("bigpow", base, exponent)``
(``5^{5^{5^5}}`` and ``5^{5^{3125}}`` both become ``bigpow(5, 5**3125)``); anything else that large
raises :class:`TooLarge`. So everything here runs in the calling thread in microseconds to
milliseconds, whatever the input, without sympy.

* :func:`exact` -> ``Fraction`` (or a bigpow) for rational constant expressions, else :class:`NotExact`.
* :func:`numeric` -> an mpmath number at 133-bit precision (about 40 digits) for any expression,
  given values for its variables; every intermediate is checked for overflow.
"""

from __future__ import annotations

import math
import threading
import zlib
from fractions import Fraction
from typing import Any

BIT_LIMIT = 20_000  # ~6,000 decimal digits: far beyond any competition answer, cheap to compute
MAX_FACTORIAL = 2_000
MAX_MAGNITUDE_LOG = 690.0  # e**690 ~ 1e300: numeric intermediates beyond this are "overflow"
PRECISION_BITS = 133


class NotExact(Exception):
    """The expression is not a rational constant (it holds a variable, a radical, pi, ...)."""


class TooLarge(Exception):
    """Building the value would cost too much (exponent tower, giant factorial): estimated, not built."""


class EvalError(Exception):
    """Numeric evaluation failed at this point (division by zero, overflow, unsupported node)."""


BigPow = tuple  # ("bigpow", base: int >= 2, exponent: int | BigPow)


def _bits(q: Fraction) -> int:
    return q.numerator.bit_length() + q.denominator.bit_length()


def _int_root(n: int, k: int) -> int | None:
    """The exact integer k-th root of n >= 0, or None."""
    if n < 2:
        return n
    r = round(n ** (1.0 / k)) if n.bit_length() < 1000 else None
    if r is None:  # Newton's method on big integers
        r = 1 << -(-n.bit_length() // k)
        while True:
            s = ((k - 1) * r + n // r ** (k - 1)) // k
            if s >= r:
                break
            r = s
    for cand in (r - 1, r, r + 1):
        if cand >= 0 and cand**k == n:
            return cand
    return None


def _bigpow(base: int, exp: Any) -> BigPow:
    """Canonical huge power: the base is reduced to its smallest perfect-power root (8^x -> 2^(3x))."""
    if isinstance(exp, int):
        for k in (2, 3, 5, 7, 11, 13):
            while base > 3:
                r = _int_root(base, k)
                if r is None:
                    break
                base, exp = r, exp * k
    return ("bigpow", base, exp)


def _is_big(v: Any) -> bool:
    return isinstance(v, tuple)


def _as_int(v: Fraction) -> int | None:
    return v.numerator if v.denominator == 1 else None


def exact(node: tuple) -> Fraction | BigPow:
    """Evaluate a constant rational expression exactly; raise NotExact or TooLarge otherwise."""
    tag = node[0]
    if tag == "n":
        return node[1]
    if tag == "-":
        v = exact(node[1])
        if _is_big(v):
            raise TooLarge("negated huge power")
        return -v
    if tag == "deg":
        return exact(node[1])
    if tag in ("+", "*"):
        acc = Fraction(0) if tag == "+" else Fraction(1)
        for child in node[1]:
            v = exact(child)
            if _is_big(v):
                if len(node[1]) == 1:
                    return v
                raise TooLarge("arithmetic on a huge power")
            if tag == "+":
                acc += v
            else:
                if _bits(acc) + _bits(v) > BIT_LIMIT:
                    raise TooLarge("product too large")
                acc *= v
        return acc
    if tag == "/":
        a, b = exact(node[1]), exact(node[2])
        if _is_big(a) or _is_big(b):
            raise TooLarge("division of huge powers")
        if b == 0:
            raise NotExact("division by zero")
        return a / b
    if tag == "^":
        return _exact_pow(exact(node[1]), exact(node[2]))
    if tag == "!":
        v = exact(node[1])
        n = None if _is_big(v) else _as_int(v)  # type: ignore[arg-type]
        if _is_big(v) or (n is not None and n > MAX_FACTORIAL):
            raise TooLarge("factorial too large")
        if n is None or n < 0:
            raise NotExact("factorial of a non-natural number")
        return Fraction(math.factorial(n))
    if tag == "f":
        return _exact_func(node[1], node[2])
    raise NotExact(tag)


def _exact_pow(b: Any, e: Any) -> Fraction | BigPow:
    if _is_big(e):
        if not _is_big(b) and b in (0, 1):
            return b
        if not _is_big(b) and _as_int(b) is not None and b > 1:
            return _bigpow(int(b), e)
        raise TooLarge("huge exponent")
    if _is_big(b):
        n = _as_int(e)
        if n is not None and n > 0 and isinstance(b[2], int):
            if b[2].bit_length() + n.bit_length() > BIT_LIMIT:
                raise TooLarge("power of a huge power")
            return _bigpow(b[1], b[2] * n)
        raise TooLarge("power of a huge power")
    n = _as_int(e)
    if n is not None:
        if b == 0 and n < 0:
            raise NotExact("division by zero")
        if b in (0, 1) or n in (0, 1):
            return b**n
        if b == -1:
            return Fraction(-1 if n % 2 else 1)
        if _bits(b) * abs(n) > BIT_LIMIT:
            if _as_int(b) is not None and b > 1 and n > 0:
                return _bigpow(int(b), n)
            raise TooLarge("power too large")
        return b**n
    # Rational exponent p/q: exact only when the q-th root is exact (8^(2/3) = 4).
    p, q = e.numerator, e.denominator
    if q > 64 or b < 0 or _bits(b) * abs(p) > BIT_LIMIT:
        raise NotExact("irrational power")
    bp = b**p
    rn, rd = _int_root(bp.numerator, q), _int_root(bp.denominator, q)
    if rn is None or rd is None:
        raise NotExact("irrational root")
    return Fraction(rn, rd)


def _exact_func(name: str, args: tuple) -> Fraction:
    vals = [exact(a) for a in args]
    if any(_is_big(v) for v in vals):
        raise TooLarge("function of a huge power")
    if name == "sqrt":
        return _exact_pow(vals[0], Fraction(1, 2))  # type: ignore[return-value]
    if name == "abs":
        return abs(vals[0])
    if name == "conj":
        return vals[0]
    if name == "floor":
        return Fraction(math.floor(vals[0]))
    if name == "ceil":
        return Fraction(math.ceil(vals[0]))
    if name in ("max", "min") and vals:
        return max(vals) if name == "max" else min(vals)
    ints = [_as_int(v) for v in vals]
    if name == "binom" and None not in ints:
        n, k = ints
        if n > 5 * MAX_FACTORIAL:  # type: ignore[operator]
            raise TooLarge("binomial too large")
        return Fraction(math.comb(n, k) if n >= 0 and k >= 0 else 0)  # type: ignore[arg-type]
    if name in ("gcd", "lcm") and None not in ints and ints:
        return Fraction(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))  # type: ignore[arg-type]
    raise NotExact(name)


# --------------------------------------------------------------------------------------------------
# High-precision numeric evaluation
# --------------------------------------------------------------------------------------------------

_local = threading.local()


def mp_context(prec: int = PRECISION_BITS) -> Any:
    """A per-thread mpmath context at ``prec`` bits (mpmath's global ``mp`` is not thread-safe)."""
    contexts = getattr(_local, "contexts", None)
    if contexts is None:
        contexts = _local.contexts = {}
    ctx = contexts.get(prec)
    if ctx is None:
        from mpmath.ctx_mp import MPContext

        ctx = MPContext()
        ctx.prec = prec
        contexts[prec] = ctx
    return ctx


def symbol_value(name: str, k: int) -> float:
    """The k-th evaluation point of a variable: a fixed pseudo-random positive real in (0.6, 2.4).

    Positive reals, because competition answers are stated for positive quantities (lengths, indices
    ``n``): ``\\sqrt{1/n}`` equals ``1/\\sqrt{n}`` there. Deterministic per (name, k) so results
    reproduce across processes; distinct names get independent values so ``2x`` never equals ``2y``.
    """
    h = zlib.crc32(f"{name}#{k}".encode())
    return 0.6 + 1.8 * ((h % 1_000_003) / 1_000_003) + 1e-7 * (h % 97)


_TRIG = {"sin", "cos", "tan", "cot", "sec", "csc"}


def _check(ctx: Any, v: Any) -> Any:
    if not ctx.isfinite(v) or (v != 0 and ctx.log(abs(v)) > MAX_MAGNITUDE_LOG):
        raise EvalError("overflow")
    return v


def numeric(node: tuple, env: dict[str, Any], ctx: Any, in_trig: bool = False) -> Any:
    """Evaluate ``node`` with mpmath at the point ``env`` (variable -> value); raise EvalError on failure.

    ``in_trig`` is set inside trig arguments, where ``x°`` means ``x·π/180`` (so ``\\sin 60^\\circ`` is
    ``√3/2``, not sin of 60 radians).
    """
    tag = node[0]
    if tag == "n":
        q = node[1]
        return ctx.mpf(q.numerator) / q.denominator
    if tag == "s":
        try:
            return env[node[1]]
        except KeyError:
            raise EvalError(f"no value for {node[1]}") from None
    if tag == "c":
        name = node[1]
        if name == "pi":
            return +ctx.pi
        if name == "e":
            return ctx.e()
        if name == "i":
            return ctx.mpc(0, 1)
        raise EvalError("infinity")
    if tag == "-":
        return -numeric(node[1], env, ctx, in_trig)
    if tag == "+":
        acc = ctx.mpf(0)
        for c in node[1]:
            acc = acc + numeric(c, env, ctx, in_trig)
        return _check(ctx, acc)
    if tag == "*":
        acc = ctx.mpf(1)
        for c in node[1]:
            acc = _check(ctx, acc * numeric(c, env, ctx, in_trig))
        return acc
    if tag == "/":
        den = numeric(node[2], env, ctx, in_trig)
        if den == 0:
            raise EvalError("division by zero")
        return _check(ctx, numeric(node[1], env, ctx, in_trig) / den)
    if tag == "^":
        return _numeric_pow(node, env, ctx, in_trig)
    if tag == "!":
        x = numeric(node[1], env, ctx, in_trig)
        if ctx.im(x) != 0 or ctx.re(x) > 170 or (ctx.re(x) < 0 and ctx.re(x) == int(ctx.re(x))):
            raise EvalError("factorial out of range")
        return ctx.gamma(ctx.re(x) + 1)
    if tag == "deg":
        x = numeric(node[1], env, ctx, in_trig)
        return x * ctx.pi / 180 if in_trig else x
    if tag == "f":
        return _numeric_func(node[1], node[2], env, ctx)
    raise EvalError(f"cannot evaluate {tag}")


def _numeric_pow(node: tuple, env: dict[str, Any], ctx: Any, in_trig: bool) -> Any:
    b = numeric(node[1], env, ctx, in_trig)
    e = numeric(node[2], env, ctx, in_trig)
    if b == 0:
        if ctx.re(e) > 0:
            return ctx.mpf(0)
        raise EvalError("zero to a non-positive power")
    # Estimate |b^e| before computing it, so towers never get built.
    log_mag = ctx.re(e) * ctx.log(abs(b)) - ctx.im(e) * ctx.arg(b)
    if log_mag > MAX_MAGNITUDE_LOG or abs(e) > 1e6:
        raise EvalError("overflow")
    if ctx.im(b) == 0 and ctx.im(e) == 0 and ctx.re(b) < 0:
        er = ctx.re(e)
        if er == int(er):
            return ctx.re(b) ** int(er)
        inv = 1 / er
        if abs(inv - ctx.nint(inv)) < 1e-30 and int(ctx.nint(inv)) % 2 == 1:
            return -((-ctx.re(b)) ** er)  # odd real root: \sqrt[3]{-8} = -2, as in school algebra
    return _check(ctx, ctx.power(b, e))


def _real(ctx: Any, v: Any) -> Any:
    if ctx.im(v) != 0:
        raise EvalError("complex argument to a real function")
    return ctx.re(v)


def _numeric_func(name: str, args: tuple, env: dict[str, Any], ctx: Any) -> Any:
    vals = [numeric(a, env, ctx, name in _TRIG) for a in args]
    x = vals[0] if vals else None
    if name in _TRIG or name in ("sinh", "cosh", "tanh", "exp"):
        if abs(x) > (MAX_MAGNITUDE_LOG if name in ("sinh", "cosh", "exp") else 1e12):
            raise EvalError("argument too large")
        if name in ("cot", "sec", "csc"):
            d = {"cot": ctx.tan, "sec": ctx.cos, "csc": ctx.sin}[name](x)
            if abs(d) < 1e-30:
                raise EvalError("pole")
            return 1 / d
        return getattr(ctx, name)(x)
    if name in ("asin", "acos", "atan"):
        return getattr(ctx, name)(x)
    if name == "acot":
        if x == 0:
            return ctx.pi / 2
        return ctx.atan(1 / x)
    if name == "sqrt":
        return ctx.sqrt(x)
    if name == "ln":
        if x == 0:
            raise EvalError("log of zero")
        return ctx.log(x)
    if name == "abs":
        return abs(x)
    if name == "conj":
        return ctx.conj(x)
    if name in ("floor", "ceil"):
        return getattr(ctx, name)(_real(ctx, x))
    if name in ("max", "min"):
        reals = [_real(ctx, v) for v in vals]
        return max(reals) if name == "max" else min(reals)
    if name == "binom":
        n, k = (_real(ctx, v) for v in vals)
        if abs(n) > 1e4:
            raise EvalError("binomial too large")
        return ctx.binomial(n, k)
    if name in ("gcd", "lcm"):
        ints = []
        for v in vals:
            r = _real(ctx, v)
            if r != ctx.nint(r) or abs(r) > 1e15:
                raise EvalError("gcd of non-integers")
            ints.append(int(r))
        return ctx.mpf(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))
    raise EvalError(f"unknown function {name}")


def free_symbols(node: Any, out: set[str] | None = None) -> set[str]:
    """Names of the variables in an AST (or in a tuple of ASTs)."""
    out = set() if out is None else out
    if not isinstance(node, tuple) or not node:
        return out
    if node[0] == "s":
        out.add(node[1])
        return out
    for child in node[1:] if isinstance(node[0], str) else node:
        if isinstance(child, tuple):
            free_symbols(child, out)
    return out
