"""LaTeX answer parser of the math verifier: normalised LaTeX -> a small tuple AST.

Our own recursive-descent parser (no antlr, no sympy): it covers the answer language of competition
math (numbers, fractions, radicals, powers, trig/log, factorials, binomials, ``\\pm``, complex ``i``,
tuples, sets, intervals, unions, relations, matrices) and is bounded by construction: at most
:data:`MAX_TOKENS` tokens and :data:`MAX_DEPTH` nesting levels, so a hostile answer fails fast with
:class:`ParseError` instead of exhausting the stack.

AST nodes are plain tuples (cheap to build, picklable for the sympy workers):

``("n", Fraction, ulp)``   a number literal; ``ulp`` is ``10**-d`` for a decimal with ``d`` places, else None
``("s", name)``            a variable (``x``, ``a_1``, ``\\theta``)
``("c", name)``            a constant: ``pi``, ``e``, ``i``, ``inf``
``("+", terms)`` ``("*", factors)`` ``("-", x)`` ``("/", a, b)`` ``("^", a, b)`` ``("!", x)``
``("f", name, args)``      a function (``sin``, ``sqrt``, ``log``, ``binom``, ``abs``, ``floor`` ...)
``("deg", x)``             ``x°`` (radians inside trig functions, a plain number elsewhere)
``("pm", a, b)``           ``a ± b`` (``a`` may be None)
``("seq", open, items, close)``  a bracketed sequence: tuple, point or interval (brackets kept)
``("set", items)`` ``("list", items)`` ``("union", items)`` ``("mat", rows)`` ``("reals",)``
``("rel", ops, exprs)``    a relation chain: ``x = 5``, ``1 < x \\le 3``
``("base", digits, base)`` a numeral in another base: ``52_8``
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_TOKENS = 1500
MAX_DEPTH = 120
MAX_LITERAL_DIGITS = 3000


class ParseError(ValueError):
    """The answer is not in the supported answer language (or is too big or too deep to parse)."""


Node = tuple

_TOKEN_RE = re.compile(r"""
 (?P<num>\d+\.\d+|\d+|\.\d+)
