"""The decontamination fast paths against plain references: run-copy deletion, batched number folding with
document separators, the scaffold-word drop (which a shadowed variable once disabled), the top-bit bit-set
prefilter, window hashes from given pairs, and the short matcher's padded windows."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest

from acereason.curate.decontam_boilerplate import SCAFFOLD_WORDS
from acereason.curate.decontam_hash import _B, _delete, _mix, tokenize_batch
from acereason.curate.normalize import word_tokens

from .test_curate_decontam_equiv import reference_number_format


def reference_hash(word: str) -> int:
    """The word hash one code point at a time: a polynomial in ``_B``, then the splitmix finaliser."""
    h = 0
    for ch in word:
        h = (h * _B + ord(ch)) % 2**64
    return int(_mix(np.array([h], dtype=np.uint64))[0])


def reference_words(text: str, drop: set[str] = frozenset()) -> list[str]:
    """What the tokenizer should produce for one text: NFKC, lowercase, number folding, ``word_tokens``, the
    dropped words left out."""
    folded = reference_number_format(unicodedata.normalize("NFKC", text).lower())
    return [w for w in word_tokens(folded) if w not in drop]


@pytest.mark.parametrize("unit", [1, 2])
def test_run_copy_delete_equals_a_mask(unit: int) -> None:
    rng = np.random.default_rng(unit)
    dtype = np.uint8 if unit == 1 else np.uint16
    for length, k in ((10, 1), (10, 10), (100, 3), (20000, 5000), (20000, 40)):
        units = rng.integers(1, 200, size=length).astype(dtype)
        pos = np.sort(rng.choice(length, size=k, replace=False))
        keep = np.ones(length, dtype=bool)
        keep[pos] = False
        assert _delete(units.tobytes(), pos, unit) == units[keep].tobytes()


NUMBERY = ["1,000", "1{,}000", "3.0", "2.50", "2.05", "12,34", "1.000,000", "7.", "0.0", "x.5", "1,0000",
           "Sample", "Input", "NOTE", "output", "café", "ｆｕｌｌ１２", "\u00a0", "naïve", "中文", "a_b", "9", "word"]


@pytest.mark.parametrize("seed", range(10))
def test_batched_tokens_with_numbers_equal_one_text_at_a_time(seed: int) -> None:
    """Many documents per batch, number formats next to separators and scaffold words among them: every
    word and hash equals the per-text reference, with and without the scaffold-word drop."""
    rng = random.Random(seed)
    texts = [rng.choice(["", " "]).join(rng.choice(NUMBERY) + rng.choice([" ", ",", ".", "\n", ""])
                                        for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(1, 40))]
    drop_words = list(SCAFFOLD_WORDS)
    drop = np.unique(tokenize_batch(drop_words).word_hash)
    for ascii_only in (False, True):
        batch_texts = [t for t in texts if t.isascii()] if ascii_only else texts
        for dropped in (None, drop):
            batch = tokenize_batch(batch_texts, dropped)
            words = [reference_words(t, set(drop_words) if dropped is not None else set()) for t in batch_texts]
            assert batch.words_per_doc.tolist() == [len(w) for w in words]
            flat = [w for ws in words for w in ws]
            assert batch.word_hash.tolist() == [reference_hash(w) for w in flat]
            assert batch.word_doc.tolist() == [d for d, ws in enumerate(words) for _ in ws]


def test_scaffold_words_are_left_out_with_and_without_numbers() -> None:
    """The drop set applies whether or not the batch has a number to fold (the number folding's mask once
    reused the drop parameter's name, so no scaffold word was ever dropped)."""
    drop = np.unique(tokenize_batch(list(SCAFFOLD_WORDS)).word_hash)
    for text in ("sample input note one two", "sample input 1,000 note", "Input: 3.0 x", "Example 2: n = 5"):
        got = [tokenize_batch([text], drop).text(i, 1) for i in range(len(tokenize_batch([text], drop).word_hash))]
        assert got == reference_words(text, set(SCAFFOLD_WORDS)) and not set(got) & set(SCAFFOLD_WORDS), text


@pytest.mark.parametrize("log_size", [12, 16])
def test_bitset_candidates_equal_a_set_of_slots(log_size: int) -> None:
    from acereason.curate.decontam_hash import bitset_candidates

    rng = np.random.default_rng(log_size)
    members = rng.integers(0, 2**64, size=300, dtype=np.uint64)
    shift = np.uint64(64 - log_size)
    bits = np.zeros((1 << log_size) // 64, dtype=np.uint64)
    for s in (members >> shift).tolist():
        bits[s >> 6] |= np.uint64(1 << (s & 63))
    queries = np.concatenate([members[:50], rng.integers(0, 2**64, size=5000, dtype=np.uint64)])
    slots = set((members >> shift).tolist())
    expected = [i for i, q in enumerate((queries >> shift).tolist()) if q in slots]
    assert bitset_candidates(bits, queries, shift).tolist() == expected


def test_window_hashes_from_given_pairs_equal_the_full_computation() -> None:
    from acereason.curate.decontam_hash import _P, window_hashes

    rng = np.random.default_rng(1)
    ids = rng.integers(0, 2**64, size=60, dtype=np.uint64)
    pairs = ids[:-1] * _P + ids[1:]
    for n in (1, 2, 3, 9, 14):
        assert window_hashes(ids, n, pairs).tolist() == window_hashes(ids, n).tolist()


def test_short_matcher_hits_on_padded_windows_equal_in_document_pairs() -> None:
    """The short matcher reads the scan's padded 2-word windows; reference: every in-document word pair of
    each document, looked up in the matcher's feature set one at a time."""
    from acereason.curate.decontam import NgramIndex
    from acereason.curate.decontam_boilerplate import BoilerplateSettings, ShortItemMatcher
    from acereason.curate.decontam_hash import window_hashes

    bench = ["find the sum of all primes below ten", "a frog jumps on lily pads, how many ways",
             "compute 1,000 plus 3.0 quickly"]
    index = NgramIndex(9)
    for i, t in enumerate(bench):
        index.add(t, "b", str(i))
    index.freeze()
    matcher = ShortItemMatcher(index, bench, BoilerplateSettings())
    features = {h: k for k, h in enumerate(matcher.hashes.tolist())}
    rng = random.Random(0)
    words = [*" ".join(bench).replace(",", "").split(), "x", "y"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 15))) for _ in range(200)] + bench
    scanned = index.hits_batch(texts)
    got = list(zip(*(a.tolist() for a in matcher.hits(scanned)), strict=True))
    expected = []
    for d, t in enumerate(texts):
        h = index.tokenize([t]).word_hash
        for p, pair in enumerate(window_hashes(h, 2).tolist()):
            if pair in features:
                expected.append((d, features[pair], p))
    assert got == expected and len(expected) > 50


