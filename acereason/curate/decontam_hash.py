"""Word tokens and n-gram window hashes for decontamination (:mod:`acereason.curate.decontam`), vectorised.

How it is fast: no Python loop runs per word or per window. A batch of documents is joined into one
buffer, one byte per character when the batch is ASCII, else one UTF-16 unit (NFKC per document first,
lowercase on the units, :func:`lower_units`), so both paths give exactly :func:`word_tokens`. With numpy:
number formats are folded by reading only the punctuation that follows a digit, word boundaries come from
a word mask, every word gets a 64-bit polynomial hash from one prefix sum (``hash(s, e) = B**(e-1) * (G[e]
- G[s])`` with ``G[k] = sum_{j<k} c[j] * B**-j``, exact in uint64 because ``B`` is odd and so invertible mod
2**64), and the hash of the window ``w[i..i+n)`` is ``sum_j wid[i+j] * P**(n-1-j)``, computed for all
windows at once by doubling. The index is the sorted array of the benchmarks' window hashes (with a
parallel array naming the item each came from), behind a filter on the hashes' top bits
(:func:`bitset_candidates`); a query is one gather and a ``searchsorted`` of the few candidates. Windows
that cross a document boundary hold a sentinel and so never match.

    window of n = 9 word hashes:   [w0 w1 w2 w3 w4 w5 w6 w7 w8] w9 w10 ...
    hash = ((w0*P + w1)*P + w2)*P ... + w8            (uint64, wrapping)
    the next window starts at w1 — all windows of a batch are computed at once, column by column.
"""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from acereason.curate.normalize import word_tokens

_WORDSCAN_ABI = 1  # what this Python expects of _wordscan.c (its ABI constant)
try:  # the compiled word scan (setup.py builds it where a C compiler is available); else numpy, same result
    from acereason.curate import _wordscan
except ImportError:  # pragma: no cover - depends on the install
    _wordscan = None
if _wordscan is not None and getattr(_wordscan, "ABI", None) != _WORDSCAN_ABI:  # pragma: no cover
    warnings.warn("acereason.curate._wordscan is a stale build (reinstall: pip install -e . or make install); "
                  "using the numpy paths", RuntimeWarning, stacklevel=1)
    _wordscan = None
# ACEREASON_NO_COMPILED=1 runs the numpy/regex paths even where the compiled scan is built (same results);
# tests set this flag to compare the two.
_FORCE_NUMPY = os.environ.get("ACEREASON_NO_COMPILED", "") == "1"


def compiled_scan() -> Any:
    """The compiled extension (``_wordscan``) when it is built and not turned off, else None."""
    return None if _FORCE_NUMPY else _wordscan

_WORD_OR_NUL = re.compile(r"[^\W_]+|\x00")  # word_tokens' words, and the NULs that separate spans
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


_WORD_BYTES: list[bytes] = []


def _word_table_bytes() -> bytes:
    """:func:`_word_table` as 65536 bytes, the compiled scan's table (built once)."""
    if not _WORD_BYTES:
        _WORD_BYTES.append(_word_table().astype(np.uint8).tobytes())
    return _WORD_BYTES[0]


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

    def texts(self, first_words: np.ndarray, n_words: np.ndarray) -> list[str]:
        """:meth:`text` of many spans at once: the raw spans are NFKC'd one by one (as ``word_tokens`` does),
        then lowercased and split into words in one call over them joined by NUL (no span holds one, and a
        NUL stops the context of a final sigma like the end of a string, so the words are the same)."""
        if not len(first_words):
            return []
        unit = 1 if self.codec == "ascii" else 2
        lo = (self.starts[first_words] * unit).tolist()
        hi = (self.ends[first_words + n_words - 1] * unit).tolist()
        raws = [self.encoded[a:b].decode(self.codec, errors="replace") for a, b in zip(lo, hi, strict=True)]
        if self.codec != "ascii":
            raws = [r if r.isascii() else unicodedata.normalize("NFKC", r) for r in raws]
        words = " ".join(_WORD_OR_NUL.findall("\x00".join(raws).lower()))
        return [part.strip(" ") for part in words.split("\x00")]


