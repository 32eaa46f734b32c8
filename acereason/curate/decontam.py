"""n-gram decontamination against benchmark files: an index built once, queried in vectorised batches.

Paper §3.2: math problems sharing a 9-gram with a benchmark are removed, code problems sharing a 14-gram
(plus a date cutoff, :class:`~acereason.curate.rules_code.DateCutoffRule`). Both sides are reduced to
normalised word tokens (:func:`~acereason.curate.normalize.word_tokens`), so whitespace, case and
punctuation edits of a benchmark problem still match.

How it is fast: no Python loop runs per word or per window. A batch of documents is joined into one
byte buffer (ASCII documents as they are; any other document first reduced to its word tokens, so both
paths give exactly :func:`word_tokens`), and with numpy: bytes are lowercased by table lookup, word
boundaries come from a word-byte mask, every word gets a 64-bit polynomial hash from one prefix sum
(``hash(s, e) = B**(e-1) * (G[e-1] - G[s-1])`` with ``G = cumsum(c[j] * B**-j)``, exact in uint64 because
``B`` is odd and so invertible mod 2**64), and the hash of the window ``w[i..i+n)`` is
``sum_j wid[i+j] * P**(n-1-j)``, computed for all windows at once with ``n`` multiply-adds. The index is
the sorted array of the benchmarks' window hashes (with a parallel array naming the item each came from);
a query is one ``searchsorted``. Windows that cross a document boundary are masked out.

    window of n = 9 word hashes:   [w0 w1 w2 w3 w4 w5 w6 w7 w8] w9 w10 ...
    hash = ((w0*P + w1)*P + w2)*P ... + w8            (uint64, wrapping)
    the next window starts at w1 — all windows of a batch are computed at once, column by column.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acereason.curate.normalize import word_tokens
from acereason.curate.pipeline import Drop, PipelineContext
from acereason.schema import Problem

MATH_N = 9
CODE_N = 14
BATCH_CHARS = 1 << 18
_SENTINEL = np.uint64(0x5EB7_1E5E_D0C5_0000)  # ends each document in a query batch
_P = np.uint64(0x100000001B3)  # an odd 64-bit multiplier (the FNV prime); any large odd constant works


_B = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
_B_INV = pow(_B, -1, 2**64)
_POW: list[np.ndarray] = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]
_WORD_CP: list[np.ndarray] = []


def _word_table() -> np.ndarray:
    """``isalnum()`` for every BMP code point (what ``[^\\W_]`` in :func:`word_tokens` matches), built once."""
    if not _WORD_CP:
        _WORD_CP.append(np.fromiter((chr(c).isalnum() for c in range(65536)), dtype=bool, count=65536))
    return _WORD_CP[0]


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """``B**k`` and ``B**-k`` mod 2**64 for k < length (grown geometrically and kept between calls)."""
    if len(_POW[0]) < length:
        size = max(length, 2 * len(_POW[0]))
        _POW[0] = _cumpow(_B, size)
        _POW[1] = _cumpow(_B_INV, size)
    return _POW[0][:length], _POW[1][:length]


_SCRATCH: list[np.ndarray] = [np.zeros(0, dtype=np.uint64)]


def _scratch(length: int) -> np.ndarray:
    """A reusable uint64 work array of ``length`` elements (grown geometrically)."""
    if len(_SCRATCH[0]) < length:
        _SCRATCH[0] = np.empty(max(length, 2 * len(_SCRATCH[0])), dtype=np.uint64)
    return _SCRATCH[0][:length]


def _cumpow(base: int, size: int) -> np.ndarray:
    out = np.empty(size, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        out[1:] = np.cumprod(np.full(size - 1, base, dtype=np.uint64))
    return out


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial word hashes over all 64 bits before they are combined."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


@dataclass
class TokenizedBatch:
    """Word tokens of a batch of documents as arrays: one hash per word, its document, its span in ``text``."""

    encoded: bytes
    codec: str
    word_hash: np.ndarray
    word_doc: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    words_per_doc: np.ndarray

    def text(self, first_word: int, n_words: int) -> str:
        """The normalised text of ``n_words`` words starting at word ``first_word``."""
        unit = 1 if self.codec == "ascii" else 2
        raw = self.encoded[unit * self.starts[first_word]: unit * self.ends[first_word + n_words - 1]]
        return " ".join(word_tokens(raw.decode(self.codec, errors="replace")))


def _nfkc(text: str) -> str:
    if text.isascii():
        return text
    text = text.replace("\xa0", " ")  # NFKC's most common change in statements; a plain replace is cheaper
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


_ASCII_WORD = bytes(int(chr(c).isalnum()) for c in range(256))[:128] + bytes(128)  # the ASCII rows of the table
_DIGIT = np.zeros(65536, dtype=bool)
_DIGIT[ord("0"): ord("9") + 1] = True


def _number_format(cps: np.ndarray) -> np.ndarray | None:
    """Characters that only format a number, to delete before hashing (None when there are none): a
    thousands separator (``1,000``, ``1{,}000``) and a decimal point followed only by zeros (``3.0``,
    ``2.50`` keeps its 5), so ``1,000.0`` and ``1000`` give the same word. Vectorised over the batch."""
    if len(cps) < 3:
        return None
    dig = _DIGIT[cps]
    pad = np.zeros(len(cps) + 6, dtype=bool)
    pad[:len(cps)] = dig
    drop = np.zeros(len(cps), dtype=bool)
    prev = np.concatenate(([False], dig[:-1]))
    comma = np.flatnonzero((cps == ord(",")) & prev)  # "1,000": three digits, then no digit
    if len(comma):
        ok = pad[comma + 1] & pad[comma + 2] & pad[comma + 3] & ~pad[comma + 4]
        drop[comma[ok]] = True
    brace = np.flatnonzero((cps == ord("{")) & prev)  # "1{,}000"
    if len(brace):
        brace = brace[brace + 6 < len(cps) + 1]
        nxt = cps[np.minimum(brace + 1, len(cps) - 1)] == ord(",")
        cls = cps[np.minimum(brace + 2, len(cps) - 1)] == ord("}")
        ok = nxt & cls & pad[brace + 3] & pad[brace + 4] & pad[brace + 5] & ~pad[brace + 6]
        for k in range(3):
            drop[brace[ok] + k] = True
    dot = np.flatnonzero((cps == ord(".")) & prev)  # "3.0", "2.50": trailing zeros after a decimal point
    dot = dot[pad[dot + 1]]
    if len(dot):
        zero = np.zeros(len(cps) + 1, dtype=bool)
        zero[:len(cps)] = cps == ord("0")
        # Walk the run of digits after each dot (all dots at once), then back over the zeros that end it.
        run_end = dot + 1
        while True:
            more = pad[run_end]
            if not more.any():
                break
            run_end = run_end + more
        cut = run_end.copy()
        while True:
            back = (cut > dot + 1) & zero[cut - 1]
            if not back.any():
                break
            cut = cut - back
        some = cut < run_end  # the zeros [cut, run_end) go, and the dot when no other digit is left
        if some.any():
            marks = np.zeros(len(cps) + 1, dtype=np.int32)
            np.add.at(marks, cut[some], 1)
            np.add.at(marks, run_end[some], -1)
            drop |= np.cumsum(marks[:len(cps)]) > 0
            drop[dot[some & (cut == dot + 1)]] = True
    return drop if drop.any() else None


_DROP_BITS: dict[bytes, np.ndarray] = {}


def _drop_bits(drop: np.ndarray) -> np.ndarray:
    """A 4096-bit set (64 uint64 words) on the low bits of the dropped words' hashes, built once per set."""
    key = drop.tobytes()
    if key not in _DROP_BITS:
        bits = np.zeros(64, dtype=np.uint64)
        np.bitwise_or.at(bits, ((drop >> np.uint64(6)) & np.uint64(63)).astype(np.int64),
                         np.uint64(1) << (drop & np.uint64(63)))
        _DROP_BITS[key] = bits
    return _DROP_BITS[key]


