"""n-gram decontamination against benchmark files: an index built once, queried in vectorised batches.

Paper §3.2: math problems sharing a 9-gram with a benchmark are removed, code problems sharing a 14-gram
(plus a date cutoff, :class:`~acereason.curate.rules_code.DateCutoffRule`). Both sides are reduced to
normalised word tokens (:func:`~acereason.curate.normalize.word_tokens`), so whitespace, case and
punctuation edits of a benchmark problem still match.

Tokens and window hashes: :mod:`acereason.curate.decontam_hash`. The index is the sorted array of the
benchmarks' window hashes (with a parallel array naming the item each came from); a query is one
``searchsorted``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acereason.curate import decontam_hash
from acereason.curate.decontam_hash import (
    _P,
    _SENTINEL,
    TokenizedBatch,
    bitset_candidates,
    tokenize_batch,
    window_hashes,
)
from acereason.curate.pipeline import Drop, PipelineContext
from acereason.schema import Problem

MATH_N = 9
CODE_N = 14
BATCH_CHARS = 1 << 18  # records per flush of the curate filter stage (its per-batch df fit, when unfitted, sees these)
# Characters per vectorised scan batch: large enough to amortise numpy's per-call cost, small enough for the
# work arrays to stay in cache (512K measured ~10% faster than 256K on math, the same on code). Hits do not
# depend on it.
SCAN_CHARS = 1 << 19


@dataclass
class Hits:
    """Indexed windows found in a batch: per hit its document, index key and first word in the document."""

    doc: np.ndarray
    key: np.ndarray
    pos: np.ndarray
    batch: TokenizedBatch
    # The padded word hashes the scan used, for a second matcher over the same windows: (ids, document of
    # each padded position, number of real positions, first word of each document, 2-word window hashes or
    # None where the compiled probe does without them).
    padded: tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray | None] | None = None


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark problem the index holds: its file, its id there, and the start of its statement."""

    file: str
    item: str
    excerpt: str


class Match:
    """A training document's first n-gram shared with a benchmark item. The n-gram text is built only when
    read (a filter that only needs keep/drop never pays for it)."""

    __slots__ = ("_batch", "_first", "_length", "benchmark")

    def __init__(self, benchmark: BenchmarkItem, batch: TokenizedBatch, first: int, length: int) -> None:
        self.benchmark = benchmark
        self._batch, self._first, self._length = batch, first, length

    @property
    def ngram(self) -> str:
        """The shared words, normalised."""
        return self._batch.text(self._first, self._length)