@pytest.mark.parametrize("seed", range(8))
def test_number_folding_of_long_digit_and_zero_runs(seed: int) -> None:
    """Runs longer than the eight-character steps of the digit/zero walks (and ending at the very end)."""
    from acereason.curate.decontam_hash import _number_format

    rng = random.Random(seed)
    pieces = ["1", "7", ".", ",", " ", "x", "{,}", "0" * 7, "0" * 8, "0" * 9, "0" * 17, "12345678", "9" * 20]
    for _ in range(40):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        for codec, dtype in (("ascii", np.uint8), ("utf-16-le", np.uint16)):
            drop = _number_format(np.frombuffer(text.encode(codec), dtype=dtype))
            got = text if drop is None else "".join(c for c, d in zip(text, drop.tolist(), strict=True) if not d)
            assert got == reference_number_format(text), text
    assert reference_number_format("3." + "0" * 20 + " 2.5" + "0" * 12 + "1" + "0" * 9) == "3 2.50000000000001"


def test_span_texts_in_one_pass_equal_one_span_at_a_time() -> None:
    """Verdict n-gram texts: the batched span reader and ``NgramIndex.ngram_texts`` against
    ``TokenizedBatch.text`` per span (Greek final sigma, full-width letters, dropped words inside a span)."""
    from acereason.curate.decontam import NgramIndex

    rng = random.Random(3)
    vocab = ["ΟΔΟΣ", "ΑΣ", "σ", "ｆｕｌｌ", "café", "1,000", "3.50", "x", "Input", "note", "the", "ℌ", "İstanbul"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12))) for _ in range(80)]
    index = NgramIndex(3, SCAFFOLD_WORDS)
    index.freeze()
    for batch_texts in (texts, [t for t in texts if t.isascii()]):
        tb = index.tokenize(batch_texts)
        end = np.cumsum(tb.words_per_doc)[tb.word_doc]  # spans stay inside their document, as a verdict's does
        spans = [(f, rng.randint(1, min(4, int(end[f]) - f))) for f in range(len(tb.word_hash))]
        first = np.array([f for f, _ in spans], dtype=np.int64)
        length = np.array([n for _, n in spans], dtype=np.int64)
        assert tb.texts(first, length) == [tb.text(f, n) for f, n in spans]
    texts = [t for t in texts if len(index.tokenize([t]).word_hash)]  # a verdict's document has its n-gram
    firsts, lengths, expected = [], [], []
    for t in texts:
        tb = index.tokenize([t])
        f = rng.randrange(len(tb.word_hash))
        n = rng.randint(1, len(tb.word_hash) - f)
        firsts.append(f)
        lengths.append(n)
        expected.append(tb.text(f, n))
    assert index.ngram_texts(texts, firsts, lengths) == expected and len(texts) > 40


