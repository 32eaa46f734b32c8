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

For code, statements are first reduced by :func:`~acereason.curate.decontam_code.code_statement` (section
headers, the input-format block, constraint blocks and example labels removed), on both sides, so the
platform scaffolding never forms n-grams at all. The interval arithmetic of the specific overlap lives in
:mod:`acereason.curate.decontam_overlap`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from acereason.curate.decontam import SCAN_CHARS, BenchmarkItem, NgramIndex
from acereason.curate.decontam_code import SCAFFOLD_WORDS, STOCK_SENTENCES, code_statement, code_statements
from acereason.curate.decontam_overlap import _distinct, _first_of_runs, specific_overlap
from acereason.schema import Problem

# Code-statement reduction and the overlap arithmetic live in their own modules; their public names stay
# importable from here (the decision's one entry point).
__all__ = ["SCAFFOLD_WORDS", "STOCK_SENTENCES", "Audit", "BoilerplateSettings", "Decontaminator", "RunHits",
           "ShortHits", "ShortItemMatcher", "Verdict", "code_statement", "code_statements", "specific_overlap",
           "statement", "statements"]

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
    # Short-item matcher (:class:`ShortItemMatcher`): items of at most ``short_item_words`` words (0: off) are
    # also matched by weighted word-pair containment >= ``short_share`` (and >= ``short_min_pairs`` shared pairs), in
    # documents of at most
    # ``short_length_ratio`` x the item's words + ``short_length_slack``.
    short_item_words: int = 40
    short_share: float = 0.45
    short_min_pairs: int = 4
    short_length_ratio: float = 2.0
    short_length_slack: int = 10

    def describe(self) -> dict[str, Any]:
        """JSON-ready form (stage keys, reports)."""
        return asdict(self)


@dataclass
class Verdict:
    """Why a training document was dropped: the benchmark item, the n-gram that decided, and how."""

    benchmark: BenchmarkItem
    ngram: str
    how: str  # "ngram" (a non-boilerplate n-gram), "coverage" (covers the item) or "short" (ShortItemMatcher)
    n: int
    score: float | None = None  # "short": the weighted share of the item's word pairs the document holds

    def meta(self) -> dict[str, Any]:
        out = {"benchmark": self.benchmark.file, "item": self.benchmark.item, "ngram": self.ngram, "n": self.n,
               "how": self.how}
        if self.score is not None:
            out["score"] = round(self.score, 3)
        return out


@dataclass
class RunHits:
    """Hits of a whole run: global document, index key, first word of the window (parallel arrays)."""

    doc: np.ndarray
    key: np.ndarray
    pos: np.ndarray
    n_docs: int
    _doc_keys: np.ndarray | None = field(default=None, repr=False)
    short: ShortHits | None = None  # the short-item matcher's hits (None when it is off)

    def doc_keys(self, width: int) -> np.ndarray:
        """The distinct ``document * width + key`` values, sorted (``width`` > every key): one sort, shared
        by the training-df fit and the coverage rule."""
        if self._doc_keys is None:
            self._doc_keys = _distinct(np.sort(self.doc.astype(np.int64) * np.int64(width) + self.key))
        return self._doc_keys


@dataclass
class ShortHits:
    """Word pairs of short benchmark items found in a run: global document, feature, first word; and the
    word count of every document (the matcher's length bound)."""

    doc: np.ndarray
    feat: np.ndarray
    pos: np.ndarray
    doc_words: np.ndarray