@dataclass
class _Table:
    """Sorted window hashes of one length with their owning items, and a filter on the top hash bits
    (64 slots per hash) that rejects ~98% of non-member queries with one gather, so the exact
    ``searchsorted`` only runs on the few candidates. The filter is a byte per slot while that stays
    within 256 KiB (a table of at most 4096 hashes: a shift and a gather, no bit arithmetic), else a bit
    per slot packed into uint64 words (so a large table's filter still fits in cache)."""

    hashes: np.ndarray
    owners: np.ndarray
    bits: np.ndarray  # uint8 flags (one per slot) or packed uint64 bits, see ``bytewise``
    shift: np.uint64
    df: np.ndarray  # per hash: how many benchmark items hold it (template n-grams are held by many)
    bytewise: bool = False

    @classmethod
    def build(cls, hashes: np.ndarray, owners: np.ndarray) -> _Table:
        order = np.lexsort((owners, hashes))  # by hash, then item: the first item holding a hash owns it
        hs, ow = hashes[order], owners[order]
        new_hash = np.concatenate(([True], hs[1:] != hs[:-1])) if len(hs) else np.zeros(0, bool)
        new_pair = new_hash | np.concatenate(([True], ow[1:] != ow[:-1])) if len(hs) else new_hash
        first = np.flatnonzero(new_hash)
        uniq = hs[first]
        df = np.add.reduceat(new_pair.astype(np.int64), first) if len(first) else np.zeros(0, np.int64)
        log_size = max(12, (len(uniq) * 64).bit_length())  # 2**log_size slots, >= 64 per hash
        shift = np.uint64(64 - log_size)  # a hash's slot is its top log_size bits
        slots = uniq >> shift
        if log_size <= 18:
            flags = np.zeros(1 << log_size, dtype=np.uint8)
            flags[slots.astype(np.int64)] = 1
            return cls(uniq, ow[first], flags, shift, df, bytewise=True)
        bits = np.zeros((1 << log_size) // 64, dtype=np.uint64)
        np.bitwise_or.at(bits, (slots >> np.uint64(6)).astype(np.int64), np.uint64(1) << (slots & np.uint64(63)))
        return cls(uniq, ow[first], bits, shift, df)

    def lookup(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into ``h`` found in the table, the owning item of each)."""
        hit, slot = self.find(h)
        return hit, self.owners[slot]

    def find_windows(self, ids: np.ndarray, n: int, m: int, pairs: np.ndarray | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`find` of the first ``m`` ``n``-word windows of ``ids`` (``window_hashes(ids, n)[:m]``): with the
        compiled scan, one pass that rolls each window's hash and probes the filter (no array per window)."""
        scan = decontam_hash.compiled_scan()
        if scan is None or not len(self.hashes) or m <= 0:
            return self.find(window_hashes(ids, n, pairs)[:m])
        hit = np.empty(m, np.int64)
        slot = np.empty(m, np.int64)
        ids = np.ascontiguousarray(ids, dtype=np.uint64)
        count = scan.probe_windows(ids, m, n, self.bits, int(self.bytewise), int(self.shift),
                                                      self.hashes, hit, slot)
        return hit[:count].copy(), slot[:count].copy()

    def find(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into ``h`` found in the table, the table slot of each)."""
        if not len(self.hashes) or not len(h):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.bytewise:
            cand = np.flatnonzero(self.bits.take((h >> self.shift).view(np.int64)).view(bool))
        else:
            cand = bitset_candidates(self.bits, h, self.shift)
        hc = h[cand]
        if len(hc) > 64:
            # Sorted queries: consecutive binary searches share their upper levels, which stay in cache (a
            # copied document's windows are many hits in a row, at random places in a table that the rest of
            # the batch's work has evicted).
            order = np.argsort(hc)
            pos = np.empty(len(hc), np.int64)
            pos[order] = np.searchsorted(self.hashes, hc[order])
            pos = pos.clip(max=len(self.hashes) - 1)
        else:
            pos = np.searchsorted(self.hashes, hc).clip(max=len(self.hashes) - 1)
        found = self.hashes[pos] == hc
        return cand[found], pos[found]


class NgramIndex:
    """Word n-gram hashes of benchmark statements, for fast membership queries (see the module docstring).

    Benchmark items shorter than ``n`` words are kept whole and match a document whose tokens contain
    them as a contiguous run (so a 5-word benchmark problem is not silently unprotected).
    """

    def __init__(self, n: int = MATH_N, drop_words: Sequence[str] = ()) -> None:
        if n < 1:
            raise ValueError(f"n-gram size must be >= 1, got {n}")
        self.n = n
        # Words left out on both sides (code scaffolding words, decontam_boilerplate.SCAFFOLD_WORDS).
        self.drop_words = tuple(drop_words)
        self.drop = np.unique(tokenize_batch(list(drop_words)).word_hash) if drop_words else None
        self.items: list[BenchmarkItem] = []
        self._texts: list[str] = []
        self._tables: dict[int, _Table] = {}  # window length -> table (n, plus lengths of short items)
        self._short_first: _Table | None = None  # first words of the short items

    # -- building ---------------------------------------------------------------------------------------
    def add(self, text: str, file: str, item: str) -> None:
        """Add one benchmark statement (call :meth:`freeze` once all are added)."""
        self.items.append(BenchmarkItem(file, item, text[:120]))
        self._texts.append(text)

    def freeze(self) -> NgramIndex:
        """Hash every benchmark window (and every short item whole) into per-length tables."""
        parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        first_words: list[np.ndarray] = []
        item_words: list[np.ndarray] = []
        for lo in range(0, len(self._texts), 4096):
            batch = self.tokenize(self._texts[lo: lo + 4096])
            item_words.append(batch.words_per_doc)
            h, first = self._windows(batch, self.n)
            parts.setdefault(self.n, []).append((h, batch.word_doc[first] + lo))
            offsets = np.concatenate(([0], np.cumsum(batch.words_per_doc)))
            for d in np.flatnonzero((batch.words_per_doc > 0) & (batch.words_per_doc < self.n)).tolist():
                words = batch.word_hash[offsets[d]: offsets[d + 1]]
                first_words.append(words[:1])
                parts.setdefault(len(words), []).append((window_hashes(words, len(words)),
                                                         np.array([lo + d], dtype=np.int64)))
        for length, chunks in parts.items():
            self._tables[length] = _Table.build(np.concatenate([h for h, _ in chunks]),
                                                np.concatenate([o for _, o in chunks]))
        if first_words:
            fw = np.concatenate(first_words)
            self._short_first = _Table.build(fw, np.zeros(len(fw), dtype=np.int64))
        self._texts = []
        # One key space over all tables (lengths in order): key -> owner item, benchmark df, length.
        lengths = sorted(self._tables)
        sizes = [len(self._tables[k].hashes) for k in lengths]
        self._key_offset = dict(zip(lengths, np.cumsum([0, *sizes[:-1]]).tolist() if lengths else [], strict=True))
        self.key_owner = np.concatenate([self._tables[k].owners for k in lengths]) if lengths else np.zeros(0, np.int64)
        self.key_df = np.concatenate([self._tables[k].df for k in lengths]) if lengths else np.zeros(0, np.int64)
        self.key_length = np.repeat(np.array(lengths, dtype=np.int64), sizes) if lengths else np.zeros(0, np.int64)
        self.owned_keys = np.bincount(self.key_owner, minlength=len(self.items))
        self.item_words = np.concatenate(item_words) if item_words else np.zeros(0, np.int64)
        return self

    def tokenize(self, texts: Sequence[str]) -> TokenizedBatch:
        """:func:`tokenize_batch` with this index's dropped words left out."""
        return tokenize_batch(texts, self.drop)

    def ngram_texts(self, texts: Sequence[str], first_words: Sequence[int], lengths: Sequence[int]) -> list[str]:
        """Per text, the normalised text of its words ``[first, first + length)`` (the n-gram a verdict names):
        the texts tokenized once, ASCII ones apart (their batch keeps the one-byte path), every span read in
        one pass (:meth:`TokenizedBatch.texts`)."""
        out = [""] * len(texts)
        is_ascii = [t.isascii() for t in texts]
        for kind in (True, False):
            idx = [i for i, a in enumerate(is_ascii) if a is kind]
            if not idx:
                continue
            tb = self.tokenize([texts[i] for i in idx])
            offsets = np.concatenate(([0], np.cumsum(tb.words_per_doc)[:-1]))
            at = np.array(idx, dtype=np.int64)
            first = offsets[: len(idx)] + np.asarray(first_words, dtype=np.int64)[at]
            for i, g in zip(idx, tb.texts(first, np.asarray(lengths, dtype=np.int64)[at]), strict=True):
                out[i] = g
        return out

    @property
    def short_items(self) -> int:
        """How many benchmark items are shorter than ``n`` words (matched whole)."""
        return sum(len(t.hashes) for length, t in self._tables.items() if length != self.n)

    @staticmethod
    def _windows(batch: TokenizedBatch, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of the ``n``-word windows that lie inside one document, and each window's first word."""
        h = window_hashes(batch.word_hash, n)
        m = len(h)
        inside = np.flatnonzero(batch.word_doc[:m] == batch.word_doc[n - 1: n - 1 + m])
        return h[inside], inside

    def _padded(self, batch: TokenizedBatch) -> tuple[np.ndarray, np.ndarray, int]:
        """Word hashes with a sentinel ending every document (and ``longest`` more at the end), each position's
        document, and the number of real positions. A window that crosses into the next document contains a
        sentinel and so never equals an indexed window (the index holds only in-document windows)."""
        counts = batch.words_per_doc
        sentinels = np.cumsum(counts + 1) - 1
        m = len(batch.word_hash) + len(counts)
        ids = np.full(m + max(self._tables), _SENTINEL, dtype=np.uint64)
        keep = np.ones(m, dtype=bool)
        keep[sentinels] = False
        ids[:m][keep] = batch.word_hash
        return ids, np.repeat(np.arange(len(counts)), counts + 1), m

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], n: int = MATH_N) -> NgramIndex:
        """Index the statements of benchmark files in any supported source format."""
        from acereason.sources import read_source

        index = cls(n)
        for path in paths:
            for p in read_source(path):
                index.add(p.prompt, str(path), p.id)
        return index.freeze()

    def __len__(self) -> int:
        t = self._tables.get(self.n)
        return 0 if t is None else len(t.hashes)

    # -- querying ---------------------------------------------------------------------------------------
    def match_batch(self, texts: Sequence[str]) -> list[Match | None]:
        """For each text, its first benchmark n-gram (or whole short item), or None; vectorised over the batch."""
        out: list[Match | None] = [None] * len(texts)
        if not texts or not self._tables:
            return out
        batch = self.tokenize(texts)
        ids, doc, m = self._padded(batch)
        # Short items are few: only windows starting with the first word of one can match them.
        starts = self._short_first.lookup(ids[:m])[0] if self._short_first is not None else None
        h = ids[:m].copy()
        with np.errstate(over="ignore"):
            for length in range(1, max(self._tables) + 1):  # rolling: length L is step L - 1 of the longest
                if length > 1:
                    h *= _P
                    h += ids[length - 1: length - 1 + m]
                table = self._tables.get(length)
                if table is None:
                    continue
                if length == self.n or starts is None:
                    hit, owners = table.lookup(h)
                else:
                    sub, owners = table.lookup(h[starts])
                    hit = starts[sub]
                # A copied problem hits in every window: keep the first hit of each document, vectorised.
                docs, at = np.unique(doc[hit], return_index=True)
                for d, k in zip(docs.tolist(), at.tolist(), strict=True):
                    if out[d] is None:
                        pos = int(hit[k])
                        out[d] = Match(self.items[int(owners[k])], batch, pos - d, length)
        return out

    def hits_batch(self, texts: Sequence[str]) -> Hits:
        """Every window (and whole short item) of ``texts`` that the index holds: one vectorised pass.

        A hit is (document, key, first word of the window in that document); ``key`` indexes
        :attr:`key_owner`, :attr:`key_df` and :attr:`key_length`."""
        batch = self.tokenize(texts)
        if not texts or not self._tables:
            z = np.zeros(0, np.int64)
            return Hits(z, z, z, batch)
        ids, doc, m = self._padded(batch)
        starts = self._short_first.find_windows(ids, 1, m)[0] if self._short_first is not None else None
        docs, keys, poss = [], [], []
        with np.errstate(over="ignore"):
            # The first doubling step of every window length, kept for Hits; the compiled probe rolls its own.
            pairs = ids[:-1] * _P + ids[1:] if decontam_hash.compiled_scan() is None else None
            h, done = ids[starts] if starts is not None else None, 1  # h: the first `done` words at each start
            for length in sorted(self._tables):
                table = self._tables[length]
                if length == self.n or starts is None or h is None:
                    hit, slot = table.find_windows(ids, length, m, pairs)
                else:  # short items: only the windows that start with one's first word, extended length by length
                    while done < length:
                        h = h * _P + ids[starts + done]
                        done += 1
                    sub, slot = table.find(h)
                    hit = starts[sub]
                d = doc[hit]
                docs.append(d)
                keys.append(slot + self._key_offset[length])
                poss.append(hit - d)  # padded position minus one sentinel per earlier document = word index
        d, k, p = (np.concatenate(x) for x in (docs, keys, poss))
        offsets = np.concatenate(([0], np.cumsum(batch.words_per_doc)))
        return Hits(d, k, p - offsets[d], batch, (ids, doc, m, offsets, pairs))

    def match_all(self, texts: Sequence[str], batch_chars: int = BATCH_CHARS) -> list[Match | None]:
        """:meth:`match_batch` over any number of texts, in batches of about ``batch_chars`` characters
        (large enough to amortise numpy's per-call cost, small enough for the work arrays to stay in cache).
        ASCII texts are batched apart from the others so their batches take the one-byte-per-character path."""
        out: list[Match | None] = [None] * len(texts)
        ascii_idx = [i for i, t in enumerate(texts) if t.isascii()]
        other_idx = [i for i, t in enumerate(texts) if not t.isascii()]
        for group in (ascii_idx, other_idx):
            lo = 0
            while lo < len(group):
                hi, size = lo, 0
                while hi < len(group) and (size < batch_chars or hi == lo):
                    size += len(texts[group[hi]])
                    hi += 1
                for i, m in zip(group[lo:hi], self.match_batch([texts[i] for i in group[lo:hi]]), strict=True):
                    out[i] = m
                lo = hi
        return out

    def match(self, text: str) -> Match | None:
        """The first benchmark n-gram ``text`` contains, or None."""
        return self.match_batch([text])[0]


