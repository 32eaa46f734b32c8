"""Exclusion rules for math problems (paper §3.2.1: keep only problems whose answer a rule-based verifier
can check reliably).

Each rule is a :class:`~acereason.curate.pipeline.Filter` over one property of the statement or the gold
answer; :data:`MATH_RULES` lists them in the order they run (the first rule that fires names the drop).
The paper excludes multi-part questions, multiple choice, true/false, proofs, figure references,
non-English statements, very short statements and overly long or complex answers; precision of each rule
on a hand-labelled sample of real problems is measured in ``tests/test_curate_precision.py`` and
reported in docs/curate.md.
"""

from __future__ import annotations

import re

from acereason.curate.normalize import word_tokens
from acereason.curate.pipeline import Drop, Filter, PatternRule
from acereason.schema import Problem

# Enumerated parts: "(a) ... (b)", "(1) ... (2)", "(I) ... (II)", "Part a)" ... at least two in order.
_NOT_CALL = r"(?<![A-Za-z0-9_\\^)])"  # "(1)" in "p(1)" is a function value, not a part marker
_PART_PAIRS = [(_NOT_CALL + r"\(a\)", _NOT_CALL + r"\(b\)"), (_NOT_CALL + r"\(i\)", _NOT_CALL + r"\(ii\)"),
               (_NOT_CALL + r"\(I\)", _NOT_CALL + r"\(II\)"), (_NOT_CALL + r"\(1\)", _NOT_CALL + r"\(2\)"),
               (r"(?m)^\s*a\)", r"(?m)^\s*b\)"), (r"(?m)^\s*1\.\s", r"(?m)^\s*2\.\s"), (r"①", r"②"),
               (r"(?i)part\s*\(?a\)?", r"(?i)part\s*\(?b\)?")]
_PARTS = [(re.compile(a), re.compile(b)) for a, b in _PART_PAIRS]
# A part is a sub-question when it opens with a request ("(2) Find ...", "b) What is ...").
_REQUEST = re.compile(r"(?i)^\W{0,3}(?:find|determine|compute|calculate|evaluate|prove|show|what|how|which|write|"
                      r"solve|simplify|express|give|is|are|does|can|if\b[^.?]*,\s*(?:find|what|how))\b")


class MultiPartRule(Filter):
    """Statements asking several sub-questions (``(1) ... (2) ...``): one boxed answer cannot grade them."""

    name = "multi_part"

    def decide(self, problem: Problem) -> Drop | None:
        text = problem.prompt
        for a, b in _PARTS:
            ma = a.search(text)
            if ma is None:
                continue
            mb = b.search(text, ma.end())
            if mb is None:
                continue
            # Parts are sub-questions only when each asks something; enumerated conditions ("(i) f(1) = 1,
            # (ii) ...") followed by one question are a single problem.
            if not (_REQUEST.search(text[ma.end(): mb.start()]) and _REQUEST.search(text[mb.end():])):
                continue
            return Drop(self.name, f"parts {ma.group(0).strip()} .. {mb.group(0).strip()}")
        return None


_CHOICES = re.compile(r"(?<![A-Za-z\\])\(\s*(?P<a>[A-E])\s*\)|(?m:^\s*(?P<b>[A-E])\s*[.:：)]\s)|"
                      r"\\textbf\{\s*\(?(?P<c>[A-E])\)?")
_CHOICE_WORDS = re.compile(r"(?i)which of the following|choose the|select the correct|options? (?:are|is) correct|"
                           r"answer choices")
_ASY = re.compile(r"\[asy\].*?(?:\[/asy\]|$)", re.S)
_LETTER_WORDS = re.compile(r"(?i)\bletter|\boption|\benter \"")
_LETTER_ANSWER = re.compile(r"^\(?\s*(?:\\text(?:bf)?\{)?\s*\(?[A-E]\)?\s*\}?\s*\)?$")


class MultipleChoiceRule(Filter):
    """Multiple-choice problems: lettered options in the statement or a bare letter as the answer (the model
    could guess, so the reward is not trustworthy)."""

    name = "multiple_choice"

    def decide(self, problem: Problem) -> Drop | None:
        answer = (problem.answer or "").strip()
        # Asymptote code is full of "(A)"-like calls ("reflect(B,C)*(A)"); options never live inside it.
        text = _ASY.sub(" ", problem.prompt)
        letters = {m.group(m.lastgroup or 0) for m in _CHOICES.finditer(text)}
        # A bare letter answer is a choice only when the statement offers lettered options ("D" can be a constant).
        offers = letters or _CHOICE_WORDS.search(problem.prompt) or _LETTER_WORDS.search(problem.prompt)
        if answer and _LETTER_ANSWER.match(answer) and offers:
            return Drop(self.name, f"answer is a choice letter: {answer!r}")
        if len(letters & set("ABCDE")) >= 3 or (len(letters) >= 2 and _CHOICE_WORDS.search(problem.prompt)):
            return Drop(self.name, "options " + "".join(sorted(letters)))
        return None


