"""Code statements without their platform scaffolding, for n-gram decontamination.

Used by :mod:`acereason.curate.decontam_boilerplate` on both sides (benchmark and training): the
input-format block, constraint blocks and stock sentences are removed here, and the scaffolding words are
left out by the index's tokenizer, so a platform's template never forms n-grams at all.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from acereason.curate import decontam_hash
from acereason.curate.decontam_hash import fast_lower

# Patterns run on the lowercased statement (the n-gram view is lowercase anyway), case-sensitively, and
# line-anchored ones start with a literal newline (a newline is put in front of the text) so that the regex
# engine scans for that literal instead of trying every position: this is what keeps the stripping cheap.
# The input-format block ("input\n\nthe input is given ... format:\nn m\na_1 ... a_n") up to "output".
_INPUT_BLOCK = re.compile(r"\n[ \t]*input(?:\s+format)?[ \t]*:?[ \t]*\r?\n.*?(?=\n[ \t]*output(?:\s+format)?[ \t]*:?"
                          r"[ \t]*\r?(?:\n|\Z))", re.S)
# A constraint block: the header and every line up to the next header (or the end).
_CONSTRAINTS = re.compile(r"\n[ \t]*constraints?[ \t]*:?[ \t]*\r?\n.*?(?=\n[ \t]*(?:sample\s+input|examples?\b|"
                          r"input\b|output\b|notes?\b|follow[- ]?up)|\Z)", re.S)
# The same patterns over a batch joined with NUL separators (one regex call per batch): the block bodies stop
# at a NUL and the end of a document is a NUL, so no match crosses from one document into the next. The lazy
# body ``.*?(?=\nHEADER)`` is unrolled into whole lines, ``(?>[^\x00\n]*(?:\n(?!HEADER)[^\x00\n]*)*)``: the same
# first stop (the first newline that starts the next header, a NUL or the end), but the look-ahead runs once
# per line instead of once per character, and the atomic group gives nothing back when no header follows
# (the lazy body fails there too). tests/test_curate_decontam_equiv.py compares it with the per-text patterns.
_OUTPUT_HEADER = r"[ \t]*output(?:\s+format)?[ \t]*:?[ \t]*\r?(?:\n|\x00|\Z)"
_NEXT_SECTION = r"[ \t]*(?:sample\s+input|examples?\b|input\b|output\b|notes?\b|follow[- ]?up)"
_INPUT_BLOCK_JOINED = re.compile(r"\n[ \t]*input(?:\s+format)?[ \t]*:?[ \t]*\r?\n"
                                 rf"(?>[^\x00\n]*(?:\n(?!{_OUTPUT_HEADER})[^\x00\n]*)*)(?=\n{_OUTPUT_HEADER})")
_CONSTRAINTS_JOINED = re.compile(r"\n[ \t]*constraints?[ \t]*:?[ \t]*\r?\n"
                                 rf"(?>[^\x00\n]*(?:\n(?!{_NEXT_SECTION})[^\x00\n]*)*)(?=\n{_NEXT_SECTION}|\x00|\Z)")
# Scaffolding words are left out wherever they stand (by the index's tokenizer, on both sides, when a
# benchmark is code), not only as header lines or labels: an edited copy whose whitespace or punctuation moved
# ("sample\ninput 1", "input! nums = ...") then reduces to the same words as the benchmark item, where a
# line-anchored header/label pattern kept them on one side only.
SCAFFOLD_WORDS = ("input", "output", "explanation", "example", "examples", "sample", "constraint", "constraints",
                  "note", "notes")
# Stock sentences, each with and without its closing punctuation (the longer form first, so
# ``str.replace`` removes what the alternation ``format:?`` would; the phrases never overlap one another).
# Plain substring replaces: a regex alternation tried at every "t", "a" and "p" cost more than the scan.
STOCK_SENTENCES = ("the input is given from standard input in the following format:",
                   "the input is given from standard input in the following format",
                   "all the input values are integers.", "all the input values are integers",
                   "all input values are integers.", "all input values are integers",
                   "print the answer.", "print the answer",
                   "the input consists of multiple test cases.", "the input consists of multiple test cases")


def code_statement(text: str) -> str:
    """A code statement without its platform scaffolding, lowercased: the input-format block, constraint
    blocks and stock sentences. The scaffolding words (:data:`SCAFFOLD_WORDS`: section headers "Sample Input
    1", "Example 2:", labels "Input:", "Explanation:") are left out by the index's tokenizer. The story, the
    output description, the sample data and the explanations stay."""
    text = "\n" + text.lower()
    if "input" in text:
        text = _sub_input_blocks(text, joined=False)
    if "constraint" in text:
        text = _CONSTRAINTS.sub("\n", text)
    return _strip_stock(text)


_INPUT_AT = re.compile(r"\n[ \t]*input")  # where an input header can start
_INPUT_WITH = re.compile(r"\n[ \t]*input\s+format[ \t]*:?[ \t]*\r?\n")
_INPUT_PLAIN = re.compile(r"\n[ \t]*input[ \t]*:?[ \t]*\r?\n")
_OUTPUT_AT = re.compile(r"\n(?=[ \t]*output(?:\s+format)?[ \t]*:?[ \t]*\r?(?:\n|\Z))")  # a NUL is a character
_OUTPUT_AT_JOINED = re.compile(rf"\n(?={_OUTPUT_HEADER})")  # a NUL ends the document


def _sub_input_blocks(text: str, joined: bool) -> str:
    """``_INPUT_BLOCK.sub("\\n", text)``, or with ``joined`` (a NUL-joined batch, a NUL ending each document)
    ``_INPUT_BLOCK_JOINED.sub("\\n", text)``, in linear time. The pattern's lazy body makes ``re`` rescan the
    rest of the document from every input header that no output line follows: a document of many such headers
    cost the square of its length (a 160 KB one, 14 s). Here the header's two forms are tried as ``re`` tries
    them (with "format", then without), the body's end is one bounded search, and a search that found no
    output line from a position is not repeated from a later one in the same document (it would search a part
    of the same, unchanged, suffix)."""
    out: list[str] = []
    last = pos = 0
    n = len(text)
    doc_end = -1  # the end (NUL or end of text) of the document holding the current header
    fail_from = n + 1  # in that document, a body search from here on finds no output line
    output_at = _OUTPUT_AT_JOINED if joined else _OUTPUT_AT
    while (m := _INPUT_AT.search(text, pos)) is not None:
        p = m.start()
        if p > doc_end:
            doc_end = text.find("\x00", p) if joined else n
            doc_end = n if doc_end < 0 else doc_end
            fail_from = n + 1
        q = -1
        for form in (_INPUT_WITH, _INPUT_PLAIN):
            h = form.match(text, p)
            if h is None or h.end() >= fail_from:
                continue
            end = output_at.search(text, h.end(), doc_end)
            if end is not None:
                q = end.start()
                break
            fail_from = h.end()
        if q < 0:
            pos = p + 1
            continue
        out.append(text[last:p])
        out.append("\n")
        last = pos = q
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _strip_stock(text: str) -> str:
    for stock in STOCK_SENTENCES:
        if stock in text:
            text = text.replace(stock, " ")
    return text


def code_statements(texts: Sequence[str]) -> list[str]:
    """:func:`code_statement` of every text, computed on the batch joined by NUL separators: one call per
    pattern for the whole batch (the per-text calls cost more than the scan), ASCII texts joined apart from
    the others (a joined str takes the widest character kind of its parts, and the scans are slower on
    wider kinds), stock sentences removed from only the texts that hold one. Equal to the per-text function;
    a text holding a NUL itself takes that path."""
    if not texts:
        return []
    scan = decontam_hash.compiled_scan()
    if scan is not None:
        # The compiled reduction (``_wordscan.c``): the same matches by hand, one text at a time, no joined
        # batch; a text it cannot lowercase by table (capital sigma, U+0130, beyond the BMP) comes back None.
        out = scan.reduce_code(list(texts), *_code_tables())
        return [code_statement(t) if r is None else r for t, r in zip(texts, out, strict=True)]
    if any("\x00" in t for t in texts):
        return [code_statement(t) for t in texts]
    out: list[str] = [""] * len(texts)
    ascii_idx = [i for i, t in enumerate(texts) if t.isascii()]
    other_idx = [i for i, t in enumerate(texts) if not t.isascii()] if len(ascii_idx) < len(texts) else []
    for group in (ascii_idx, other_idx):
        if group:
            for i, t in zip(group, _joined_statements([texts[i] for i in group]), strict=True):
                out[i] = t
    return out


_TABLES: list[tuple[bytes, bytes, bytes]] = []


def _code_tables() -> tuple[bytes, bytes, bytes]:
    """The compiled reduction's tables over the BMP, built once: the lowercase of each code point (0 where
    ``str.lower`` is not one fixed code point: capital sigma, U+0130, surrogates), and re's ``\\s`` and ``\\w``."""
    if not _TABLES:
        import numpy as np

        chars = [chr(c) for c in range(65536)]
        low = [x.lower() for x in chars]
        lower = np.array([ord(x) if len(x) == 1 else 0 for x in low], dtype=np.uint16)
        lower[0x3A3] = 0
        lower[0xD800:0xE000] = 0
        space = np.array([x.isspace() for x in chars], dtype=np.uint8)
        word = decontam_hash._word_table().astype(np.uint8)  # isalnum, and re's \w adds the underscore
        word[ord("_")] = 1
        _TABLES.append((lower.tobytes(), space.tobytes(), word.tobytes()))
    return _TABLES[0]


