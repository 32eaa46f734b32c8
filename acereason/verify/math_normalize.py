"""String layer of the math verifier: answer extraction and LaTeX normalisation.

Everything here is pure ``str`` work, linear in the input, with no sympy and no evaluation, so it is
safe on any input. :func:`extract_boxed` implements the paper's answer rule (the last ``\\boxed{}``
after ``</think>``); :func:`normalize` turns an answer into a canonical LaTeX string where the
presentational variants (``\\dfrac``, ``\\left(``, ``\\text{ cm}``, ``50\\%``, ``10,\\!000``,
``7 \\pmod{10}``) are gone, so the cheapest layer (string equality) settles most pairs.
"""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")


def answer_region(response: str) -> str | None:
    """Return the part of a response that may hold the final answer, or None if there is none.

    The paper rewards the boxed answer after the reasoning: text after the last ``</think>``. A
    response that opened ``<think>`` and never closed it was cut off mid-thought: no answer, even if
    the thinking contains a ``\\boxed{}`` (rewarding it would reward unfinished reasoning).
    """
    if THINK_CLOSE in response:
        return response.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in response:
        return None
    return response


def _brace_group_end(text: str, start: int, stop: int) -> int:
    """Index just past the brace group opening at ``text[start] == '{'``; -1 if not closed before stop.

    Escaped braces (``\\{``, ``\\}``) do not count, so ``\\boxed{\\{1, 2\\}}`` is one group.
    """
    depth = 0
    i = start
    while i < stop:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


_BRACE_TOKEN_RE = re.compile(r"\\.|[{}]", re.S)


def last_boxed(text: str) -> str | None:
    """Content of the last balanced ``\\boxed{...}`` / ``\\fbox{...}`` in ``text`` (None if none).

    "Last" is the box that closes last; of nested boxes, the outermost (``\\boxed{\\boxed{7} + 1}``
    is ``\\boxed{7} + 1``). Braces are matched in one pass over the brace tokens after the first box,
    so the search is linear in ``len(text)`` even for adversarial inputs such as fifty thousand
    unclosed ``\\boxed{``. Escaped braces (``\\{``) do not count.
    """
    matches = list(_BOX_RE.finditer(text))
    if not matches:
        return None
    close_of: dict[int, int] = {}
    stack: list[int] = []
    for tok in _BRACE_TOKEN_RE.finditer(text, matches[0].end()):
        ch = tok.group(0)
        if ch == "{":
            stack.append(tok.start())
        elif ch == "}" and stack:
            close_of[stack.pop()] = tok.start()
    best: tuple[tuple[int, int], int, int] | None = None  # ((end, -start), content start, content end)
    n = len(text)
    for m in matches:
        j = m.end()
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "{":
            close = close_of.get(j)
            if close is None:
                continue
            cand = ((close, -j), j + 1, close)
        elif j < n and text[j] not in "$\n\\{}":
            # ``\\boxed 5``: TeX takes one token; we take the run up to whitespace or a math delimiter.
            tok = re.match(r"[^\s${}]+", text[j:j + 200])
            if not tok:
                continue
            cand = ((j + tok.end(), -j), j, j + tok.end())
        else:
            continue
        if best is None or cand[0] > best[0]:
            best = cand
    return None if best is None else text[best[1]:best[2]]


def extract_boxed(response: str) -> str | None:
    """The graded answer of a response: the last balanced ``\\boxed{}``/``\\fbox{}`` after ``</think>``.

    Returns None when there is no answer: no box, an unclosed ``<think>``, or an empty box. There is
    deliberately no fallback to "the last number in the text" (it rewards answers never committed to).
    A box holding only a box (``\\boxed{\\boxed{5}}``) is unwrapped to ``5``.
    """
    region = answer_region(response)
    if region is None:
        return None
    ans = last_boxed(region)
    for _ in range(100):  # \boxed{\boxed{7}} is 7; \boxed{\boxed{7} + 1} is left whole
        m = _BOX_RE.match(ans.strip()) if ans is not None else None
        if m is None:
            break
        whole = ans.strip()  # type: ignore[union-attr]
        i = m.end()
        while i < len(whole) and whole[i] == " ":
            i += 1
        if i >= len(whole) or whole[i] != "{" or _brace_group_end(whole, i, len(whole)) != len(whole):
            break
        ans = whole[i + 1:-1]
    if ans is None or not ans.strip():
        return None
    return ans.strip()


