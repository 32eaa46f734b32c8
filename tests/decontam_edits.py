"""Edits that a copied benchmark item may carry into a training file (whitespace, case, punctuation, number
formatting, one reworded sentence, a changed name): used by the decontamination recall tests and the
benchmark. Each edit keeps the problem the same problem; none looks at the matcher."""

from __future__ import annotations

import random
import re

NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Peggy",
         "Takahashi", "Aoki", "Jen", "Aya", "Rachel", "Kevin"]
SWAPS = {"find": "determine", "compute": "calculate", "number": "count", "given": "provided", "integer": "whole number",
         "positive": "strictly positive", "each": "every", "print": "output", "return": "give back", "value": "amount",
         "such": "so", "largest": "greatest", "smallest": "least", "total": "overall", "contains": "has",
         "determine": "find", "possible": "attainable", "let": "suppose", "there": "here"}


def whitespace(text: str, rng: random.Random) -> str:
    return re.sub(r" ", lambda _: rng.choice([" ", "  ", "\n", " \t", " "]), text)


def case(text: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c.lower() if rng.random() < 0.2 else c for c in text)


def punctuation(text: str, rng: random.Random) -> str:
    """Clause and sentence punctuation changed or dropped (a decimal point or a digit group stays)."""
    return re.sub(r"[,.;:?!](?=\s|$)", lambda _: rng.choice([",", ".", ";", "!", " ", ""]), text)


def numbers(text: str, rng: random.Random) -> str:
    """Thousands separators, trailing decimal zeros, and spaced or unspaced digits in formulas."""
    def one(m: re.Match[str]) -> str:
        s = m.group(0)
        r = rng.random()
        if len(s) >= 4 and r < 0.6:
            return f"{int(s):,}"
        if r < 0.25:
            return s + ".0"
        return s
    return re.sub(r"(?<![\d.,])\d+(?![\d.,]\d)", one, text)


def reword_sentence(text: str, rng: random.Random) -> str:
    """One sentence reworded: up to three of its words swapped for synonyms, one plain word dropped, and its
    two halves exchanged around a comma when it has one."""
    parts = re.split(r"(?<=[.?!])\s+", text)
    cand = [i for i, s in enumerate(parts) if len(s.split()) >= 6]
    if not cand:
        return text
    i = rng.choice(cand)
    words = parts[i].split()
    swap = [j for j, w in enumerate(words) if w.lower() in SWAPS]
    for j in rng.sample(swap, min(3, len(swap))):
        words[j] = SWAPS[words[j].lower()]
    plain = [j for j, w in enumerate(words) if w.isalpha() and w.lower() not in SWAPS]
    if plain:  # one plain word dropped ("the", "that", ...), never a formula
        del words[rng.choice(plain)]
    sentence = " ".join(words)
    if ", " in sentence:
        a, b = sentence.split(", ", 1)
        sentence = b.rstrip(".?!") + ", " + a[:1].lower() + a[1:] + sentence[-1:]
    parts[i] = sentence
    return " ".join(parts)


def rename(text: str, rng: random.Random) -> str:
    """Every occurrence of one person's name replaced by another name (no change when there is none)."""
    names = [n for n in NAMES if re.search(rf"\b{n}\b", text)]
    if not names:
        return text
    old = rng.choice(names)
    new = rng.choice([n for n in NAMES if n != old and not re.search(rf"\b{n}\b", text)])
    return re.sub(rf"\b{old}\b", new, text)


EDITS = {"whitespace": whitespace, "case": case, "punctuation": punctuation, "numbers": numbers,
         "reword": reword_sentence, "rename": rename}


def edit(text: str, rng: random.Random, kinds: list[str] | None = None) -> str:
    """Apply ``kinds`` (default: all six) in a fixed order: content edits first, then surface ones."""
    order = ["rename", "reword", "numbers", "punctuation", "case", "whitespace"]
    for k in order:
        if kinds is None or k in kinds:
            text = EDITS[k](text, rng)
    return text
