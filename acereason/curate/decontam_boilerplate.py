"""Contamination vs boilerplate: which shared n-grams count, decided per run from document frequencies.

A word n-gram that a training problem shares with a benchmark item is evidence of contamination only
when it is specific to that item. Contest platforms and problem setters reuse phrases ("the input is
given from standard input in the following format", "m and n are relatively prime positive integers.
Find m + n", "find the remainder when n is divided by 1000"); a filter that counts those drops a third
to a half of a same-platform training set while removing nothing that was copied. So, per run:

* an n-gram held by ``max_bench_items`` or more benchmark items is **boilerplate** (benchmark df);
* an n-gram found in at least ``max_train_share`` of the training documents (and in at least
  ``min_train_docs`` of them) is **boilerplate** (training df, counted over the set being
  decontaminated);
* a training document is contaminated when it shares a non-boilerplate n-gram with a benchmark item, or
  when the n-grams it shares with one item (boilerplate or not) cover at least ``coverage`` of that
  item's n-grams. The second clause closes the hole the first opens: a benchmark item copied into the
  training set many times makes all its n-grams frequent there, but each copy still covers the item.
  Benchmark items shorter than n words are matched whole and never count as boilerplate.

For code, statements are first reduced by :func:`code_statement` (section headers, the input-format block,
constraint blocks and example labels removed), on both sides, so the platform scaffolding never forms
n-grams at all.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from acereason.curate.decontam import BATCH_CHARS, BenchmarkItem, NgramIndex
from acereason.schema import Problem

# -- code statement normalisation ----------------------------------------------------------------------

# Patterns run on the lowercased statement (the n-gram view is lowercase anyway), case-sensitively, and
# line-anchored ones start with a literal newline (a newline is put in front of the text) so that the regex
# engine scans for that literal instead of trying every position: this is what keeps the stripping cheap.
# The input-format block ("input\n\nthe input is given ... format:\nn m\na_1 ... a_n") up to "output".
_INPUT_BLOCK = re.compile(r"\n[ \t]*input(?:\s+format)?[ \t]*:?[ \t]*\r?\n.*?(?=\n[ \t]*output(?:\s+format)?[ \t]*:?"
                          r"[ \t]*\r?(?:\n|\Z))", re.S)
# A constraint block: the header and every line up to the next header (or the end).
_CONSTRAINTS = re.compile(r"\n[ \t]*constraints?[ \t]*:?[ \t]*\r?\n.*?(?=\n[ \t]*(?:sample\s+input|examples?\b|"
                          r"input\b|output\b|notes?\b|follow[- ]?up)|\Z)", re.S)
# Scaffolding words are left out wherever they stand (by the index's tokenizer, on both sides, when a
# benchmark is code), not only as header lines or labels: an edited copy whose whitespace or punctuation moved
# ("sample\ninput 1", "input! nums = ...") then reduces to the same words as the benchmark item, where a
# line-anchored header/label pattern kept them on one side only.
SCAFFOLD_WORDS = ("input", "output", "explanation", "example", "examples", "sample", "constraint", "constraints",
                  "note", "notes")
_STOCK = re.compile(r"the input is given from standard input in the following format:?|"
                    r"all (?:the )?input values are integers\.?|print the answer\.?|"
                    r"the input consists of multiple test cases\.?")


def code_statement(text: str) -> str:
    """A code statement without its platform scaffolding, lowercased: the input-format block, constraint
    blocks and stock sentences. The scaffolding words (:data:`SCAFFOLD_WORDS`: section headers "Sample Input
    1", "Example 2:", labels "Input:", "Explanation:") are left out by the index's tokenizer. The story, the
    output description, the sample data and the explanations stay."""
    text = "\n" + text.lower()
    if "input" in text:
        text = _INPUT_BLOCK.sub("\n", text)
    if "constraint" in text:
        text = _CONSTRAINTS.sub("\n", text)
    return _STOCK.sub(" ", text)


# -- settings and the decision -------------------------------------------------------------------------

@dataclass(frozen=True)
class BoilerplateSettings:
    """Document-frequency thresholds (defaults chosen on the real files of shared/data, docs/curate.md)."""

    max_bench_items: int = 3
    max_train_share: float = 0.005
    min_train_docs: int = 3
    coverage: float = 0.5
    min_item_share: float = 0.2
    min_specific_words: int = 1
    long_overlap_words: int = 60
    normalise_code: bool = True

    def describe(self) -> dict[str, Any]:
        """JSON-ready form (stage keys, reports)."""
        return asdict(self)


@dataclass
class Verdict:
    """Why a training document was dropped: the benchmark item, the n-gram that decided, and how."""

    benchmark: BenchmarkItem
    ngram: str
    how: str  # "ngram" (a non-boilerplate n-gram) or "coverage" (covers the item)
    n: int

    def meta(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark.file, "item": self.benchmark.item, "ngram": self.ngram, "n": self.n,
                "how": self.how}


@dataclass
class RunHits:
    """Hits of a whole run: global document, index key, first word of the window (parallel arrays)."""

    doc: np.ndarray
    key: np.ndarray
    pos: np.ndarray
    n_docs: int


@dataclass
class Audit:
    """What a run decided: drops per deciding n-gram, matched items per benchmark file, boilerplate seen."""

    drops_by_ngram: Counter[str] = field(default_factory=Counter)
    items_matched: dict[str, set[str]] = field(default_factory=dict)
    drops_by_benchmark: Counter[str] = field(default_factory=Counter)
    boilerplate: list[dict[str, Any]] = field(default_factory=list)  # top boilerplate n-grams
    excused: int = 0  # documents that shared only boilerplate n-grams (kept)

    def summary(self, top: int = 20) -> dict[str, Any]:
        return {"drops_by_benchmark": dict(self.drops_by_benchmark),
                "items_matched": {f: len(s) for f, s in sorted(self.items_matched.items())},
                "excused_boilerplate_only": self.excused,
                "top_ngrams": [{"ngram": g, "drops": c} for g, c in self.drops_by_ngram.most_common(top)],
                "top_boilerplate": self.boilerplate[:top]}


class Decontaminator:
    """n-gram decontamination with boilerplate excluded (see the module docstring): one implementation for
    ``acereason decontaminate`` and the ``curate`` filter stage."""

    def __init__(self, index: NgramIndex, settings: BoilerplateSettings | None = None) -> None:
        self.index = index
        self.settings = settings or BoilerplateSettings()
        self.train_df = np.zeros(len(index.key_owner), np.int64)
        self.n_train = 0
        self.fitted = False

    @classmethod
    def from_files(cls, paths: Sequence[str], n: int, settings: BoilerplateSettings | None = None) -> Decontaminator:
        from acereason.sources import read_source

        return cls.from_problems({str(path): read_source(path) for path in paths}, n, settings)

    @classmethod
    def from_problems(cls, bench: dict[str, Iterable[Problem]], n: int,
                      settings: BoilerplateSettings | None = None) -> Decontaminator:
        """Index benchmark problems given per file name (statements through :func:`statement`)."""
        settings = settings or BoilerplateSettings()
        bench = {path: list(problems) for path, problems in bench.items()}
        code = settings.normalise_code and any(p.domain == "code" for ps in bench.values() for p in ps)
        index = NgramIndex(n, SCAFFOLD_WORDS if code else ())
        for path, problems in bench.items():
            for p in problems:
                index.add(statement(p.prompt, p.domain, settings), path, p.id)
        return cls(index.freeze(), settings)

    # -- scanning ---------------------------------------------------------------------------------------
    def scan(self, texts: Sequence[str], batch_chars: int = BATCH_CHARS) -> RunHits:
        """Hits of every text (already passed through :func:`statement`), in batches, ASCII apart."""
        docs, keys, poss = [], [], []
        ascii_idx = [i for i, t in enumerate(texts) if t.isascii()]
        other_idx = [i for i, t in enumerate(texts) if not t.isascii()]
        for group in (ascii_idx, other_idx):
            lo = 0
            while lo < len(group):
                hi, size = lo, 0
                while hi < len(group) and (size < batch_chars or hi == lo):
                    size += len(texts[group[hi]])
                    hi += 1
                ids = np.array(group[lo:hi], dtype=np.int64)
                h = self.index.hits_batch([texts[i] for i in group[lo:hi]])
                docs.append(ids[h.doc])
                keys.append(h.key)
                poss.append(h.pos)
                lo = hi
        z = np.zeros(0, np.int64)
        return RunHits(np.concatenate(docs) if docs else z, np.concatenate(keys) if keys else z,
                       np.concatenate(poss) if poss else z, len(texts))

    def fit(self, hits: RunHits) -> Decontaminator:
        """Count, per index key, the training documents holding it (the training df of this run)."""
        pairs = np.unique(hits.doc * np.int64(len(self.train_df) + 1) + hits.key)
        self.train_df = np.bincount(pairs % np.int64(len(self.train_df) + 1), minlength=len(self.train_df))[
            : len(self.train_df)]
        self.n_train = hits.n_docs
        self.fitted = True
        return self

    def fit_texts(self, texts: Sequence[str]) -> Decontaminator:
        """:meth:`fit` on texts (already passed through :func:`statement`)."""
        return self.fit(self.scan(texts))

    def boilerplate_keys(self) -> np.ndarray:
        """Boolean per key: a template n-gram under the settings and the fitted training df."""
        s = self.settings
        idx = self.index
        limit = max(s.min_train_docs, s.max_train_share * self.n_train)
        bp = (idx.key_df >= s.max_bench_items) | (self.train_df >= limit)
        return bp & (idx.key_length == idx.n)  # short items are matched whole: never boilerplate

    # -- deciding ---------------------------------------------------------------------------------------
    def decide(self, hits: RunHits, texts: Sequence[str], audit: Audit | None = None) -> list[Verdict | None]:
        """Per text, a :class:`Verdict` when it is contaminated, else None (``audit`` collects the view)."""
        out: list[Verdict | None] = [None] * hits.n_docs
        if not len(hits.doc):
            return out
        idx, s = self.index, self.settings
        bp = self.boilerplate_keys()
        order = np.lexsort((hits.pos, hits.doc))
        doc, key, pos = hits.doc[order], hits.key[order], hits.pos[order]
        real = ~bp[key]
        # 1. the first non-boilerplate hit of each document decides.
        # 1. specific overlap: words covered by non-boilerplate windows of one item and by no boilerplate
        #    window. A phrase that extends a template by a word or two ("... relatively prime positive
        #    integers. What") or a stock sentence of one setter is a small share of the item; a copied
        #    statement, even edited, shares a large share of it.
        full = idx.key_length[key] == idx.n
        sel = real & full
        n_items = np.int64(len(idx.items) + 1)
        bp_cover = _cover(doc[~real], pos[~real], idx.n)
        g = _cover(doc[sel], pos[sel], idx.n, owner=idx.key_owner[key[sel]], n_items=n_items)
        if len(g):
            g = g[~np.isin(g // n_items, bp_cover)]
        pair, specific = _per_pair(g, n_items)
        pdoc, powner = pair // n_items, pair % n_items
        need = np.minimum(np.maximum(s.min_item_share * idx.item_words[powner], s.min_specific_words),
                          s.long_overlap_words)
        strong_pair = specific >= need
        self.last_pairs = (pdoc, powner, specific, idx.item_words[powner])
        strong_docs = np.zeros(hits.n_docs, dtype=bool)
        strong_docs[pdoc[strong_pair]] = True
        strong = real & (~full | strong_docs[doc])
        real_at = np.flatnonzero(strong)
        rd, at = np.unique(doc[real_at], return_index=True)
        decided = {d: (int(key[j]), int(pos[j]), "ngram")
                   for d, j in zip(rd.tolist(), real_at[at].tolist(), strict=True)}
        # 2. coverage: distinct keys per (document, owning item) against the item's keys.
        owner = idx.key_owner[key]
        width = np.int64(len(idx.key_owner) + 1)
        pair_doc_key = np.unique(doc * width + key)
        pd, pk = pair_doc_key // width, pair_doc_key % width
        po = idx.key_owner[pk]
        n_items = np.int64(len(idx.items) + 1)
        do, cnt = np.unique(pd * n_items + po, return_counts=True)
        dd, oo = do // n_items, do % n_items
        covered = cnt >= np.maximum(1, s.coverage * idx.owned_keys[oo])
        if covered.any():
            first_of, first_at = np.unique(doc * n_items + owner, return_index=True)  # first hit per pair
            where = first_at[np.searchsorted(first_of, do[covered])]
            for d, j in zip(dd[covered].tolist(), where.tolist(), strict=True):
                if d not in decided:
                    decided[d] = (int(key[j]), int(pos[j]), "coverage")
        order_d = sorted(decided)
        tb = idx.tokenize([texts[d] for d in order_d])  # one batch for every decided document's n-gram text
        first_word = dict(zip(order_d, np.concatenate(([0], np.cumsum(tb.words_per_doc)[:-1])).tolist(),
                              strict=True))
        for d, (k, p, how) in decided.items():
            item = idx.items[int(idx.key_owner[k])]
            length = int(idx.key_length[k])
            gram = tb.text(first_word[d] + p, length)
            out[d] = Verdict(item, gram, how, idx.n)
            if audit is not None:
                audit.drops_by_ngram[gram] += 1
                audit.drops_by_benchmark[item.file] += 1
                audit.items_matched.setdefault(item.file, set()).add(item.item)
        if audit is not None:
            audit.excused += len(set(np.unique(doc).tolist()) - set(decided))
            self._boilerplate_view(audit, doc, key, pos, bp, texts)
        return out

    def _boilerplate_view(self, audit: Audit, doc: np.ndarray, key: np.ndarray, pos: np.ndarray, bp: np.ndarray,
                          texts: Sequence[str], top: int = 20) -> None:
        """The boilerplate n-grams met most often: text, benchmark items holding it, training documents."""
        sel = bp[key]
        if not sel.any():
            return
        keys, first, counts = np.unique(key[sel], return_index=True, return_counts=True)
        docs_sel, pos_sel = doc[sel], pos[sel]
        for r in np.argsort(-counts, kind="stable")[:top].tolist():
            k = int(keys[r])
            gram = self.index.tokenize([texts[int(docs_sel[first[r]])]]).text(int(pos_sel[first[r]]),
                                                                       int(self.index.key_length[k]))
            audit.boilerplate.append({"ngram": gram, "bench_items": int(self.index.key_df[k]),
                                      "train_docs": int(self.train_df[k])})

    def run(self, texts: Sequence[str], audit: Audit | None = None) -> list[Verdict | None]:
        """Scan once, fit the training df on these texts, decide: what ``acereason decontaminate`` does."""
        hits = self.scan(texts)
        self.fit(hits)
        return self.decide(hits, texts, audit)


def _cover(doc: np.ndarray, pos: np.ndarray, n: int, owner: np.ndarray | None = None,
           n_items: np.int64 = np.int64(1)) -> np.ndarray:
    """The distinct (document << 32 | word) positions covered by windows of ``n`` words at ``pos``; with
    ``owner``, ``position * n_items + owner`` (one entry per item covering the position)."""
    g = (doc.astype(np.int64) << np.int64(32)) + pos.astype(np.int64)
    g = (g[:, None] + np.arange(n, dtype=np.int64)).ravel()
    if owner is not None:
        g = g * n_items + np.repeat(owner.astype(np.int64), n)
    return np.unique(g)


def _per_pair(g: np.ndarray, n_items: np.int64) -> tuple[np.ndarray, np.ndarray]:
    """From ``position * n_items + owner`` entries: the (document * n_items + owner) pairs and how many
    positions each covers."""
    place, owner = g // n_items, g % n_items
    return np.unique((place >> np.int64(32)) * n_items + owner, return_counts=True)


def statement(text: str, domain: str, settings: BoilerplateSettings) -> str:
    """The text n-grammed for a problem: code statements lose their scaffolding (:func:`code_statement`)."""
    return code_statement(text) if domain == "code" and settings.normalise_code else text