# Several boxes that together are the answer: "\\boxed{-2} \\text{ and } \\boxed{1}",
# "x_1 = \\boxed{a}, x_2 = \\boxed{b}". Between two boxes of such a chain there may only be math
# delimiters, spacing, punctuation, the connectors below, item labels "(a)", and the next box's label.
MAX_CHAIN_BOXES = 64
_MAX_GAP_CHARS = 80
_GAP_TEXT_RE = re.compile(r"\\(?:text|textrm|textnormal|mathrm|textbf|mbox)\s*\{([^{}]*)\}")
_GAP_NOISE_RE = re.compile(r"\$|\\[()\[\]]|\\q?quad(?![a-zA-Z])|\\[,;:! ]|\\\\|[~,;.&\s]")
_GAP_TOKEN_RE = re.compile(r"\((?:[a-h]|[ivx]{1,4})\)|[A-Za-z]+|\S")
_CONNECTORS = {"and", "or", "for", "part", "parts", "respectively"}
_LABEL_RE = re.compile(r"(?<![A-Za-z\\])([A-Za-z](?:_\{[A-Za-z0-9]{1,8}\}|_[A-Za-z0-9])?)\s*=\s*$")
_OPENERS_TAIL_RE = re.compile(r"(?:\s|\$|\\[(\[])*$")


def _label_before(text: str) -> tuple[str | None, str]:
    """The ``x_1 =`` label that ends ``text`` (delimiters such as ``$`` allowed after it), and the rest."""
    head = _OPENERS_TAIL_RE.sub("", text)
    m = _LABEL_RE.search(head)
    return (m.group(1), head[:m.start()]) if m else (None, head)


def _connector_gap(gap: str) -> tuple[bool, str | None]:
    """Is ``gap`` (the text between two boxes) only connectors? And the label of the next box, if any."""
    if len(gap) > _MAX_GAP_CHARS:
        return False, None
    label, rest = _label_before(gap)
    rest = _GAP_NOISE_RE.sub(" ", _GAP_TEXT_RE.sub(lambda m: f" {m.group(1)} ", rest))
    for tok in _GAP_TOKEN_RE.findall(rest):
        if tok.lower() not in _CONNECTORS and not tok.startswith("("):
            return False, None
    return True, label