def lower_units(units: np.ndarray) -> np.ndarray | None:
    """``str.lower()`` of the text whose UTF-16 code units these are (uint16), as code units: ASCII letters by
    arithmetic, the other cased characters present (few) through a table of their lowercase; None where that
    would differ from ``str.lower`` (a surrogate pair, a character that lowers to several, or capital sigma,
    which lowers by context). ``str.lower`` looks every character of a non-ASCII string up one at a time."""
    out = units + ((units - np.uint16(65)) < 26).astype(np.uint16) * np.uint16(32)
    hi = np.flatnonzero(units >= 128)
    if len(hi):
        vals = units[hi]
        uniq = np.unique(vals)
        if ((uniq >= 0xD800) & (uniq < 0xE000)).any() or (uniq == 0x3A3).any():
            return None
        lowered = [chr(u).lower() for u in uniq.tolist()]
        if any(len(x) != 1 for x in lowered):
            return None
        table = np.array([ord(x) for x in lowered], dtype=np.uint16)
        if (table != uniq).any():
            out[hi] = table[np.searchsorted(uniq, vals)]
    return out


def fast_lower(text: str) -> str:
    """``text.lower()``, through :func:`lower_units` for a non-ASCII text (equal by construction; it falls
    back to ``str.lower`` where the table would not be)."""
    if text.isascii():
        return text.lower()
    low = lower_units(np.frombuffer(text.encode("utf-16-le"), dtype=np.uint16))
    return text.lower() if low is None else low.tobytes().decode("utf-16-le")


def _nfkc(text: str) -> str:
    if text.isascii():
        return text
    text = text.replace("\xa0", " ")  # NFKC's most common change in statements; a plain replace is cheaper
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


_WORD_TABLE16: list[np.ndarray] = []


def _is_digit(units: np.ndarray) -> np.ndarray:
    """``0-9`` per code unit (uint8 or uint16: the subtraction wraps, so one unsigned compare is the range test)."""
    return (units - units.dtype.type(48)) < 10