|(?P<fn>(?:arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|cot|sec|csc|log|ln|exp|sqrt)(?![a-zA-Z]))
|(?P<cmd>\\[a-zA-Z]+|\\[{}|\\])
|(?P<let>[a-zA-Z])
|(?P<op><=|>=|!=|[-+*/^_!=<>(){}\[\],;|&°:'])
|(?P<ws>\s+)
""", re.X)

_FUNCS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arccot": "acot", "sinh": "sinh",
    "cosh": "cosh", "tanh": "tanh", "ln": "ln", "log": "ln", "exp": "exp", "lg": "log10",
}
_INVERSE = {"sin": "asin", "cos": "acos", "tan": "atan", "cot": "acot"}
_MULTI_ARG = {"gcd": "gcd", "lcm": "lcm", "max": "max", "min": "min"}
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
    "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}
_RELOPS = {"=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=", "\\le": "<=", "\\ge": ">=",
           "\\ne": "!=", "\\approx": "=", "\\equiv": "=", "\\in": "in", "\\sim": "="}
_MUL_CMDS = {"\\cdot", "\\times", "\\ast"}
_CLOSERS = {")", "]", "}", "\\}", "|", "&", "\\\\", "\\rfloor", "\\rceil", ",", ";"}


def tokenize(s: str) -> list[tuple[str, str]]:
    """Split normalised LaTeX into ``(kind, text)`` tokens; unknown characters raise ParseError."""
    toks: list[tuple[str, str]] = []
    pos = 0
    n = len(s)
    while pos < n:
        m = _TOKEN_RE.match(s, pos)
        if not m:
            raise ParseError(f"unexpected character {s[pos]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "ws":
            continue
        toks.append((kind, m.group(0)))
        if len(toks) > MAX_TOKENS:
            raise ParseError("answer too long")
    return toks


def number_node(text: str) -> Node:
    """A number literal node; decimals remember their last place (``ulp``) for tolerance checks."""
    if len(text) > MAX_LITERAL_DIGITS:
        raise ParseError("number literal too long")
    if "." in text:
        whole, frac = text.split(".")
        value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac), 10 ** len(frac))
        return ("n", value, Fraction(1, 10 ** len(frac)))
    return ("n", Fraction(int(text)), None)


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.abs_depth = 0

    # -- token helpers -------------------------------------------------------------------------
    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, text: str) -> bool:
        t = self.peek()
        return t is not None and t[1] == text

    def take(self) -> tuple[str, str]:
        t = self.peek()
        if t is None:
            raise ParseError("unexpected end of answer")
        self.i += 1
        return t

    def expect(self, text: str) -> None:
        t = self.take()
        if t[1] != text:
            raise ParseError(f"expected {text!r}, got {t[1]!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("answer nested too deeply")

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> Node:
        items = self.parse_list()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return items[0] if len(items) == 1 else ("list", tuple(items))

    def parse_list(self) -> list[Node]:
        """Items separated by ``,`` or by ``;`` (``(0;-2;6)``, ``-12;-11;-10``), never both in one list
        (``1,5;2,5`` may be decimal commas: refused rather than guessed)."""
        items = [self.parse_union()]
        sep = None
        while self.peek() is not None and self.peek()[1] in (",", ";"):  # type: ignore[index]
            t = self.take()[1]
            if sep is not None and t != sep:
                raise ParseError("both ',' and ';' separate one list")
            sep = t
            items.append(self.parse_union())
        return items

    def parse_union(self) -> Node:
        parts = [self.parse_relation()]
        while self.at("\\cup"):
            self.take()
            parts.append(self.parse_relation())
        return parts[0] if len(parts) == 1 else ("union", tuple(parts))

    def parse_relation(self) -> Node:
        exprs = [self.parse_expr()]
        ops: list[str] = []
        while self.peek() is not None and self.peek()[1] in _RELOPS:  # type: ignore[index]
            ops.append(_RELOPS[self.take()[1]])
            exprs.append(self.parse_expr())
        return exprs[0] if not ops else ("rel", tuple(ops), tuple(exprs))

    def parse_expr(self) -> Node:
        self.enter()
        try:
            terms: list[Node] = []
            first = True
            while True:
                t = self.peek()
                op = t[1] if t else None
                if op in ("\\pm", "\\mp"):
                    self.take()
                    left = None if not terms else (terms[0] if len(terms) == 1 else ("+", tuple(terms)))
                    right = self.parse_expr()
                    return ("pm", left, right)
                if op in ("+", "-"):
                    self.take()
                    term = self.parse_term()
                    terms.append(("-", term) if op == "-" else term)
                elif first:
                    terms.append(self.parse_term())
                else:
                    break
                first = False
            return terms[0] if len(terms) == 1 else ("+", tuple(terms))
        finally:
            self.depth -= 1

    def starts_atom(self, t: tuple[str, str] | None) -> bool:
        if t is None:
            return False
        kind, text = t
        if kind in ("num", "let", "fn"):
            return True
        if kind == "cmd":
            return text not in _RELOPS and text not in _MUL_CMDS and text not in _CLOSERS and text not in (
                "\\pm", "\\mp", "\\cup", "\\div", "\\end", "\\rightarrow", "\\ldots")
        if text == "|":
            return self.abs_depth == 0
        return text in ("(", "[", "{")

    def parse_term(self) -> Node:
        factors = [self.parse_unary()]
        # A mixed number: an integer literal directly followed by \frac{int}{int} ("137 \frac{1}{2}").
        if factors[0][0] == "n" and factors[0][2] is None and self.at("\\frac"):
            save = self.i
            frac = self.parse_atom()
            if frac[0] == "/" and frac[1][0] == "n" and frac[2][0] == "n" and frac[1][2] is None \
                    and frac[2][2] is None and frac[2][1] != 0:
                factors[0] = ("n", factors[0][1] + frac[1][1] / frac[2][1], None)
            else:
                self.i = save
        while True:
            t = self.peek()
            if t is None:
                break
            if t[1] in _MUL_CMDS or t[1] == "*":
                self.take()
                factors.append(self.parse_unary())
            elif t[1] in ("/", "\\div"):
                self.take()
                factors.append(("^", self.parse_unary(), ("n", Fraction(-1), None)))
            elif self.starts_atom(t):
                factors.append(self.parse_power())
            else:
                break
        return factors[0] if len(factors) == 1 else ("*", tuple(factors))

    def parse_unary(self) -> Node:
        if self.at("-"):
            self.take()
            self.enter()
            try:
                return ("-", self.parse_unary())
            finally:
                self.depth -= 1
        if self.at("+"):
            self.take()
            return self.parse_unary()
        return self.parse_power()

    def parse_power(self) -> Node:
        self.enter()
        try:
            base = self.parse_postfix()
            if self.at("^"):
                self.take()
                exp = self.parse_exponent()
                base = ("^", base, exp)
                while self.at("!"):
                    self.take()
                    base = ("!", base)
            return base
        finally:
            self.depth -= 1

    def parse_exponent(self) -> Node:
        if self.at("-"):
            self.take()
            return ("-", self.parse_exponent())
        if self.at("{"):
            return self.parse_atom()
        return self.parse_power()

    def parse_postfix(self) -> Node:
        node = self.parse_atom()
        while self.peek() is not None and self.peek()[1] in ("!", "°", "'"):  # type: ignore[index]
            op = self.take()[1]
            if op == "'":
                raise ParseError("primes are not supported")
            node = ("!", node) if op == "!" else ("deg", node)
        return node

    def parse_group(self, closers: tuple[str, ...]) -> tuple[list[Node], str]:
        items: list[Node] = []
        if self.peek() is not None and self.peek()[1] in closers:  # type: ignore[index]
            return items, self.take()[1]
        items = self.parse_list()
        close = self.take()[1]
        if close not in closers:
            raise ParseError(f"unbalanced bracket before {close!r}")
        return items, close

    def parse_arg(self) -> Node:
        """One argument of ``\\frac``/``\\sqrt``/``\\binom``: a brace group, or one token (``\\frac12``)."""
        t = self.peek()
        if t is None:
            raise ParseError("missing argument")
        if t[1] == "{":
            self.take()
            items, _ = self.parse_group(("}",))
            if len(items) != 1:
                raise ParseError("bad argument")
            return items[0]
        if t[0] == "num" and len(t[1]) > 1 and "." not in t[1]:  # \frac12 is \frac{1}{2}: TeX takes a digit
            self.toks[self.i] = ("num", t[1][1:])
            return number_node(t[1][0])
        return self.parse_atom()

    def parse_atom(self) -> Node:
        t = self.take()
        kind, text = t
        if kind == "num":
            if self.at("_") and "." not in text:
                return self.parse_base(text)
            return number_node(text)
        if kind == "let":
            return self.parse_letter(text)
        if kind == "fn":
            return self.parse_function(_FUNCS.get(text, text))
        if text in ("(", "["):
            self.enter()
            try:
                items, close = self.parse_group((")", "]"))
            finally:
                self.depth -= 1
            if len(items) == 1 and (text, close) in (("(", ")"), ("[", "]")):
                return items[0]
            return ("seq", text, tuple(items), close)
        if text == "{":
            self.enter()
            try:
                items, _ = self.parse_group(("}",))
            finally:
                self.depth -= 1
            if not items:
                raise ParseError("empty group")
            return items[0] if len(items) == 1 else ("list", tuple(items))
        if text == "\\{":
            self.enter()
            try:
                items, _ = self.parse_group(("\\}",))
            finally:
                self.depth -= 1
            return ("set", tuple(items))
        if text == "|":
            self.abs_depth += 1
            self.enter()
            try:
                inner = self.parse_expr()
                self.expect("|")
            finally:
                self.abs_depth -= 1
                self.depth -= 1
            return ("f", "abs", (inner,))
        if kind == "cmd":
            return self.parse_command(text)
        raise ParseError(f"unexpected {text!r}")

    def parse_base(self, digits: str) -> Node:
        """``52_8`` / ``52_{8}``: digits written in another base, kept as written (MATH number theory)."""
        self.take()
        if self.at("{"):
            self.take()
            base = self.take()[1]
            self.expect("}")
        else:
            base = self.take()[1]
        if not base.isdigit() or not 2 <= int(base) <= 36 or len(digits) > 200:
            raise ParseError("bad base subscript")
        return ("base", digits.lstrip("0") or "0", int(base))

    def parse_letter(self, text: str) -> Node:
        if self.at("_"):
            self.take()
            sub = self.take()
            if sub[1] == "{":
                parts = []
                while not self.at("}"):
                    parts.append(self.take()[1])
                    if len(parts) > 20:
                        raise ParseError("subscript too long")
                self.take()
                return ("s", f"{text}_{''.join(parts)}")
            return ("s", f"{text}_{sub[1]}")
        if text == "e":
            return ("c", "e")
        if text == "i":
            return ("c", "i")
        return ("s", text)

    def parse_command(self, text: str) -> Node:
        name = text[1:]
        if name == "frac":
            num = self.parse_arg()
            return ("/", num, self.parse_arg())
        if name == "sqrt":
            if self.at("["):
                self.take()
                index_items, _ = self.parse_group(("]",))
                radicand = self.parse_arg()
                return ("^", radicand, ("/", ("n", Fraction(1), None), index_items[0]))
            return ("f", "sqrt", (self.parse_arg(),))
        if name == "binom":
            n = self.parse_arg()
            return ("f", "binom", (n, self.parse_arg()))
        if name == "pi":
            return ("c", "pi")
        if name == "infty":
            return ("c", "inf")
        if name == "reals":
            return ("reals",)
        if name == "emptyset":
            return ("set", ())
        if name == "i" or name == "imath":
            return ("c", "i")
        if name in _GREEK:
            return self.parse_letter(name)
        if name in _FUNCS:
            return self.parse_function(_FUNCS[name])
        if name in _MULTI_ARG:
            self.expect("(")
            args, _ = self.parse_group((")",))
            return ("f", _MULTI_ARG[name], tuple(args))
        if name in ("lfloor", "lceil"):
            self.enter()
            try:
                inner = self.parse_expr()
                self.expect("\\rfloor" if name == "lfloor" else "\\rceil")
            finally:
                self.depth -= 1
            return ("f", "floor" if name == "lfloor" else "ceil", (inner,))
        if name == "begin":
            return self.parse_matrix()
        if name == "overline":  # the complex conjugate (repeating decimals are rewritten before parsing)
            return ("f", "conj", (self.parse_arg(),))
        raise ParseError(f"unsupported command {text}")

    def parse_function(self, name: str) -> Node:
        power: Node | None = None
        base: Node | None = None
        if self.at("^"):
            self.take()
            power = self.parse_exponent()
            if power == ("-", ("n", Fraction(1), None)) and name in _INVERSE:
                name, power = _INVERSE[name], None
        if self.at("_") and name in ("log", "ln"):
            self.take()
            base = self.parse_arg()
        self.enter()
        try:
            t = self.peek()
            if t is not None and t[1] in ("(", "{"):
                # \sin(x)^2 is (\sin x)^2: a bracketed argument ends at its bracket.
                arg = self.parse_atom()
                if power is None and self.at("^"):
                    self.take()
                    power = self.parse_exponent()
            else:
                # \sin 2x: without brackets the argument runs over an implicit product that stops at the
                # next function (\sin x \cos x is a product of two functions).
                factors = [self.parse_power()]
                while self.starts_atom(self.peek()) and self.peek()[0] != "fn" and not (  # type: ignore[index]
                        self.peek()[0] == "cmd" and self.peek()[1][1:] in _FUNCS):  # type: ignore[index]
                    factors.append(self.parse_power())
                arg = factors[0] if len(factors) == 1 else ("*", tuple(factors))
        finally:
            self.depth -= 1
        node: Node = ("f", name, (arg,))
        if base is not None:
            node = ("/", ("f", "ln", (arg,)), ("f", "ln", (base,)))
        elif name == "log10":
            node = ("/", ("f", "ln", (arg,)), ("f", "ln", (("n", Fraction(10), None),)))
        if power is not None:
            node = ("^", node, power)
        return node

    def parse_matrix(self) -> Node:
        self.expect("{")
        env = ""
        while not self.at("}"):
            env += self.take()[1]
        self.take()
        if env == "array" and self.at("{"):
            while not self.at("}"):
                self.take()
            self.take()
        if env not in ("pmatrix", "bmatrix", "matrix", "Bmatrix", "smallmatrix", "array"):
            raise ParseError(f"unsupported environment {env}")
        rows: list[tuple[Node, ...]] = []
        row: list[Node] = []
        self.enter()
        try:
            while True:
                if self.at("\\end"):
                    self.take()
                    self.expect("{")
                    while not self.at("}"):
                        self.take()
                    self.take()
                    break
                row.append(self.parse_union())
                t = self.take()[1]
                if t == "&":
                    continue
                if t == "\\\\":
                    rows.append(tuple(row))
                    row = []
                    continue
                if t == "\\end":
                    self.i -= 1
                    continue
                raise ParseError(f"unexpected {t!r} in matrix")
        finally:
            self.depth -= 1
        if row:
            rows.append(tuple(row))
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return ("mat", tuple(rows))


def parse(s: str) -> Node:
    """Parse a normalised answer into an AST (see the module docstring); raise ParseError if unsupported."""
    toks = tokenize(s)
    if not toks:
        raise ParseError("empty answer")
    return _Parser(toks).parse()