class ShortItemMatcher:
    """Fuzzy second pass for short benchmark items: weighted containment of the item's word pairs.

    A benchmark item of a sentence or two can lose every n-gram to one reworded sentence (three synonyms,
    a dropped word, the halves exchanged) plus reformatted numbers: nothing of 9 words stays intact. Its
    *word pairs* (consecutive tokens of the n-gram view: same normalisation, number folding, scaffolding
    words left out) mostly survive, and those an edit breaks are mostly stock words. So per short item
    (<= ``short_item_words`` words) the features are its distinct word pairs held by fewer than
    ``max_bench_items`` benchmark items, each weighted by its rarity in the run's training set, ``log((N +
    1) / (df + 1))`` (the training df is fitted per run, like the n-grams'); a document is dropped when the
    features it holds weigh >= ``short_share`` of the item's total, number >= ``short_min_pairs``, and it has
    at most ``short_length_ratio`` x the item's words + ``short_length_slack`` (a long document holds many
    stray pairs). Lookups go through the same bit set + sorted table as the n-gram index: one extra window
    pass of length 2 per batch, on the tokens the n-gram scan already made.
    """

    def __init__(self, index: NgramIndex, texts: Sequence[str], settings: BoilerplateSettings) -> None:
        from acereason.curate.decontam import _Table, window_hashes

        self.settings = settings
        batch = index.tokenize(texts)
        off = np.concatenate(([0], np.cumsum(batch.words_per_doc)))
        h2, first = NgramIndex._windows(batch, 2)
        owner = batch.word_doc[first].astype(np.int64)
        by_hash = np.lexsort((owner, h2))  # benchmark df of a word pair: the distinct items holding it
        hs, os_ = h2[by_hash], owner[by_hash]
        new_pair = _first_of_runs(hs) | _first_of_runs(os_)
        bench_df_h, bench_df = np.unique(hs[new_pair], return_counts=True)
        feats: list[np.ndarray] = []
        items: list[np.ndarray] = []
        short = np.flatnonzero((batch.words_per_doc >= 2) & (batch.words_per_doc <= settings.short_item_words))
        for d in short.tolist():
            f = np.unique(window_hashes(batch.word_hash[off[d]: off[d + 1]], 2))
            common = bench_df[np.searchsorted(bench_df_h, f)] >= settings.max_bench_items
            feats.append(f[~common])
            items.append(np.full(int((~common).sum()), d, dtype=np.int64))
        fh = np.concatenate(feats) if feats else np.zeros(0, np.uint64)
        fi = np.concatenate(items) if items else np.zeros(0, np.int64)
        order = np.lexsort((fi, fh))
        fh, fi = fh[order], fi[order]
        self.hashes = _distinct(fh)  # feature id = index into this sorted array
        self.entry_feat = np.searchsorted(self.hashes, fh)  # (feature, item) entries, by feature
        self.entry_item = fi
        self.entry_start = np.searchsorted(self.entry_feat, np.arange(len(self.hashes) + 1))
        self.table = _Table.build(self.hashes, np.zeros(len(self.hashes), dtype=np.int64))
        self.item_words = batch.words_per_doc.astype(np.int64)
        self.short_items = len(short)
        self.df = np.zeros(len(self.hashes), np.int64)
        self.n_train = 0

    def hits(self, scanned: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(document in the batch, feature, first word) of every short-item word pair of a scanned batch
        (:class:`~acereason.curate.decontam.Hits`): its 2-word window hashes over the padded word hashes, where a
        pair that crosses a document boundary holds a sentinel and so never equals a benchmark pair."""
        if scanned.padded is None:  # nothing was scanned (no texts, or an empty index)
            z = np.zeros(0, np.int64)
            return z, z, z
        ids, doc, m, offsets, pairs = scanned.padded
        hit, slot = self.table.find_windows(ids, 2, m, pairs)
        d = doc[hit]
        return d, slot, hit - d - offsets[d]

    def fit(self, sh: ShortHits, n_docs: int) -> None:
        """Training df per feature: distinct (document, feature) pairs of the run."""
        width = np.int64(len(self.hashes) + 1)
        dk = _distinct(np.sort(sh.doc.astype(np.int64) * width + sh.feat))
        self.df = np.bincount(dk % width, minlength=len(self.hashes))[: len(self.hashes)]
        self.n_train = n_docs

    def decide(self, sh: ShortHits) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(documents, items, first shared word, score) of every document over the threshold, one row per
        document (its best-scoring item; ties: the lower item)."""
        z = np.zeros(0, np.int64)
        if not len(sh.doc) or not len(self.hashes):
            return z, z, z, np.zeros(0)
        s = self.settings
        w = np.log((self.n_train + 1.0) / (self.df + 1.0))
        total = np.bincount(self.entry_item, weights=w[self.entry_feat], minlength=len(self.item_words))
        width = np.int64(len(self.hashes) + 1)
        key = sh.doc.astype(np.int64) * width + sh.feat
        if len(key) and int(key.max()) < 2**31 and int(sh.pos.max()) < 2**32:
            # (key, pos) packed in one int64: a plain sort of the values (lexsort's passes cost 6x more).
            packed = np.sort((key << np.int64(32)) | sh.pos)
            key, pos = packed >> np.int64(32), packed & np.int64(0xFFFFFFFF)
        else:
            order = np.lexsort((sh.pos, key))
            key, pos = key[order], sh.pos[order]
        first = _first_of_runs(key)
        key, pos = key[first], pos[first]  # distinct (document, feature), with its first word
        doc, feat = key // width, key % width
        count = self.entry_start[feat + 1] - self.entry_start[feat]
        rows = np.repeat(np.arange(len(feat)), count)
        entry = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count) + np.repeat(
            self.entry_start[feat], count)
        item = self.entry_item[entry]
        n_items = np.int64(len(self.item_words) + 1)
        pair = doc[rows] * n_items + item
        by_pair = np.argsort(pair, kind="stable")
        pair, weight, at_word = pair[by_pair], w[feat[rows]][by_pair], pos[rows][by_pair]
        starts = np.flatnonzero(_first_of_runs(pair))
        if not len(starts):
            return z, z, z, np.zeros(0)
        got = np.add.reduceat(weight, starts)
        shared = np.diff(np.append(starts, len(pair)))
        word = np.minimum.reduceat(at_word, starts)
        pdoc, pitem = pair[starts] // n_items, pair[starts] % n_items
        score = got / np.maximum(total[pitem], 1e-12)
        ok = (total[pitem] > 0) & (score >= s.short_share) & (shared >= s.short_min_pairs) & (
            sh.doc_words[pdoc] <= s.short_length_ratio * self.item_words[pitem] + s.short_length_slack)
        pdoc, pitem, word, score = pdoc[ok], pitem[ok], word[ok], score[ok]
        best = np.lexsort((pitem, -score, pdoc))
        pdoc, pitem, word, score = pdoc[best], pitem[best], word[best], score[best]
        one = _first_of_runs(pdoc)
        return pdoc[one], pitem[one], word[one], score[one]