def tokenize_batch(texts: Sequence[str], drop: np.ndarray | None = None) -> TokenizedBatch:
    """Hash the word tokens of every text (the words of :func:`word_tokens`) in one vectorised pass.

    The batch is joined with NUL separators, lowercased and encoded as one byte (ASCII) or one UTF-16 unit
    per code point; a word is a maximal run of ``isalnum`` code points (code points beyond the BMP count
    as separators). Its hash is a polynomial over its code points from one prefix sum. Words whose hash is in
    ``drop`` (sorted) are left out, as if the text did not have them.
    """
    joined = "\x00".join(texts)
    if not (joined.isascii() and joined.count("\x00") == len(texts) - 1):  # else: ASCII, no NUL inside a text
        joined = "\x00".join(_nfkc(t.replace("\x00", " ") if "\x00" in t else t) for t in texts)
    joined = joined.lower()
    codec = "ascii" if joined.isascii() else "utf-16-le"
    encoded = joined.encode(codec)
    # UTF-16: one unit per BMP code point; a code point beyond the BMP becomes two surrogate units, which
    # are not alphanumeric, so it separates words (as the docstring says). Indices then differ from string
    # indices only after such a code point, which only affects the reported n-gram text.
    cps = np.frombuffer(encoded, dtype=np.uint8 if codec == "ascii" else np.uint16)
    drop = _number_format(cps)
    if drop is not None:
        cps = cps[~drop]
        encoded = cps.tobytes()
    if codec == "ascii":  # bytes.translate maps every byte to 0/1 in one C pass (cheaper than a gather)
        is_word = np.frombuffer(encoded.translate(_ASCII_WORD), dtype=np.uint8).view(bool)
    else:
        is_word = _word_table()[cps]
    padded = np.zeros(len(is_word) + 2, dtype=np.int8)
    padded[1:-1] = is_word
    edge = np.flatnonzero(padded[1:] != padded[:-1])  # word starts and ends alternate
    starts, ends = edge[0::2], edge[1::2]
    pw, ipw = _powers(len(cps))
    g = _scratch(len(cps))  # reused between calls: fresh 8-byte-per-char temporaries cost page faults
    with np.errstate(over="ignore"):
        np.multiply(cps, ipw, out=g)
        np.cumsum(g, out=g)
        before = np.where(starts > 0, g[np.maximum(starts - 1, 0)], np.uint64(0))
        word_hash = _mix((g[ends - 1] - before) * pw[ends - 1]) if len(starts) else np.zeros(0, np.uint64)
    if drop is not None and len(drop) and len(word_hash):
        # A few dropped words: a 4096-bit set on the low hash bits picks the candidates, which are checked exactly.
        bits = _drop_bits(drop)
        cand = np.flatnonzero((bits[((word_hash >> np.uint64(6)) & np.uint64(63)).astype(np.int64)]
                               >> (word_hash & np.uint64(63))) & np.uint64(1))
        hit = cand[drop[np.searchsorted(drop, word_hash[cand]).clip(max=len(drop) - 1)] == word_hash[cand]]
        if len(hit):
            keep = np.ones(len(word_hash), dtype=bool)
            keep[hit] = False
            word_hash, starts, ends = word_hash[keep], starts[keep], ends[keep]
    # Words before each separator -> how many words each document has -> the document of every word.
    words_per_doc = np.diff(np.searchsorted(starts, np.flatnonzero(cps == 0)), prepend=0, append=len(starts))
    word_doc = np.repeat(np.arange(len(texts)), words_per_doc)
    return TokenizedBatch(encoded, codec, word_hash, word_doc, starts, ends, words_per_doc)