_TF_ANSWER = re.compile(r"(?i)^\s*(?:\\text\{)?\s*(true|false|yes|no|correct|incorrect|neither)\s*\}?\s*\.?$")
_TF_PROMPT = re.compile(r"(?i)\btrue or false\b|\bis (?:this|the (?:following )?statement) true\b|"
                        r"\beven,? odd,? or neither\b")


class TrueFalseRule(Filter):
    """True/false and yes/no questions: a coin flip earns half the reward."""

    name = "true_false"

    def decide(self, problem: Problem) -> Drop | None:
        m = _TF_ANSWER.match(problem.answer or "")
        if m:
            return Drop(self.name, f"answer {m.group(1)!r}")
        if _TF_PROMPT.search(problem.prompt):
            return Drop(self.name, "asks whether a statement is true")
        return None


# An imperative "show/prove" opening a sentence, or "prove that"/"a proof" anywhere ("census show that" is not).
_PROOF = re.compile(r"(?i)\bprove (?:that|the|it)\b|(?:^|[.!?:;]\s+|\n\s*)(?:prove|show|demonstrate|verify)\b|"
                    r"\b(?:justify your answer|explain why)\b|\b(?:a|give|with) proof\b")


class ProofRule(PatternRule):
    """Proof requests ("prove that", "show that"): there is no single answer for a verifier to check."""

    name = "proof"
    pattern = _PROOF
    detail = "asks: {!r}"


_ASY_BLOCK = re.compile(r"\[asy\](.*?)(?:\[/asy\]|$)", re.S)
# A reference to a figure in the prose ("as shown", "in the diagram"): the candidates the rule looks at.
_FIGURE_REF = re.compile(r"(?i)\b(?:in|the|this|following|above|below|accompanying|given|adjoining|shown)\s+"
                         r"(?:figures?|diagrams?|drawing)\b|\bas shown\b|\bshown (?:below|above|here)\b|"
                         r"\b(?:graph|chart) (?:below|above|shown)\b|\b(?:following|above|below) (?:graph|chart)\b|"
                         r"\bsee (?:the )?(?:figure|diagram)\b|\bfig\.\s*\d|\bfigure\s*\d|\bpictured\b")
# What only a picture carries: a shaded part, a graph/chart/grid to read, an object that exists as "the X
# shown", labelled or indicated positions, "this figure/grid".
_PICTURE_ONLY = re.compile(
    r"(?i)\bshaded\b|\bpictured\b|\bindicated\b|\blabel(?:l)?ed (?:points?|vertices|angles|regions?|squares)\b|"
    r"\b(?:graphs?|charts?|grids?|tables?|plots?|histograms?|dots|lattice|array|region|figures?|wheel|parabola|"
    r"hyperbola|ellipse|circle|triangles?|quadrilateral|squares?|rectangles?|polygons?|block|arcs?|spinners?|"
    r"paths?|net|pattern|shapes?|segments?|angles?|map|pentagon|hexagon|trapezoid)\s+(?:\$[^$]*\$\s+)?shown\b|"
    r"\b(?:below|above) (?:is|are) (?:a |the )?(?:portion of )?(?:the |a )?(?:graphs?|charts?|tables?)\b|"
    r"\b(?:graph|chart|table|plot)s? of [^.?]{0,60}(?:is|are) shown\b|"
    r"\bthis (?:diagram|grid|graph|chart|picture|drawing)\b|\b(?:in|of) this figure\b|"
    r"\bthe following (?:figure|diagram|grid|graph|chart|picture|drawing)\b|"
    r"\bin the (?:figure|diagram),? (?:each|all|the (?:numbers?|lengths?|angles?))\b|"
    r"\b(?:figure|diagram|drawing|picture) (?:below |above )?(?:shows|consists|contains|has)\b|"
    r"\b(?:formed|hinged|arranged|placed|divided|drawn|joined|connected|folded|cut|stacked|built|made)\b[^.?]{0,40}"
    r"\bas shown\b|\bas shown in the figures\b|"
    r"\baccording to the (?:graph|chart|table|figure|diagram)\b")