@dataclass
class Audit:
    """What a run decided: drops per deciding n-gram, matched items per benchmark file, boilerplate seen."""

    drops_by_ngram: Counter[str] = field(default_factory=Counter)
    items_matched: dict[str, set[str]] = field(default_factory=dict)
    drops_by_benchmark: Counter[str] = field(default_factory=Counter)
    drops_by_matcher: Counter[str] = field(default_factory=Counter)  # ngram / coverage / short
    boilerplate: list[dict[str, Any]] = field(default_factory=list)  # top boilerplate n-grams
    excused: int = 0  # documents that shared only boilerplate n-grams (kept)

    def summary(self, top: int = 20) -> dict[str, Any]:
        return {"drops_by_benchmark": dict(self.drops_by_benchmark),
                "drops_by_matcher": dict(self.drops_by_matcher),
                "items_matched": {f: len(s) for f, s in sorted(self.items_matched.items())},
                "excused_boilerplate_only": self.excused,
                "top_ngrams": [{"ngram": g, "drops": c} for g, c in self.drops_by_ngram.most_common(top)],
                "top_boilerplate": self.boilerplate[:top]}


class Decontaminator:
    """n-gram decontamination with boilerplate excluded (see the module docstring): one implementation for
    ``acereason decontaminate`` and the ``curate`` filter stage."""

    def __init__(self, index: NgramIndex, settings: BoilerplateSettings | None = None,
                 short: ShortItemMatcher | None = None) -> None:
        self.index = index
        self.settings = settings or BoilerplateSettings()
        self.short = short
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
        texts = statements([(p.prompt, p.domain) for ps in bench.values() for p in ps], settings)
        ids = [(path, p.id) for path, ps in bench.items() for p in ps]
        for text, (path, item) in zip(texts, ids, strict=True):
            index.add(text, path, item)
        index.freeze()
        short = ShortItemMatcher(index, texts, settings) if settings.short_item_words > 0 and texts else None
        return cls(index, settings, short)

    # -- scanning ---------------------------------------------------------------------------------------
    def scan(self, texts: Sequence[str], batch_chars: int = SCAN_CHARS) -> RunHits:
        """Hits of every text (already passed through :func:`statement`), in batches, ASCII apart."""
        docs, keys, poss = [], [], []
        sdocs, sfeats, sposs = [], [], []
        doc_words = np.zeros(len(texts), np.int64)
        is_ascii = np.fromiter(map(str.isascii, texts), dtype=bool, count=len(texts))
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        for group in (np.flatnonzero(is_ascii), np.flatnonzero(~is_ascii)):
            ends = np.cumsum(lengths[group])
            lo = 0
            while lo < len(group):
                # A batch takes texts until it holds batch_chars characters (at least one text).
                base = ends[lo - 1] if lo else 0
                hi = max(lo + 1, min(len(group), int(np.searchsorted(ends, base + batch_chars, side="left")) + 1))
                ids = group[lo:hi]
                h = self.index.hits_batch([texts[i] for i in ids.tolist()])
                docs.append(ids[h.doc])
                keys.append(h.key)
                poss.append(h.pos)
                if self.short is not None:  # the same tokens, one more window pass
                    d, f, p = self.short.hits(h)
                    sdocs.append(ids[d])
                    sfeats.append(f)
                    sposs.append(p)
                    doc_words[ids] = h.batch.words_per_doc
                lo = hi
        z = np.zeros(0, np.int64)

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else z

        short = ShortHits(cat(sdocs), cat(sfeats), cat(sposs), doc_words) if self.short is not None else None
        return RunHits(cat(docs), cat(keys), cat(poss), len(texts), short=short)

    def fit(self, hits: RunHits) -> Decontaminator:
        """Count, per index key, the training documents holding it (the training df of this run)."""
        width = len(self.train_df) + 1
        self.train_df = np.bincount(hits.doc_keys(width) % np.int64(width), minlength=width)[: len(self.train_df)]
        self.n_train = hits.n_docs
        if self.short is not None and hits.short is not None:
            self.short.fit(hits.short, hits.n_docs)
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
        if not len(hits.doc) and (hits.short is None or not len(hits.short.doc)):
            return out
        idx, s = self.index, self.settings
        bp = self.boilerplate_keys()
        # Hits by (document, first word): one stable sort of a combined key (a word index is < 2**32).
        order = np.argsort((hits.doc.astype(np.int64) << np.int64(32)) | hits.pos, kind="stable")
        doc, key, pos = hits.doc[order], hits.key[order], hits.pos[order]
        real = ~bp[key]
        owner = idx.key_owner[key]
        n_items = np.int64(len(idx.items) + 1)
        # 1. specific overlap: words covered by non-boilerplate windows of one item and by no boilerplate
        #    window. A phrase that extends a template by a word or two ("... relatively prime positive
        #    integers. What") or a stock sentence of one setter is a small share of the item; a copied
        #    statement, even edited, shares a large share of it.
        full = idx.key_length[key] == idx.n
        sel = real & full
        pdoc, powner, specific = specific_overlap(doc[sel], pos[sel], owner[sel], doc[~real], pos[~real], idx.n,
                                                  n_items)
        need = np.minimum(np.maximum(s.min_item_share * idx.item_words[powner], s.min_specific_words),
                          s.long_overlap_words)
        strong_pair = specific >= need
        self.last_pairs = (pdoc, powner, specific, idx.item_words[powner])
        strong_docs = np.zeros(hits.n_docs, dtype=bool)
        strong_docs[pdoc[strong_pair]] = True
        strong = real & (~full | strong_docs[doc])
        real_at = np.flatnonzero(strong)
        first = _first_of_runs(doc[real_at])  # the first strong hit of each document decides
        decided: dict[int, tuple[int, int, int, str, float | None]] = {
            d: (int(owner[j]), int(pos[j]), int(idx.key_length[key[j]]), "ngram", None)
            for d, j in zip(doc[real_at[first]].tolist(), real_at[first].tolist(), strict=True)}
        # 2. coverage: distinct keys per (document, owning item) against the item's keys.
        width = np.int64(len(idx.key_owner) + 1)
        pair_doc_key = hits.doc_keys(int(width))
        pair_doc_owner = np.sort((pair_doc_key // width) * n_items + idx.key_owner[pair_doc_key % width])
        at = np.flatnonzero(_first_of_runs(pair_doc_owner))
        do = pair_doc_owner[at]
        cnt = np.diff(np.append(at, len(pair_doc_owner)))
        dd, oo = do // n_items, do % n_items
        covered = cnt >= np.maximum(1, s.coverage * idx.owned_keys[oo])
        if covered.any():
            # The first hit (by word) of each covered (document, item) pair names the n-gram.
            pk = doc * n_items + owner
            by_pair = np.argsort(pk, kind="stable")
            where = by_pair[np.searchsorted(pk[by_pair], do[covered])]
            for d, j in zip(dd[covered].tolist(), where.tolist(), strict=True):
                if d not in decided:
                    decided[d] = (int(owner[j]), int(pos[j]), int(idx.key_length[key[j]]), "coverage", None)
        # 3. short items, fuzzily: what no intact n-gram caught (ShortItemMatcher).
        if self.short is not None and hits.short is not None:
            for d, o, p, sc in zip(*(a.tolist() for a in self.short.decide(hits.short)), strict=True):
                if d not in decided:
                    decided[d] = (o, p, 2, "short", sc)
        order_d = sorted(decided)
        grams = dict(zip(order_d, idx.ngram_texts([texts[d] for d in order_d], [decided[d][1] for d in order_d],
                                                  [decided[d][2] for d in order_d]), strict=True))
        for d, (o, _, _, how, sc) in decided.items():
            item = idx.items[o]
            gram = grams[d]
            out[d] = Verdict(item, gram, how, idx.n, sc)
            if audit is not None:
                audit.drops_by_matcher[how] += 1
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


def statement(text: str, domain: str, settings: BoilerplateSettings) -> str:
    """The text n-grammed for a problem: code statements lose their scaffolding (:func:`code_statement`)."""
    return code_statement(text) if domain == "code" and settings.normalise_code else text


def statements(problems: Iterable[tuple[str, str]], settings: BoilerplateSettings) -> list[str]:
    """:func:`statement` of every (text, domain) pair, the code ones reduced in one batch (:func:`code_statements`)."""
    pairs = list(problems)
    out = list(map(itemgetter(0), pairs))
    if settings.normalise_code:
        domains = list(map(itemgetter(1), pairs))
        n_code = domains.count("code")  # one C-level scan: a math run has nothing to reduce
        if n_code == 0:
            return out
        if n_code == len(domains):
            return code_statements(out)
        code = [i for i, d in enumerate(domains) if d == "code"]
        for i, t in zip(code, code_statements([out[i] for i in code]), strict=True):
            out[i] = t
    return out
