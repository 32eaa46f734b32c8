"""Math answer verifier: is the final ``\\boxed{}`` answer of a response equal to the gold answer?

The paper's math reward (AceReason-Nemotron, arXiv 2505.16400) is 1 when the boxed answer after the
reasoning is correct, else 0. This module decides "correct" strictly and cheaply::

    >>> from acereason.verify.math import verify
    >>> verify("<think>...</think> so the answer is $\\\\boxed{\\\\dfrac{1}{2}}$.", "0.5").reason
    'match_numeric'

Layers (cheapest first; docs/verify-math.md has the details and the limits):

1. extraction (:func:`extract_boxed`): last balanced ``\\boxed{}``/``\\fbox{}`` after ``</think>``;
   ``<think>`` without ``</think>`` has no answer; no "last number in the text" fallback; several
   final boxes joined only by connectors (:func:`final_boxes`) are one answer against a list gold;
2. normalised strings (units, ``\\text{}``, percent, degrees, thousands separators, ``\\dfrac``, ...);
3. parsed, typed structures: tuples vs sets vs intervals vs unions vs matrices vs relations;
4. exact rationals (no tolerance for integer golds; decimal golds tolerate half their last digit);
5. 40-digit numeric evaluation at fixed random points (:mod:`math_eval`);
6. sympy ``simplify`` in pre-started worker processes killed on timeout (:mod:`math_sympy`).

Cost is bounded before anything is built: answers are capped in length and depth, huge powers and
factorials are estimated and either kept symbolic (exponent towers) or refused (``too_large``). Only
layer 6 can be slow, and it runs in another process under a hard limit, so :func:`verify` returns in
well under 2 s for any input and is safe from any thread. Every outcome carries a ``reason``:

``match_exact`` ``match_numeric`` ``match_symbolic`` (correct) and ``mismatch``, ``no_answer``,
``unevaluated`` (an unevaluated integral/limit/sum), ``unparsed`` (answer outside the answer
language), ``unparsed_gold``, ``too_large``, ``timeout``, ``undecided`` (sympy could not decide or
raised), ``error`` (an internal error, with the exception in ``detail``): never a silent 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from multiprocessing import get_context

from acereason.schema import Verdict
from acereason.verify import math_eval as ev
from acereason.verify.math_compare import LAYER_REASON, Comparator, Undecided, canonical
from acereason.verify.math_normalize import compact, extract_boxed, final_boxes, is_unevaluated, normalize
from acereason.verify.math_parse import ParseError, parse
from acereason.verify.math_sympy import SympyMemory, SympyRaised, SympyTimeout, warm_up

__all__ = ["REASONS", "extract_boxed", "final_boxes", "verify", "verify_answer", "verify_batch", "warm_up"]

REASONS = (
    "match_exact", "match_numeric", "match_symbolic", "mismatch", "no_answer", "unevaluated",
    "unparsed", "unparsed_gold", "too_large", "timeout", "undecided", "error",
)
SYMPY_TIMEOUT_S = 1.0  # the whole sympy budget of one verification; everything else takes milliseconds
# Killing a sympy worker that overran takes a few ms: its deadline is set this much earlier, so that one
# verification, kill included, stays within ``timeout_s``.
_KILL_MARGIN_S = 0.05
MAX_ANSWER_CHARS = 2_000
BATCH_INLINE_BELOW = 20_000  # a process pool costs ~1 s to start; smaller batches run inline

_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "exp", "sqrt", "arcsin", "arccos",
               "arctan", "sinh", "cosh", "tanh", "mod"}
_ENV_RE = re.compile(r"\\(?:begin|end)\s*\{[a-zA-Z*]*\}")
_started = False
_warm = False


def _texty(s: str) -> bool:
    """An answer in words ("Evelyn", "no solution"): a run of 3+ letters that is not a function name."""
    s = _ENV_RE.sub(" ", s) if "\\begin" in s else s
    return any(w.lower() not in _MATH_WORDS for w in _WORD_RE.findall(s))


def _has_percent(s: str) -> bool:
    return "%" in s or "percent" in s.lower() or "pct" in s.lower()


def _percent_of(node: tuple) -> tuple:
    """``x%`` read as the number ``x/100`` (structures are left alone)."""
    if node[0] in ("list", "set", "seq", "union", "mat", "rel"):
        return node
    return ("*", (node, ("n", Fraction(1, 100), None)))


def _radians(node: tuple) -> tuple:
    """``x°`` (a top-level degree node) as the angle in radians, ``x·π/180``."""
    return canonical(("*", (node[1], ("c", "pi"), ("n", Fraction(1, 180), None))))


_CHOICE_RE = re.compile(r"^\{?\(?([A-E])\)?\}?(?:\s|$|:)")


def _choice_letter(g_norm: str, a_norm: str) -> bool | None:
    """Multiple choice: a gold that is one letter A-E accepts ``(E)``, ``E``, ``(E) 12``; None if n/a."""
    if len(g_norm) != 1 or g_norm not in "ABCDE":
        return None
    m = _CHOICE_RE.match(a_norm.strip())
    return None if m is None else m.group(1) == g_norm


def _text_key(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", s.lower())


# A gold that names a ratio before its value: "S_{MBCN}:S = 7:32", "AB:BC = 2:3".
_NAME = r"[A-Za-z](?:_\{[A-Za-z0-9]{1,8}\}|_[A-Za-z0-9])?"
_RATIO_LABEL_RE = re.compile(rf"{_NAME}(?:\s*:\s*{_NAME})+\s*=\s*(?P<value>[^=]+)")


def _gold_is_collection(gold: str) -> bool:
    """Is the gold a list or a set of two or more items (``1, -2``; ``(2, 1), (1, 2)``; ``\\{1, 2\\}``;
    ``x_1 = a, x_2 = b``; ``\\pm 2``)? Only then may several final boxes be read as one answer."""
    try:
        node = canonical(parse(normalize(gold)))
    except (ParseError, ev.TooLarge):
        return False
    return node[0] in ("list", "set") and len(node[1]) >= 2


def verify_answer(extracted: str, answer: str, timeout_s: float = SYMPY_TIMEOUT_S,
                  deadline: float | None = None) -> Verdict:
    """Compare an already-extracted answer with the gold answer (both LaTeX/text).

    ``timeout_s`` bounds the whole call, the kill of an overrunning sympy worker included; ``deadline``
    (a ``time.monotonic()`` value), when given, is the bound instead (one budget across several calls).
    """
    if deadline is None:
        deadline = time.monotonic() + timeout_s
    g_norm, a_norm = normalize(answer), normalize(extracted)
    if not g_norm:
        return Verdict(correct=False, reason="unparsed_gold", extracted=extracted, detail="empty gold answer")
    if compact(g_norm) == compact(a_norm):
        return Verdict(correct=True, reason="match_exact", extracted=extracted)
    labelled = _RATIO_LABEL_RE.fullmatch(g_norm) if ":" in g_norm and "=" not in a_norm else None
    if labelled:  # the gold names the quantity, the answer gives its value: compare with the value
        return verify_answer(extracted, labelled.group("value"), deadline=deadline)
    if len(a_norm) > MAX_ANSWER_CHARS:
        return Verdict(correct=False, reason="too_large", extracted=extracted[:MAX_ANSWER_CHARS],
                       detail=f"answer longer than {MAX_ANSWER_CHARS} characters")
    if is_unevaluated(a_norm) and not is_unevaluated(g_norm):
        return Verdict(correct=False, reason="unevaluated", extracted=extracted)
    choice = _choice_letter(g_norm, a_norm)
    if choice is not None:
        return Verdict(correct=choice, reason="match_exact" if choice else "mismatch", extracted=extracted)
    if _texty(g_norm):
        same = _text_key(g_norm) == _text_key(a_norm)
        return Verdict(correct=same, reason="match_exact" if same else "mismatch", extracted=extracted)
    try:
        g_raw = parse(g_norm)
        gold = canonical(g_raw)
    except ParseError as err:
        return Verdict(correct=False, reason="unparsed_gold", extracted=extracted, detail=str(err))
    try:
        a_raw = parse(a_norm)
        ans = canonical(a_raw)
    except ParseError as err:
        reason = "too_large" if "too" in str(err) else "unparsed"
        return Verdict(correct=False, reason=reason, extracted=extracted, detail=str(err))
    try:
        comparator = Comparator(deadline - _KILL_MARGIN_S)
        layer = comparator.compare(gold, ans)
        g_pct, a_pct = _has_percent(answer), _has_percent(extracted)
        if layer is None and g_pct != a_pct:
            # "50%" was compared as 50 above; it is also the number 0.5 (gold 50% vs answer 1/2).
            layer = comparator.compare(_percent_of(gold), ans) if g_pct else \
                comparator.compare(gold, _percent_of(ans))
        g_deg, a_deg = g_raw[0] == "deg", a_raw[0] == "deg"
        if layer is None and g_deg != a_deg:
            # "135°" was compared as 135 above; it is also the angle 3π/4 (gold in radians).
            layer = comparator.compare(_radians(g_raw), ans) if g_deg else \
                comparator.compare(gold, _radians(a_raw))
    except ev.TooLarge as err:
        return Verdict(correct=False, reason="too_large", extracted=extracted, detail=str(err))
    except SympyTimeout as err:
        return Verdict(correct=False, reason="timeout", extracted=extracted, detail=str(err))
    except (Undecided, SympyRaised) as err:
        return Verdict(correct=False, reason="undecided", extracted=extracted, detail=str(err))
    except SympyMemory as err:
        return Verdict(correct=False, reason="too_large", extracted=extracted, detail=str(err))
    if layer is None:
        return Verdict(correct=False, reason="mismatch", extracted=extracted)
    return Verdict(correct=True, reason=LAYER_REASON[layer], extracted=extracted)


def verify(response: str, answer: str, timeout_s: float = SYMPY_TIMEOUT_S) -> Verdict:
    """Grade one response against the gold answer; never raises for any string input.

    ``answer`` may itself be wrapped in ``\\boxed{}`` (it is unwrapped). ``timeout_s`` bounds the
    sympy layer; all other layers are bounded by construction. Internal errors are returned as
    ``reason="error"`` with the exception in ``detail``, so they can be counted, not hidden.
    """
    try:
        extracted = extract_boxed(response)
        chain = final_boxes(response, extracted) if extracted is not None else None
    except Exception as err:  # never raise, never hide: an internal failure is a counted reason
        return Verdict(correct=False, reason="error", detail=f"{type(err).__name__}: {err}"[:300])
    return _grade(extracted, answer, timeout_s, chain)


def _grade(extracted: str | None, answer: str, timeout_s: float, chain: list[str] | None = None) -> Verdict:
    """Everything after extraction: ``no_answer`` for None, else :func:`verify_answer`, errors caught.

    ``chain`` holds the final boxes when the response ends with several (:func:`final_boxes`): if the
    last box alone is not the answer and the gold is a list or a set, the boxes together are graded.
    """
    global _started
    if not _started:
        # Pre-start one sympy worker the first time we are used, so it is warm by the first hard case.
        _started = True
        with contextlib.suppress(OSError):
            warm_up(1)
    if extracted is None:
        return Verdict(correct=False, reason="no_answer")
    try:
        gold = answer if isinstance(answer, str) else str(answer)  # datasets store some golds as 27.0
        if "\\boxed" in gold or "\\fbox" in gold:
            gold = extract_boxed(gold) or gold
        deadline = time.monotonic() + timeout_s  # one budget for the last box and the chain of boxes
        verdict = verify_answer(extracted, gold, deadline=deadline)
        if chain and not verdict.correct and verdict.reason != "unparsed_gold" and _gold_is_collection(gold):
            combined = verify_answer(", ".join(chain), gold, deadline=deadline)
            if combined.correct:
                return combined
        return verdict
    except Exception as err:  # never raise, never hide: an internal failure is a counted reason
        return Verdict(correct=False, reason="error", extracted=extracted,
                       detail=f"{type(err).__name__}: {err}"[:300])


def _grade_chunk(items: list[tuple[str | None, str, str | None, list[str] | None]],
                 timeout_s: float) -> list[dict]:
    """Grade ``(extracted, answer, response, chain)`` items in a pool worker.

    Workers get extracted answers, not whole responses: shipping kilobytes of reasoning to a child
    costs more than grading it. ``response`` is only sent when extraction failed in the parent, so
    the worker reports that failure as ``error``. Verdicts travel back as dicts (cheaper to pickle).
    """
    _warm_and_wait()
    return [(_grade(ex, a, timeout_s, chain) if resp is None else verify(resp, a, timeout_s)).model_dump()
            for ex, a, resp, chain in items]


def _warm_and_wait() -> None:
    """Once per process: have a sympy worker ready before grading a batch (a cold worker spends the
    first hard cases' time budgets on importing sympy)."""
    global _warm
    if not _warm:
        _warm = True
        with contextlib.suppress(OSError):
            warm_up(1, wait=True)


def _prepare(response: str, answer: str) -> tuple[str | None, str, str | None, list[str] | None]:
    try:
        extracted = extract_boxed(response)
        return extracted, answer, None, final_boxes(response, extracted) if extracted is not None else None
    except Exception:
        return None, answer, response, None


def verify_batch(pairs: Iterable[tuple[str, str]], workers: int | None = None,
                 timeout_s: float = SYMPY_TIMEOUT_S, chunk_size: int = 1024,
                 on_progress: Callable[[int], None] | None = None) -> list[Verdict]:
    """Grade many ``(response, answer)`` pairs, in a process pool sized to the cores for big batches.

    Results are in input order; ``on_progress(n)`` is called as each chunk of ``n`` pairs is done.
    Batches under :data:`BATCH_INLINE_BELOW` pairs (or ``workers=1``) run in this process: one core
    grades about ten thousand realistic pairs per second, so a pool (~1 s to start its interpreters)
    only pays off for large batches. The pool uses the ``spawn`` start method (safe when the caller
    has threads) and is shut down before returning. If a pool worker dies, its pairs come back with
    ``reason="error"`` rather than being lost or scored silently.
    """
    items: Sequence[tuple[str, str]] = list(pairs)
    n_workers = workers or os.cpu_count() or 1
    if items:
        _warm_and_wait()
    chunks = [list(items[i:i + chunk_size]) for i in range(0, len(items), chunk_size)]
    out: list[Verdict] = []
    if n_workers <= 1 or len(items) < BATCH_INLINE_BELOW:
        for chunk in chunks:
            out.extend(verify(r, a, timeout_s) for r, a in chunk)
            if on_progress:
                on_progress(len(chunk))
        return out
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_grade_chunk, [_prepare(r, a) for r, a in c], timeout_s) for c in chunks]
        for chunk, fut in zip(chunks, futures, strict=True):
            try:
                out.extend(Verdict(**d) for d in fut.result())
            except Exception as err:  # a crashed worker: report every pair of its chunk as an error
                detail = f"batch worker failed: {type(err).__name__}: {err}"[:300]
                out.extend(Verdict(correct=False, reason="error", detail=detail) for _ in chunk)
            if on_progress:
                on_progress(len(chunk))
    return out