_NOT_GIVEN = re.compile(r"(?i)\bdiagram was not given\b|\bnot drawn to scale\b")
_LABEL = re.compile(r'(?:label|MP|L)\s*\(\s*"([^"]*)"')
# A label that is a value: a number (degrees, units), or a variable expression ("x", "x^\circ", "x+2").
_VALUE_LABEL = re.compile(r"^-?\d+(?:\.\d+)?$|^\d*[a-z](?:[+-]\d+)?$")
_MATH = re.compile(r"\$([^$]*)\$")
_POINT = re.compile(r"(?<![a-z\\])[A-Z](?:_\{?\d+\}?|')?(?![a-z])")
_POINT_WORD = re.compile(r"\bpoints? ([A-Z])\b")  # "point B" outside math
_SENTENCE = re.compile(r"(?<=[.?!])\$?\s+(?=[A-Z$(\\])")
_INSTRUCTION = re.compile(r"(?i)^\W*(?:express|give|write|enter|round|your answer|answer)\b")
_GATE = re.compile(r"(?i)(?<!can be )\b(?:shown|pictured|shaded)\b")
# Material displayed as text (a tabular, an array, aligned equations): "the table shown" is then readable.
_TEXT_DISPLAY = re.compile(r"\\begin\{(?:tabular|array|align\*?|pmatrix|bmatrix|matrix)\}")
_TEXT_NOUN = re.compile(r"(?i)\b(?:tables?|lattice|array|grid|lines|chart|plot)\b")
# AoPS solution drawings appended to AIME statements ("Diagram [asy] ... ~author"): a solver's, not the problem's.
_SOLUTION_DIAGRAM = re.compile(r"\bDiagram\s*\[asy\].*?(?:\[/asy\]|$)(?:\s*~\w+)?", re.S)


def _prose(text: str) -> str:
    return " ".join(_ASY_BLOCK.sub(" ", text).split())


def _value_labels(text: str, prose: str) -> list[str]:
    """Labels of the ``[asy]`` drawings that are values (lengths, angles, a variable) the prose never states."""
    numbers = set(re.findall(r"\d+(?:\.\d+)?", prose))
    words = set(re.findall(r"(?<![A-Za-z\\])[a-z](?![A-Za-z])", " ".join(_MATH.findall(prose))))
    out = []
    for code in _ASY_BLOCK.findall(text):
        for raw in _LABEL.findall(code):
            v = re.sub(r"\\(?:circ|text\w*|footnotesize|small|tiny|scriptsize|mathrm|,|;|!)|[${}^\\ ]|°|cm|in\b|''|'",
                       "", raw)
            if not _VALUE_LABEL.match(v):
                continue
            if v[:1].isdigit() or v[:1] == "-":
                if v.lstrip("-") not in numbers:
                    out.append(raw)
            elif not (set(re.findall(r"[a-z]", v)) <= words):
                out.append(raw)
    return out


def _undefined_points(prose: str) -> list[str]:
    """Points the question names that no earlier sentence does ("find the area of triangle BQW" when Q is only
    placed in the drawing); for a one-sentence problem, points when the sentence gives no number at all."""
    sentences = [s for s in _SENTENCE.split(prose) if s.strip()]
    while len(sentences) > 1 and _INSTRUCTION.match(sentences[-1]):  # "Express your answer as ..."
        sentences.pop()
    if not sentences:
        return []

    def points(s: str) -> set[str]:
        found = set(_POINT_WORD.findall(s))
        for m in _MATH.findall(s):
            m = re.sub(r"\\text\w*\{[^}]*\}|\\[A-Za-z]+", " ", m)
            found.update(_POINT.findall(m))
        return found

    last = points(sentences[-1])
    if len(sentences) == 1:
        return sorted(last) if last and not re.search(r"\d", prose) else []
    before = set().union(*(points(s) for s in sentences[:-1]))
    return sorted(last - before) if before or re.search(r"\d", " ".join(sentences[:-1])) else []