def window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every length-``n`` window of ``ids`` (uint64), ``len(ids) - n + 1`` of them:
    ``sum_j ids[i+j] * P**(n-1-j)``. By doubling (the hash of ``a + b`` words is the first ``a`` words' times
    ``P**b`` plus the next ``b`` words'), so about ``2 log2(n)`` multiply-adds over the array, not ``n``."""
    m = len(ids) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    out: np.ndarray | None = None
    done = 0  # out[i]: the hash of ids[i : i + done]
    block, size = ids, 1  # block[i]: the hash of ids[i : i + size]
    k = n
    with np.errstate(over="ignore"):
        while True:
            if k & 1:
                if out is None:
                    out = block[:m].copy()
                else:
                    out *= np.uint64(pow(int(_P), size, 2**64))
                    out += block[done: done + m]
                done += size
            k >>= 1
            if not k:
                break
            block = block[:-size] * np.uint64(pow(int(_P), size, 2**64)) + block[size:]
            size *= 2
    assert out is not None
    return out


@dataclass
class Hits:
    """Indexed windows found in a batch: per hit its document, index key and first word in the document."""

    doc: np.ndarray
    key: np.ndarray
    pos: np.ndarray
    batch: TokenizedBatch


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
    """Sorted window hashes of one length with their owning items, and a bit set on the low hash bits
    (64 bits per hash, packed into uint64 words so it stays in cache) that rejects ~98% of non-member
    queries with one gather, so the exact ``searchsorted`` only runs on the few candidates."""

    hashes: np.ndarray
    owners: np.ndarray
    bits: np.ndarray
    mask: np.uint64
    df: np.ndarray  # per hash: how many benchmark items hold it (template n-grams are held by many)

    @classmethod
    def build(cls, hashes: np.ndarray, owners: np.ndarray) -> _Table:
        order = np.lexsort((owners, hashes))  # by hash, then item: the first item holding a hash owns it
        hs, ow = hashes[order], owners[order]
        new_hash = np.concatenate(([True], hs[1:] != hs[:-1])) if len(hs) else np.zeros(0, bool)
        new_pair = new_hash | np.concatenate(([True], ow[1:] != ow[:-1])) if len(hs) else new_hash
        first = np.flatnonzero(new_hash)
        uniq = hs[first]
        df = np.add.reduceat(new_pair.astype(np.int64), first) if len(first) else np.zeros(0, np.int64)
        size = 1 << max(12, (len(uniq) * 64).bit_length())  # in bits
        mask = np.uint64(size - 1)
        slots = uniq & mask
        bits = np.zeros(size // 64, dtype=np.uint64)
        np.bitwise_or.at(bits, (slots >> np.uint64(6)).astype(np.int64), np.uint64(1) << (slots & np.uint64(63)))
        return cls(uniq, ow[first], bits, mask, df)

    def lookup(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into ``h`` found in the table, the owning item of each)."""
        hit, slot = self.find(h)
        return hit, self.owners[slot]

    def find(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into ``h`` found in the table, the table slot of each)."""
        if not len(self.hashes) or not len(h):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        slots = h & self.mask
        words = self.bits[(slots >> np.uint64(6)).astype(np.int64)]
        cand = np.flatnonzero((words >> (slots & np.uint64(63))) & np.uint64(1))
        pos = np.searchsorted(self.hashes, h[cand]).clip(max=len(self.hashes) - 1)
        found = self.hashes[pos] == h[cand]
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
        self._key_offset = dict(zip(lengths, np.concatenate(([0], np.cumsum(sizes)[:-1])).tolist(), strict=True))
        self.key_owner = np.concatenate([self._tables[k].owners for k in lengths]) if lengths else np.zeros(0, np.int64)
        self.key_df = np.concatenate([self._tables[k].df for k in lengths]) if lengths else np.zeros(0, np.int64)
        self.key_length = np.repeat(np.array(lengths, dtype=np.int64), sizes) if lengths else np.zeros(0, np.int64)
        self.owned_keys = np.bincount(self.key_owner, minlength=len(self.items))
        self.item_words = np.concatenate(item_words) if item_words else np.zeros(0, np.int64)
        return self

    def tokenize(self, texts: Sequence[str]) -> TokenizedBatch:
        """:func:`tokenize_batch` with this index's dropped words left out."""
        return tokenize_batch(texts, self.drop)

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
        starts = self._short_first.lookup(ids[:m])[0] if self._short_first is not None else None
        docs, keys, poss = [], [], []
        with np.errstate(over="ignore"):
            for length in sorted(self._tables):
                table = self._tables[length]
                if length == self.n or starts is None:
                    hit, slot = table.find(window_hashes(ids, length)[:m])
                else:  # short items: only the windows that start with one's first word
                    h = ids[starts]
                    for j in range(1, length):
                        h = h * _P + ids[starts + j]
                    sub, slot = table.find(h)
                    hit = starts[sub]
                d = doc[hit]
                docs.append(d)
                keys.append(slot + self._key_offset[length])
                poss.append(hit - d)  # padded position minus one sentinel per earlier document = word index
        d, k, p = (np.concatenate(x) for x in (docs, keys, poss))
        offsets = np.concatenate(([0], np.cumsum(batch.words_per_doc)))
        return Hits(d, k, p - offsets[d], batch)

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
        hits = self.dc.scan(texts, self.batch_chars)
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