def final_boxes(response: str, last: str | None = None) -> list[str] | None:
    """The boxes that together end the answer region, when there are two or more; else None.

    Each item is a box's content, with its label when one precedes it (``y_1 = \\boxed{..}`` gives
    ``y_1 = ..``). The chain ends with the box :func:`extract_boxed` grades and goes back over boxes
    separated only by connectors (``and``, ``or``, ``,``, ``\\quad``, ``\\text{ for part (a) and }``,
    math delimiters): a box followed by reasoning (an intermediate result) is not part of it. The
    caller decides whether the chain is used (only against a gold that is a list or a set). ``last`` is
    :func:`extract_boxed`'s answer when the caller has it (saves a pass).

    Only the last ``MAX_CHAIN_BOXES + 1`` boxes are looked at, so the cost does not grow with the number
    of boxes; a window that starts inside an enclosing box is caught by the check that the chain ends
    with the graded box.
    """
    region = answer_region(response)
    if region is None or (region.count("\\boxed") + region.count("\\fbox")) < 2:
        return None
    matches = list(_BOX_RE.finditer(region))[-(MAX_CHAIN_BOXES + 1):]
    close_of: dict[int, int] = {}
    stack: list[int] = []
    for tok in _BRACE_TOKEN_RE.finditer(region, matches[0].end()):
        ch = tok.group(0)
        if ch == "{":
            stack.append(tok.start())
        elif ch == "}" and stack:
            close_of[stack.pop()] = tok.start()
    spans: list[tuple[int, int, int]] = []  # (box start, content start, closing brace), outermost only
    for m in matches:
        j = m.end()
        while j < len(region) and region[j] in " \t":
            j += 1
        close = close_of.get(j) if j < len(region) and region[j] == "{" else None
        if close is None:
            continue
        if spans and m.start() < spans[-1][2]:
            continue  # a box inside the previous box
        spans.append((m.start(), j + 1, close))
    if last is None:
        last = extract_boxed(response)
    if len(spans) < 2 or region[spans[-1][1]:spans[-1][2]].strip() != (last or "").strip():
        return None
    items: list[str] = []
    k = len(spans) - 1
    while True:
        start, c0, c1 = spans[k]
        content = region[c0:c1].strip()
        if not content:
            return None
        gap = region[spans[k - 1][2] + 1 if k > 0 else 0:start]
        ok, label = _connector_gap(gap) if k > 0 else (False, None)
        if not ok:  # the first box of the chain: its label, if the text just before it ends with one
            label = _label_before(gap[-_MAX_GAP_CHARS:])[0]
        items.append(f"{label} = {content}" if label else content)
        if not ok or len(items) > MAX_CHAIN_BOXES:
            break
        k -= 1
    if len(items) < 2 or len(items) > MAX_CHAIN_BOXES:
        return None
    return items[::-1]


# --------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------

# Words dropped when they follow a quantity: units and currency. Kept short and explicit on purpose:
# a word not listed here stays, and the pair then compares as text or fails to parse (a mismatch).
_UNITS = (
    "units?|square units?|sq\\.? units?|cubic units?|unit\\^?2|"
    "mm|cm|km|meters?|metres?|centimeters?|kilometers?|millimeters?|inch(?:es)?|feet|foot|"
    "yards?|miles?|mph|km/h|m/s|"
    "sq\\.? ?(?:ft|in|cm|m|units|meters|feet|inches)|"
    "seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|"
    "grams?|kg|kilograms?|pounds?|lbs?|ounces?|oz|liters?|litres?|ml|gallons?|"
    "dollars?|cents?|euros?|degrees?|deg|radians?|rad|percent|"
    "people|persons?|students?|ways?|times|points?|games?|pages?|books?|cookies|apples|marbles|"
    "coins|cars|boxes|balls|handshakes|students|trees|numbers?|integers?|digits?|steps|moves|"
    "routes|paths|squares|triangles|rectangles|sides|vertices|edges|faces|tiles|cubes"
)
_UNIT_TAIL_RE = re.compile(
    rf"(?:(?<=[\d}}).])\s*(?:{_UNITS})|(?<=\d)\s+(?:m|s|h|g|l|in|mi|yd|ft))"
    r"(?:\s*\^\s*\{?[23]\}?|[²³])?\s*$", re.I)
_UNIT_WORD_RE = re.compile(rf"\s*(?:{_UNITS}|m|s|h|g|l|in|mi|yd|ft)\s*", re.I)
_MULTIPLIER_RE = re.compile(r"\b(?:dozens?|hundreds?|thousands?|millions?|billions?|trillions?|"
                            r"squared|cubed|halves|half|thirds?|quarters?|tenths?|hundredths?|pi)\b", re.I)