class FigureRule(Filter):
    """Statements that need their figure to be solved. A drawing is not enough: most ``[asy]`` drawings of the
    MATH sets illustrate a problem the text fully specifies, and a text model reads the rest. The rule drops a
    statement that has a drawing or refers to one (``[asy]``, "as shown", "in the diagram") when the prose
    (drawing code removed) leaves something to the picture: a shaded region, a graph/chart/grid to read, an
    object defined as "the X shown"; an ``[asy]`` label that is a value the prose never states (``x^\\circ``,
    ``8``); or a point the question names that no earlier sentence introduces. Measured precision and recall
    on hand labels: docs/curate.md."""

    name = "figure"

    def decide(self, problem: Problem) -> Drop | None:
        text = problem.prompt
        has_asy = "[asy]" in text
        prose = _prose(text)
        ref = _FIGURE_REF.search(prose)
        if not has_asy and ref is None and not _GATE.search(prose):
            return None
        m = _PICTURE_ONLY.search(prose)
        if m and _TEXT_DISPLAY.search(prose) and _TEXT_NOUN.search(m.group(0)):
            m = None  # "the table shown" when the table is in the text
        if m:
            return Drop(self.name, f"refers to a figure for {m.group(0)!r}")
        values = _value_labels(_SOLUTION_DIAGRAM.sub(" ", text), prose) if has_asy else []
        if values:
            return Drop(self.name, f"the drawing carries values the text does not state: {values[:3]}")
        points = _undefined_points(prose)
        if points:
            return Drop(self.name, f"points {''.join(points[:4])} are placed only by the figure")
        return None


_LATEX = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[A-Za-z]+", re.S)


def non_latin_fraction(text: str) -> float:
    """Share of letters outside Latin script in ``text`` with LaTeX removed (0 when there are no letters)."""
    prose = _LATEX.sub(" ", text)
    letters = [c for c in prose if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if ord(c) > 0x24F) / len(letters)


class NonEnglishRule(Filter):
    """Statements mostly in a non-Latin script (Chinese, Russian, ...): the recipe trains on English."""

    name = "non_english"

    def __init__(self, max_fraction: float = 0.2) -> None:
        self.max_fraction = max_fraction

    def decide(self, problem: Problem) -> Drop | None:
        frac = non_latin_fraction(problem.prompt)
        return Drop(self.name, f"{frac:.0%} non-Latin letters") if frac > self.max_fraction else None


class TooShortRule(Filter):
    """Statements with fewer than ``min_words`` word tokens (LaTeX symbols count: ``Compute $\\binom{10}{5}$``
    has four; ``Simplify $\\sqrt{180}$`` three), usually fragments that lost their context."""

    name = "too_short"

    def __init__(self, min_words: int = 3) -> None:
        self.min_words = min_words

    def decide(self, problem: Problem) -> Drop | None:
        n = len(word_tokens(problem.prompt))
        return Drop(self.name, f"{n} words") if n < self.min_words else None


_TEXT_WORDS = re.compile(r"\\text\{([^}]*)\}|\b[a-zA-Z]{4,}\b")
_RELATION = re.compile(r"(?<![<>!])=|\\(?:le|ge|leq|geq|neq)\b|[<>]")


class ComplexAnswerRule(Filter):
    """Gold answers a rule-based verifier cannot compare reliably: missing, longer than ``max_chars``,
    several items (more than ``max_items`` comma-separated values), prose, or equations/inequalities."""

    name = "complex_answer"

    def __init__(self, max_chars: int = 40, max_items: int = 3, max_words: int = 2) -> None:
        self.max_chars = max_chars
        self.max_items = max_items
        self.max_words = max_words

    def decide(self, problem: Problem) -> Drop | None:
        a = (problem.answer or "").strip()
        if not a:
            return Drop("no_answer", "no gold answer")
        if len(a) > self.max_chars:
            return Drop(self.name, f"{len(a)} characters")
        depth, items = 0, 1
        for c in a:  # top-level commas only: "(1, 2)" is one point, "1, 2, 3, 4" four values
            depth += (c in "([{") - (c in ")]}")
            items += c == "," and depth == 0
        if items > self.max_items:
            return Drop(self.name, f"{items} values")
        words = [w for m in _TEXT_WORDS.finditer(a) for w in (m.group(1) or m.group(0)).split()
                 if not w.startswith("\\") and w.lower() not in {"frac", "sqrt", "dfrac", "text", "cdot", "times",
                                                                  "infty", "circ", "cup", "pi"}]
        if len(words) > self.max_words:
            return Drop(self.name, "prose answer")
        if _RELATION.search(a) and not re.match(r"^[a-zA-Z]\s*=\s*[^=]+$", a):
            return Drop(self.name, "equation or inequality answer")
        return None


def math_rules() -> list[Filter]:
    """The math exclusion rules, in the order they run."""
    return [ComplexAnswerRule(), MultipleChoiceRule(), TrueFalseRule(), MultiPartRule(), ProofRule(), FigureRule(),
            NonEnglishRule(), TooShortRule()]