def _number_drops(c: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Positions (sorted) of the characters that only format a number, to delete before hashing: a thousands
    separator (``1,000``, ``1{,}000``) and a decimal point's trailing zeros (``3.0``, ``2.50`` keeps its 5,
    the point goes when only zeros follow), so ``1,000.0`` and ``1000`` give the same word.

    ``c``: the code units followed by at least 8 zeros (so every look-ahead stays inside it); ``cand``: the
    positions of ``,``, ``.`` and ``{`` in it. Only the candidates and their neighbours are read, so the
    cost is per candidate, not per character."""
    cand = cand[cand > 0]
    cand = cand[_is_digit(c[cand - 1])]
    if not len(cand):
        return np.zeros(0, np.int64)
    kind = c[cand]
    d1 = _is_digit(c[cand + 1])
    out: list[np.ndarray] = []
    comma = cand[(kind == 44) & d1]  # "1,000": three digits, then no digit
    if len(comma):
        ok = _is_digit(c[comma + 2]) & _is_digit(c[comma + 3]) & ~_is_digit(c[comma + 4])
        out.append(comma[ok])
    brace = cand[(kind == 123) & (c[cand + 1] == 44)]  # "1{,}000"
    if len(brace):
        ok = (c[brace + 2] == 125) & _is_digit(c[brace + 3]) & _is_digit(c[brace + 4]) & _is_digit(c[brace + 5]) \
            & ~_is_digit(c[brace + 6])
        b = brace[ok]
        out.extend((b, b + 1, b + 2))
    dot = cand[(kind == 46) & d1]  # "3.0", "2.50": trailing zeros after a decimal point
    if len(dot):
        run_end = _digits_end(c, dot + 1)
        cut = _zeros_start(c, run_end, dot + 1)
        some = cut < run_end  # the zeros [cut, run_end) go, and the dot when no other digit is left
        if some.any():
            a, n = cut[some], (run_end - cut)[some]
            out.append(np.repeat(a - np.cumsum(n) + n, n) + np.arange(int(n.sum())))
            out.append(dot[some & (cut == dot + 1)])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


_STEP = np.arange(8)


def _digits_end(c: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per position in ``start``, the end of the run of digits beginning there (``c`` ends in 8 non-digits).
    Eight characters per step for all runs at once, so a long run costs steps / 8, not one step per digit."""
    end = start.copy()
    todo = np.arange(len(start))
    while len(todo):
        dig = _is_digit(c[end[todo, None] + _STEP])
        full = dig.all(axis=1)
        end[todo] += np.where(full, 8, np.argmin(dig, axis=1))  # argmin: the first non-digit of the row
        todo = todo[full]
    return end


def _zeros_start(c: np.ndarray, end: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per run ``[floor, end)``, where the zeros that end it begin (``end`` when it does not end in 0), eight
    characters back per step."""
    cut = end.copy()
    todo = np.arange(len(end))
    while len(todo):
        at = cut[todo, None] - 1 - _STEP
        zero = (c[np.maximum(at, 0)] == 48) & (at >= floor[todo, None])
        full = zero.all(axis=1)
        cut[todo] -= np.where(full, 8, np.argmin(zero, axis=1))
        todo = todo[full]
    return cut


def _candidates(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of ``,`` ``.`` ``{`` right after a digit: where a number's formatting can start; positions of
    NUL: the document separators) in ``c``. Both masks are sparse, which numpy's nonzero scans fastest."""
    punct = (c == 44) | (c == 46) | (c == 123)
    punct[1:] &= _is_digit(c[:-1])
    punct[:1] = False
    return np.flatnonzero(punct), np.flatnonzero(c == 0)


def _padded_units(c: np.ndarray) -> np.ndarray:
    out = np.zeros(len(c) + 8, dtype=c.dtype)
    out[:len(c)] = c
    return out


def _number_format(cps: np.ndarray) -> np.ndarray | None:
    """Boolean mask of :func:`_number_drops` over ``cps`` (None when nothing goes): the tokenizer's number folding
    as a per-character view (tests compare it with a one-character-at-a-time reference)."""
    pos = _number_drops(_padded_units(cps), _candidates(cps)[0])
    if not len(pos):
        return None
    drop = np.zeros(len(cps), dtype=bool)
    drop[pos] = True
    return drop


def _delete(buf: bytes, pos: np.ndarray, unit: int) -> bytes:
    """``buf`` without the characters (``unit`` bytes each) at the sorted positions ``pos``: the kept runs
    are copied whole (drops are few; a boolean mask over every character costs more)."""
    if len(pos) > 4096:
        keep = np.ones(len(buf) // unit, dtype=bool)
        keep[pos] = False
        return np.frombuffer(buf, dtype=np.uint8 if unit == 1 else np.uint16)[keep].tobytes()
    edges = (pos * unit).tolist()
    parts = [buf[: edges[0]]]
    parts.extend(buf[a + unit: b] for a, b in pairwise(edges))
    parts.append(buf[edges[-1] + unit:])
    return b"".join(parts)


def _word_mask(c: np.ndarray) -> np.ndarray:
    """``isalnum()`` per code unit of lowercased text, as int8 with a 0 on each side (for the edge scan):
    ASCII by two range compares, the rest (non-ASCII BMP code points, few) by table."""
    out = np.zeros(len(c) + 2, dtype=np.int8)
    w = out[1:-1].view(bool)
    np.less(c - c.dtype.type(97), 26, out=w)
    w |= _is_digit(c)
    if c.dtype == np.uint16:
        hi = np.flatnonzero(c >= 128)
        if len(hi):
            w[hi] = _word_table()[c[hi]]
    return out


def bitset_candidates(bits: np.ndarray, h: np.ndarray, shift: np.uint64) -> np.ndarray:
    """Indices of the hashes in ``h`` whose slot (their top bits, ``h >> shift``) is set in the bit set
    ``bits`` (uint64 words). Shifts and masks in place, and the flags become a bool array before the scan:
    numpy's nonzero over a uint64 array costs several times its bool scan (more than everything else here)."""
    slot = h >> shift
    words = bits.take((slot >> np.uint64(6)).view(np.int64))
    slot &= np.uint64(63)
    words >>= slot
    words &= np.uint64(1)
    return np.flatnonzero(words != 0)


_DROP_BITS: dict[bytes, np.ndarray] = {}
_DROP_SHIFT = np.uint64(64 - 12)


def _drop_bits(drop: np.ndarray) -> np.ndarray:
    """A 4096-bit set (64 uint64 words) on the top 12 bits of the dropped words' hashes, built once per set."""
    key = drop.tobytes()
    if key not in _DROP_BITS:
        bits = np.zeros(64, dtype=np.uint64)
        slots = drop >> _DROP_SHIFT
        np.bitwise_or.at(bits, (slots >> np.uint64(6)).astype(np.int64), np.uint64(1) << (slots & np.uint64(63)))
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
    scan = compiled_scan()
    if scan is not None and joined.isascii():
        # The compiled scan lowers ASCII itself and counts the separators: a text holding a NUL shows as more.
        encoded = joined.encode("ascii")
        scanned = _words_compiled(encoded, 1, drop)
        if scanned[5] == len(texts) - 1:
            encoded, word_hash, word_doc, starts, ends, _ = scanned
            return TokenizedBatch(encoded, "ascii", word_hash, word_doc, starts, ends,
                                  np.bincount(word_doc, minlength=len(texts)))
    encoded = b""
    if not (joined.isascii() and joined.count("\x00") == len(texts) - 1):  # else: ASCII, no NUL inside a text
        joined = "\x00".join(_nfkc(t.replace("\x00", " ") if "\x00" in t else t) for t in texts)
        if not joined.isascii():  # lowercase the UTF-16 units directly where that equals str.lower
            low = lower_units(np.frombuffer(joined.encode("utf-16-le"), dtype=np.uint16))
            if low is not None:
                encoded = low.astype(np.uint8).tobytes() if not len(low) or low.max() < 128 else low.tobytes()
    if not encoded:
        joined = joined.lower()
        encoded = joined.encode("ascii" if joined.isascii() else "utf-16-le")
    codec = "ascii" if len(encoded) == len(joined) else "utf-16-le"
    unit = 1 if codec == "ascii" else 2
    # UTF-16: one unit per BMP code point; a code point beyond the BMP becomes two surrogate units, which
    # are not alphanumeric, so it separates words (as the docstring says). Indices then differ from string
    # indices only after such a code point, which only affects the reported n-gram text.
    if scan is not None:
        encoded, word_hash, word_doc, starts, ends, _ = _words_compiled(encoded, unit, drop)
    else:
        encoded, word_hash, word_doc, starts, ends = _words_numpy(encoded, unit, len(texts), drop)
    words_per_doc = np.bincount(word_doc, minlength=len(texts))
    return TokenizedBatch(encoded, codec, word_hash, word_doc, starts, ends, words_per_doc)


def _words_numpy(encoded: bytes, unit: int, n_docs: int, drop: np.ndarray | None) -> tuple[
        bytes, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The word scan with numpy (where the compiled one is not built): (the batch without its number
    formatting, word hashes, each word's document, word starts, word ends), the words in ``drop`` left out."""
    # Eight NUL bytes after the text let the number folding look ahead without bounds checks.
    padded = np.frombuffer(encoded + bytes(8 * unit), dtype=np.uint8 if unit == 1 else np.uint16)
    cand, seps = _candidates(padded[:-8])  # seps: the document separators (NUL occurs nowhere else)
    gone = _number_drops(padded, cand)
    if len(gone):
        encoded = _delete(encoded, gone, unit)
        seps = seps - np.searchsorted(gone, seps)
    cps = np.frombuffer(encoded, dtype=padded.dtype)
    mask = _word_mask(cps)
    edge = np.flatnonzero(mask[1:] != mask[:-1])  # word starts and ends alternate
    starts, ends = edge[0::2], edge[1::2]
    pw, ipw = _powers(len(cps))
    g = _scratch(len(cps) + 1)  # reused between calls: fresh 8-byte-per-char temporaries cost page faults
    g[0] = 0  # g[k] = sum_{j<k} c[j] * B**-j, so a word [s, e) is (g[e] - g[s]) * B**(e-1)
    with np.errstate(over="ignore"):
        np.multiply(cps, ipw, out=g[1:])
        np.cumsum(g[1:], out=g[1:])
        word_hash = _mix((g[ends] - g[starts]) * pw[ends - 1]) if len(starts) else np.zeros(0, np.uint64)
    # Words before each separator -> how many words each document has -> the document of every word.
    words_per_doc = np.diff(np.searchsorted(starts, seps), prepend=0, append=len(starts))
    word_doc = np.repeat(np.arange(n_docs), words_per_doc)
    if drop is not None and len(drop) and len(word_hash):
        # A few dropped words: a 4096-bit set on the top hash bits picks the candidates, which are checked exactly.
        cand = bitset_candidates(_drop_bits(drop), word_hash, _DROP_SHIFT)
        hit = cand[drop[np.searchsorted(drop, word_hash[cand]).clip(max=len(drop) - 1)] == word_hash[cand]]
        if len(hit):
            keep = np.ones(len(word_hash), dtype=bool)
            keep[hit] = False
            word_hash, word_doc, starts, ends = word_hash[keep], word_doc[keep], starts[keep], ends[keep]
    return encoded, word_hash, word_doc, starts, ends


def _words_compiled(encoded: bytes, unit: int, drop: np.ndarray | None) -> tuple[bytes, np.ndarray, np.ndarray,
                                                                                np.ndarray, np.ndarray, int]:
    """:func:`_words_numpy` and the ``drop`` filter in one pass of the compiled scan (``_wordscan.c``): the same
    words, hashes and positions (ASCII letters lowered by the scan), and the number of NUL separators met."""
    n = len(encoded) // unit
    cap = n // 2 + 1  # words alternate with separators: at most one per two units, plus one
    # Work buffers kept between calls (for batches up to _KEEP_UNITS): fresh ones of this size are fresh
    # pages, and the kernel's zeroing of them cost more than the scan. What is returned is copied out.
    if n > _KEEP_UNITS:  # a one-off large call (an index build): its buffers are not kept
        out, dst = np.empty((4, cap), dtype=np.int64), bytearray(len(encoded))
    else:
        if _SCAN_WORK[0].shape[1] < cap or len(_SCAN_WORK[1]) < len(encoded):
            _SCAN_WORK[0] = np.empty((4, min(max(cap, 2 * _SCAN_WORK[0].shape[1]), _KEEP_UNITS // 2 + 1)), np.int64)
            _SCAN_WORK[1] = bytearray(min(max(len(encoded), 2 * len(_SCAN_WORK[1])), 2 * _KEEP_UNITS))
        out, dst = _SCAN_WORK
    drop_bytes = b"" if drop is None else np.ascontiguousarray(drop, dtype=np.uint64).tobytes()
    n_words, n_units, n_nuls = _wordscan.scan_words(encoded, unit, _word_table_bytes(), dst, out[0], out[1], out[2],
                                                    out[3], drop_bytes)
    starts, ends, word_hash, word_doc = (out[r, :n_words].copy() for r in range(4))
    return bytes(memoryview(dst)[: n_units * unit]), word_hash.view(np.uint64), word_doc, starts, ends, n_nuls


_SCAN_WORK: list = [np.empty((4, 0), dtype=np.int64), bytearray()]
_KEEP_UNITS = 1 << 22  # 4M code units: at most ~70 MB of work buffers stay between calls


def window_hashes(ids: np.ndarray, n: int, pairs: np.ndarray | None = None) -> np.ndarray:
    """Hashes of every length-``n`` window of ``ids`` (uint64), ``len(ids) - n + 1`` of them:
    ``sum_j ids[i+j] * P**(n-1-j)``. By doubling (the hash of ``a + b`` words is the first ``a`` words' times
    ``P**b`` plus the next ``b`` words'), so about ``2 log2(n)`` multiply-adds over the array, not ``n``.
    ``pairs``: ``window_hashes(ids, 2)`` when the caller has it already (the first doubling step)."""
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
            if size == 1 and pairs is not None:
                block = pairs
            else:
                block = block[:-size] * np.uint64(pow(int(_P), size, 2**64)) + block[size:]
            size *= 2
    assert out is not None
    return out