def _sub_headers(pattern: re.Pattern[str], text: str, word: str) -> str:
    """``pattern.sub("\\n", text)`` for a pattern that can only match at a newline followed by spaces or tabs
    and ``word`` (a section header): the places tried are found from ``word``'s occurrences (a substring
    search) instead of the regex engine trying every newline. Same matches, same order: a place is tried
    only after the previous match's end, as ``re.sub`` does."""
    out: list[str] = []
    last = 0
    q = text.find(word)
    while q >= 0:
        p = q - 1  # back over the spaces and tabs before the word: a header's newline is right before them
        while p > 0 and text[p] in " \t":
            p -= 1
        if p >= last and text[p] == "\n":
            m = pattern.match(text, p)
            if m is not None:
                out.append(text[last:p])
                out.append("\n")
                last = m.end()
                q = text.find(word, last)
                continue
        q = text.find(word, q + 1)
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


_STOCK_BASES = tuple(dict.fromkeys(s.rstrip(".:") for s in STOCK_SENTENCES))  # every stock sentence holds one


def _joined_statements(texts: list[str]) -> list[str]:
    if texts[0].isascii():  # an ASCII group: per text, str.lower's fast path
        lowered = [t.lower() for t in texts]
        lowered[0] = "\n" + lowered[0]  # the leading newline, without copying the joined batch once more
        joined = "\x00\n".join(lowered)
    else:  # lowercase once, joined (a NUL ends a final sigma's context like the end of a text)
        joined = fast_lower("\n" + "\x00\n".join(texts))
    joined = _sub_input_blocks(joined, joined=True)
    joined = _sub_headers(_CONSTRAINTS_JOINED, joined, "constraint")  # "constraint" is rare: try only there
    parts = joined.split("\x00")
    # Stock sentences: find the texts holding one (a text without any base phrase holds no stock sentence,
    # and a replacement only happens in a text that holds one), then strip those texts one at a time: ten
    # substring scans of a few texts instead of ten replaces, each copying the whole batch.
    starts = list(accumulate((len(p) + 1 for p in parts), initial=0))  # starts[d]: where part d begins
    hit: set[int] = set()
    for base in _STOCK_BASES:
        at = joined.find(base)
        while at >= 0:
            d = bisect_right(starts, at) - 1
            hit.add(d)
            at = joined.find(base, starts[d + 1])
    for d in hit:
        parts[d] = _strip_stock(parts[d])
    return parts