def test_fast_lower_equals_str_lower_on_every_bmp_character() -> None:
    """The code-unit lowercase (a table of the cased characters present) against ``str.lower`` on every BMP
    character, 97 at a time among ASCII capitals; final sigma, dotted I and beyond-BMP text fall back."""
    from acereason.curate.decontam_hash import fast_lower, lower_units

    chars = [chr(c) for c in range(128, 0x10000) if not 0xD800 <= c < 0xE000]
    for lo in range(0, len(chars), 97):
        text = "Ab " + " X".join(chars[lo: lo + 97]) + " Z"
        assert fast_lower(text) == text.lower()
    for text in ("ΟΔΟΣ ΑΣ", "İstanbul", "KELVIN \u212a", "emoji 😀 X", "Á É ≤ — X"):
        assert fast_lower(text) == text.lower(), text
    assert lower_units(np.frombuffer("ΑΣ".encode("utf-16-le"), dtype=np.uint16)) is None
    kelvin = tokenize_batch(["\u212a\u00e9 \u212aa"])  # lowers to ASCII "k" beside a non-ASCII word
    assert [kelvin.text(i, 1) for i in range(len(kelvin.word_hash))] == ["ké", "ka"]
    assert kelvin.word_hash.tolist() == [reference_hash("ké"), reference_hash("ka")]
    ascii_after = tokenize_batch(["\u212a \u212aa 1,000"])  # only the Kelvin sign: lowercased, the batch is ASCII
    assert ascii_after.codec == "ascii" and ascii_after.word_hash.tolist() == [reference_hash(w) for w in
                                                                               ("k", "ka", "1000")]


@pytest.mark.parametrize("seed", range(10))
def test_header_anchored_sub_equals_the_regex_sub(seed: int) -> None:
    """Trying the constraint pattern only where "constraint" starts a line gives ``re.sub``'s result:
    indented and mid-line occurrences, back-to-back blocks, document separators."""
    from acereason.curate.decontam_code import _CONSTRAINTS_JOINED, _INPUT_BLOCK_JOINED, _sub_headers

    rng = random.Random(seed)
    pieces = ["\n", "\n  ", "\n\t", "constraint", "constraints", ":", " ", "x", "1 <= n", "\nsample input",
              "\ninput", "\noutput", "\nnote", "\x00\n", "the constraint is", "\nexamples", "\nfollow-up", "\r"]
    for _ in range(200):
        text = "\n" + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert _sub_headers(_CONSTRAINTS_JOINED, text, "constraint") == _CONSTRAINTS_JOINED.sub("\n", text), text
        assert _sub_headers(_INPUT_BLOCK_JOINED, text, "input") == _INPUT_BLOCK_JOINED.sub("\n", text), text