class DecontamFilter:
    """Pipeline step: drop problems that share a non-boilerplate n-gram with a benchmark (decided by a fitted
    :class:`~acereason.curate.decontam_boilerplate.Decontaminator`, the same code ``acereason
    decontaminate`` runs); the exclusion names the benchmark file, item and n-gram, and the drop is also
    recorded in ``meta.decontam``."""

    name = "decontam_ngram"

    def __init__(self, decontaminator: Any, batch_chars: int = BATCH_CHARS) -> None:
        if isinstance(decontaminator, NgramIndex):  # a bare index: df fitted per batch
            from acereason.curate.decontam_boilerplate import Decontaminator

            decontaminator = Decontaminator(decontaminator)
        self.dc = decontaminator
        self.batch_chars = batch_chars

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        batch: list[Problem] = []
        size = 0
        for p in records:
            batch.append(p)
            size += len(p.prompt)
            if size >= self.batch_chars:
                yield from self._flush(batch, ctx)
                batch, size = [], 0
        yield from self._flush(batch, ctx)

    def _flush(self, batch: list[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        if not batch:
            return
        from acereason.curate.decontam_boilerplate import statements

        texts = statements([(p.prompt, p.domain) for p in batch], self.dc.settings)
        hits = self.dc.scan(texts)
        if not self.dc.fitted:  # no run-level fit (curate fits on all inputs first): this batch's df
            self.dc.fit(hits)
            self.dc.fitted = False
        for p, v in zip(batch, self.dc.decide(hits, texts), strict=True):
            if v is None:
                yield p
                continue
            p.meta["decontam"] = v.meta()
            ctx.drop(p, self.name, Drop(f"ngram{v.n}_overlap", f"{v.benchmark.file} :: {v.benchmark.item} :: "
                                                                 f"'{v.ngram}'"))


def decontaminate(problems: Iterable[Problem], index: Any) -> tuple[list[Problem], list[Problem]]:
    """Split ``problems`` into (kept, dropped) with the training df fitted on ``problems`` themselves;
    ``index`` is an :class:`NgramIndex` or a ``Decontaminator``. Each dropped problem names its match in
    ``meta.decontam``."""
    from acereason.curate.decontam_boilerplate import Decontaminator, statements

    dc = index if isinstance(index, Decontaminator) else Decontaminator(index)
    items = list(problems)
    verdicts = dc.run(statements([(p.prompt, p.domain) for p in items], dc.settings))
    kept: list[Problem] = []
    dropped: list[Problem] = []
    for p, v in zip(items, verdicts, strict=True):
        if v is None:
            kept.append(p)
        else:
            p.meta["decontam"] = v.meta()
            dropped.append(p)
    return kept, dropped