_TEXT_CMD_RE = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm|textit|textsf|texttt|mathit|mathsf)\s*\{")
_STYLE_CMD_RE = re.compile(
    r"\\(?:mathbf|textbf|boldsymbol|bm|mathbb|mathcal|mathscr|mathfrak|operatorname|boxed|fbox)\s*\{")
_SIMPLE_SUBS = (
    ("\\mathbb{R}", "\\reals "), ("\\mathbb R", "\\reals "), ("\\R ", "\\reals "), ("ℝ", "\\reals "),
    ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\cfrac", "\\frac"),
    ("\\dbinom", "\\binom"), ("\\tbinom", "\\binom"),
    ("\\displaystyle", " "), ("\\limits", ""), ("\\nolimits", ""),
    ("\\!", ""), ("\\,", " "), ("\\;", " "), ("\\:", " "), ("\\>", " "), ("\\ ", " "), ("~", " "),
    ("\\qquad", " "), ("\\quad", " "), ("\\hfill", " "), ("\\medspace", " "), ("\\thinspace", " "),
    ("\\leqslant", "\\le "), ("\\geqslant", "\\ge "), ("\\leq", "\\le "), ("\\geq", "\\ge "),
    ("\\neq", "\\ne "), ("\\lt", "<"), ("\\gt", ">"),
    ("≤", "\\le "), ("≥", "\\ge "), ("≠", "\\ne "), ("∞", "\\infty "), ("π", "\\pi "), ("√", "\\sqrt"),
    ("·", "\\cdot "), ("×", "\\times "), ("÷", "\\div "), ("−", "-"), ("–", "-"), ("∪", "\\cup "),
    ("∅", "\\emptyset "), ("\\varnothing", "\\emptyset "), ("\\infin", "\\infty "),
    ("\\dots", "\\ldots"), ("\\cdots", "\\ldots"), ("…", "\\ldots"),
    ("\\lvert", "|"), ("\\rvert", "|"), ("\\vert", "|"), ("\\mid", "|"),
    ("\\lbrace", "\\{"), ("\\rbrace", "\\}"), ("\\lbrack", "["), ("\\rbrack", "]"),
    ("\\to", "\\rightarrow"), ("\\Rightarrow", "\\rightarrow"), ("\\implies", "\\rightarrow"),
    ("\\%", "%"), ("\\$", " "), ("$", " "), ("\\cdotp", "\\cdot "),
    ("\\tilde", ""), ("\\hat", ""), ("\\vec", ""), ("\\widehat", ""),
)
_SIZE_RE = re.compile(r"\\(?:left|right|middle|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)"
                      r"(?![a-zA-Z])\s*(\.(?![0-9]))?")
_DEGREE_RE = re.compile(
    r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\^\s*\{\s*\\text\s*\{\s*o\s*\}\s*\}|°|\\degree(?![a-zA-Z])")
# A modular clause after the answer: "7 \pmod{10}", "7 (\mathrm{mod}\ 10)", "7 \text{ (mod } 10)".
_MOD_TAIL_RE = re.compile(r"\s*(?:\\pmod\s*\{[^{}]*\}|\\pmod\s*\w+|\(?\s*(?:\\bmod|\\mod|mod)\b[^()]*\)?)\s*$")
# Separators that cannot be list commas: "1{,}000" and MATH's "10,\!000" or "11,\! 111" (digit,
# separator, 3 digits). Applied before "\!" is dropped, so "(10,\!000, 2)" keeps its list comma.
_MARKED_THOUSANDS_RE = re.compile(r"(?<=\d)(?:\{,\}|,\s*\\!\s*)(?=\d{3}(?!\d))")
# A doubly escaped command ("\\frac" for "\frac", text that was escaped twice): outside an environment a
# line break "\\" directly followed by letters means nothing in an answer, so it is read as the command.
_DOUBLE_ESCAPED_RE = re.compile(r"\\\\(?=[a-zA-Z])")
# Percent written as a word after a number: "28 pct", "28 percentage", "28 per cent".
_PERCENT_WORD_RE = re.compile(r"(?<=[\d}])\s*(?:percentage|per\s?cent|pct)\.?(?=\s*$)", re.I)
# A bare "," or " " separates thousands only when the whole answer is that one number: "[1,100]" is
# an interval and "2 100" is not a number.
_WHOLE_THOUSANDS_RE = re.compile(r"-?\d{1,3}(?:(?:,\d{3})+|(?: \d{3})+)(?:\.\d+)?")
_MC_RE = re.compile(r"^\(?\s*([A-E])\s*\)?$")
_WS_RE = re.compile(r"\s+")


def _unwrap_commands(s: str, cmd_re: re.Pattern[str], keep: str = "{}") -> str:
    """Replace ``\\cmd{content}`` by ``content`` (wrapped in ``keep``'s characters) for each match."""
    out: list[str] = []
    pos = 0
    for _ in range(1000):  # bounded: each round consumes one command
        m = cmd_re.search(s, pos)
        if not m:
            break
        brace = m.end() - 1
        end = _brace_group_end(s, brace, len(s))
        if end == -1:
            break
        out.append(s[pos:m.start()])
        inner = s[brace + 1:end - 1]
        out.append(f"{keep[0]}{inner}{keep[1]}" if keep else inner)
        pos = end
    out.append(s[pos:])
    return "".join(out)


def _strip_text_units(s: str) -> str:
    """Drop a trailing ``\\text{...}`` that follows a quantity (units, "dollars", "ways" ...).

    A text group is a unit when something mathematical precedes it: ``12 \\text{ inches}`` -> ``12``,
    ``\\$5\\text{ per hour}`` -> ``5``. A whole-text answer (``\\text{Evelyn}``) is kept.
    """
    for _ in range(3):
        m = re.search(r"\\(?:text|textrm|textnormal|mbox|mathrm)\s*\{([^{}]*)\}\s*(\^\s*\{?[23]\}?)?\s*$", s)
        if not m or not s[:m.start()].strip():
            break
        words = m.group(1).strip()
        head = s[:m.start()].rstrip()
        if not re.fullmatch(r"[A-Za-z .,/'-]*", words) or words.lower() in {"or", "and"}:
            break
        if _MULTIPLIER_RE.search(words):  # "5 \\text{ million}" is not 5
            break
        # Short words must be known units: "\\mathrm{i}" is the imaginary unit, not a unit.
        if len(words.replace(" ", "")) < 3 and not _UNIT_WORD_RE.fullmatch(words):
            break
        if not re.search(r"[\d}).]$|\\pi$|[a-zA-Z]$", head):
            break
        s = head
    return s


_REPEATING_RE = re.compile(r"(\d*)\.(\d*)\\overline\s*\{\s*(\d{1,50})\s*\}")
_SMALL_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                  "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                  "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORD_RE = re.compile(rf"(?:(?P<tens>{'|'.join(_TENS)})(?:[- ](?P<unit>{'|'.join(_SMALL_NUMBERS[1:10])}))?"
                             rf"|(?P<small>{'|'.join(_SMALL_NUMBERS)}))", re.I)


def _repeating_to_fraction(m: re.Match[str]) -> str:
    """``0.1\\overline{6}`` -> ``\\frac{15}{90}``: a repeating decimal is a rational number."""
    whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
    num = int(whole + fixed + rep) - int(whole + fixed)
    den = 10 ** len(fixed) * (10 ** len(rep) - 1)
    return f"\\frac{{{num}}}{{{den}}}"


def _number_word(s: str) -> str | None:
    """"five" -> "5", "twenty-one" -> "21" (a whole answer written as one number word), else None."""
    m = _NUMBER_WORD_RE.fullmatch(s.strip())
    if m is None:
        return None
    if m.group("small"):
        return str(_SMALL_NUMBERS.index(m.group("small").lower()))
    value = 10 * (2 + _TENS.index(m.group("tens").lower()))
    return str(value + (_SMALL_NUMBERS.index(m.group("unit").lower()) if m.group("unit") else 0))


def normalize(ans: str) -> str:
    """Canonical LaTeX for an answer: presentational variants removed, spaces collapsed.

    Removes math delimiters, sizing commands (``\\left``), spacing (``\\,``, ``\\!``), style wrappers
    (``\\mathbf``, ``\\mathrm``), trailing units and punctuation, percent signs, a trailing modular
    clause, thousands separators (``10,\\!000``, ``1{,}000``, ``12 345``); maps ``\\dfrac`` to ``\\frac``,
    unicode operators to LaTeX, ``^\\circ`` to ``°`` and "or"/"and" between answers to commas.
    """
    s = ans.strip()
    while s.startswith("{") and s.endswith("}") and _brace_group_end(s, 0, len(s)) == len(s):
        s = s[1:-1].strip()  # "{90^\\circ}": a redundant outer group would hide trailing units
    if "\\\\" in s and "\\begin" not in s:
        s = _DOUBLE_ESCAPED_RE.sub(r"\\", s)
    if "{,}" in s or "\\!" in s:
        s = _MARKED_THOUSANDS_RE.sub("", s)
    s = s.replace("\\\\", "\x00")  # protect matrix row breaks from the "\\ " rule
    if "\\operatorname" in s:
        s = re.sub(r"\\operatorname\*?\s*\{\s*([a-zA-Z]+)\s*\}", r"\\\1 ", s)
    for old, new in _SIMPLE_SUBS:
        if old in s:
            s = s.replace(old, new)
    s = _SIZE_RE.sub(lambda m: "" if m.group(1) else " ", s)
    s = s.replace("{,}", ",").replace("{.}", ".")
    s = _DEGREE_RE.sub("°", s)
    s = _strip_text_units(s)
    if "p" in s or "P" in s:
        s = _PERCENT_WORD_RE.sub("%", s)
    s = _unwrap_commands(s, _STYLE_CMD_RE, keep="{}")
    if "\\text" in s or "\\mbox" in s or "\\math" in s or "\\textit" in s:
        s = _unwrap_commands(s, _TEXT_CMD_RE, keep="  ")
    s = re.sub(r"(?<![a-zA-Z\\])(?:or|and)(?![a-zA-Z])", ",", s) if ("or" in s or "and" in s) else s
    s = s.replace("%", " ")
    if "\\overline" in s:
        s = _REPEATING_RE.sub(_repeating_to_fraction, s)
    if "°" in s:
        s = re.sub(r"°\s*[CF]\s*$", "°", s)  # 30°C: a temperature unit, not a product with C
    s = _WS_RE.sub(" ", s).strip()
    # Leading prose such as "Answer: 5" or "= 5".
    s = re.sub(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", "", s, flags=re.I)
    s = re.sub(r"^(?:\\approx|\\sim)\s*", "", s.lstrip("=: ")).rstrip(" .;,:")
    s = _MOD_TAIL_RE.sub("", s) if "mod" in s else s
    s = _UNIT_TAIL_RE.sub("", s).rstrip() if re.search(r"[a-zA-Z]\W*$", s) else s
    s = s.rstrip(" .;,:")
    if ("," in s or " " in s) and _WHOLE_THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "").replace(" ", "")
    s = re.sub(r"(?<=\d)\.(?!\d)", "", s)  # "3." is 3: a trailing decimal point adds nothing
    s = s.replace("\x00", " \\\\ ")
    word = _number_word(s) if s[:1].isalpha() else None
    if word is not None:
        s = word
    mc = _MC_RE.match(s)
    if mc:
        s = mc.group(1)
    return s


def compact(s: str) -> str:
    """The string-equality key: the normalised answer without any whitespace or redundant braces."""
    s = _WS_RE.sub("", s)
    if s.startswith("{") and s.endswith("}") and _brace_group_end(s, 0, len(s)) == len(s):
        s = s[1:-1]
    return s


_UNEVALUATED_RE = re.compile(r"\\(?:int|iint|iiint|oint|lim|sum|prod|limsup|liminf)(?![a-zA-Z])|\\frac\s*\{\s*d")


def is_unevaluated(s: str) -> bool:
    """True when an answer still holds an operator the solver was meant to evaluate (∫, lim, Σ, Π, d/dx)."""
    return bool(_UNEVALUATED_RE.search(s))
