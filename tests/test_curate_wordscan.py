"""The compiled word scan (``acereason/curate/_wordscan.c``) against the numpy tokenizer it replaces: the same
folded text, word hashes, documents and positions on random text full of number formats, separators,
non-ASCII and beyond-BMP characters, and on the real statements of shared/data."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import acereason.curate.decontam_hash as dh

pytestmark = pytest.mark.skipif(dh._wordscan is None, reason="the compiled word scan is not built (no C compiler)")

FIELDS = ("encoded", "codec", "word_hash", "word_doc", "starts", "ends", "words_per_doc")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PIECES = [*"ab Z09,.{}\n\t\x00-_:", "é", "Σ", "σ", "İ", "ẞ", "Å", "٣", "😀", "1,000", "3.50", "2{,}000", "0.000", "x.0",
          "7.", "1,00", "12,345,678.900", "4{,}00", ".5", "9.0x", "1,0000"]


def both(texts: list[str], drop: np.ndarray | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dh, "_FORCE_NUMPY", True)
    ref = dh.tokenize_batch(texts, drop)
    monkeypatch.setattr(dh, "_FORCE_NUMPY", False)
    got = dh.tokenize_batch(texts, drop)
    for field in FIELDS:
        a, b = getattr(ref, field), getattr(got, field)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), (field, texts)
        else:
            assert a == b, (field, texts)


@pytest.mark.parametrize("seed", range(4))
def test_compiled_scan_equals_numpy_on_random_text(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    drop = np.unique(dh.tokenize_batch(["input output 1000 a"]).word_hash)
    for _ in range(400):
        texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40))) for _ in range(rng.randint(1, 6))]
        both(texts, drop if rng.random() < 0.5 else None, monkeypatch)


def test_compiled_scan_equals_numpy_at_the_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    for texts in ([""], ["", ""], ["1,000"], ["3.0"], ["a"], ["9{,}999"], ["1.", "0"], ["x" * 5000], ["0." + "0" * 40],
                  ["5." + "0" * 17 + "1" + "0" * 9]):
        both(texts, None, monkeypatch)


def test_compiled_scan_equals_numpy_on_real_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    if not DATA.exists():
        pytest.skip("shared/data is absent")
    from acereason.sources import read_source

    texts = [p.prompt for f in ("rllm_code/test/livecodebench.json", "deepscaler/train/aime.json", "math500/test.jsonl")
             for p in read_source(DATA / f)]
    for lo in range(0, len(texts), 700):
        both(texts[lo: lo + 700], None, monkeypatch)


STATEMENT_PIECES = ["\n", "\n", "\r\n", " ", "\t", "Input", "input", "INPUT", " format", "\nformat", "Output", "output",
                    ":", "Constraints", "constraint", "s", "Sample Input", "sample\n input", "Example", "examples",
                    "Note", "notes", "Follow-up", "follow up", "followup", "x", "_", "1", "é", "Σ", "İ", "😀", "\x00",
                    "The input is given from Standard Input in the following format:", "All input values are integers.",
                    "Print the answer", "print the answer.", "the input consists of multiple test cases",
                    "all the input values are integers", " a b\n", "N M\n", "\u2028", "\x1c", "ÿ", "µ", "K", "Ω"]


@pytest.mark.parametrize("seed", range(3))
def test_compiled_code_statements_equal_the_regex_function(seed: int) -> None:
    from acereason.curate.decontam_code import code_statement, code_statements

    rng = random.Random(seed)
    texts = ["".join(rng.choice(STATEMENT_PIECES) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    assert code_statements(texts) == [code_statement(t) for t in texts]


def test_compiled_code_statements_equal_the_regex_function_on_real_statements() -> None:
    if not DATA.exists():
        pytest.skip("shared/data is absent")
    from acereason.curate.decontam_code import code_statement, code_statements
    from acereason.sources import read_source

    texts = [p.prompt for f in ("rllm_code/train/livecodebench.json", "rllm_code/test/livecodebench.json",
                                "rllm_code/test/codeforces.json") for p in read_source(DATA / f)]
    assert code_statements(texts) == [code_statement(t) for t in texts]


def test_python_joined_code_statements_still_equal_the_regex_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path a build without the compiled scan takes (one joined batch per pattern)."""
    from acereason.curate.decontam_code import code_statement, code_statements

    monkeypatch.setattr(dh, "_FORCE_NUMPY", True)
    rng = random.Random(7)
    texts = ["".join(rng.choice(STATEMENT_PIECES[:-4]) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    assert code_statements(texts) == [code_statement(t) for t in texts]


@pytest.mark.parametrize(("n", "table_size"), [(1, 10), (9, 50), (14, 3000), (9, 200_000)])
def test_compiled_window_probe_equals_hashing_then_finding(n: int, table_size: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Both filter layouts (a byte per slot for small tables, packed bits for large), windows in and out."""
    from acereason.curate.decontam import _Table
    from acereason.curate.decontam_hash import window_hashes

    rng = np.random.default_rng(n)
    ids = rng.integers(0, 50, size=20_000 + n).astype(np.uint64)  # a small vocabulary: windows repeat
    windows = window_hashes(ids, n)
    inside = rng.choice(windows, size=min(table_size, len(windows)) // 2)
    outside = rng.integers(0, 2**63, size=table_size - len(inside), dtype=np.uint64)
    hashes = np.concatenate([inside, outside])
    table = _Table.build(hashes, np.arange(len(hashes)))
    m = len(ids) - n - 3
    monkeypatch.setattr(dh, "_FORCE_NUMPY", True)
    ref = table.find_windows(ids, n, m)
    monkeypatch.setattr(dh, "_FORCE_NUMPY", False)
    got = table.find_windows(ids, n, m)
    assert len(ref[0]) > 0
    assert np.array_equal(ref[0], got[0]) and np.array_equal(ref[1], got[1])


HEADER_LINES = ["input", "Input", "INPUT:", "input format", "input\nformat", "input\n\nformat:", "input  format :",
                "input:", "input \t", "inputs", "output", "Output:", "output format", "output\nformat",
                "output\n format :", "outputs", "output\r", "constraints", "Constraints:", "constraint",
                "constraints s", "sample input", "sample\ninput 1", "sampleinput", "example", "examples:", "example 1",
                "examples2", "note", "notes:", "notes_", "follow-up", "follow up", "followup", "follow--up",
                "the input is given from standard input in the following format:", "print the answer.",
                "all input values are integers", "x y", "1 2 3", "", " ", "\t", "ÿ text", "é", "Σ", "N M",
                "a_1 ... a_n"]
LINE_ENDS = ["\n", "\n", "\n", "\r\n", "\n\n", " \n", "\n "]


@pytest.mark.parametrize("seed", range(3))
def test_compiled_code_statements_equal_the_regex_function_on_header_lines(seed: int) -> None:
    """Texts built from header-like lines: where re backtracks into a header's optional "format" because no
    output line follows the longer header (``input\\nformat\\noutput``), the compiled matcher must too."""
    from acereason.curate.decontam_code import code_statement, code_statements

    rng = random.Random(seed)
    lines = [*HEADER_LINES, "\x00"]  # a NUL inside a text is a character like any other
    texts = []
    for _ in range(10_000):
        t = "".join(rng.choice(lines) + rng.choice(LINE_ENDS) for _ in range(rng.randint(0, 12)))
        texts.append(t.rstrip("\n") if rng.random() < 0.5 else t)
    assert code_statements(texts) == [code_statement(t) for t in texts]


def test_input_headers_without_an_output_line_stay_linear() -> None:
    """Many input headers and no output line: each failed body search would rescan the rest of the text (re
    does, quadratically); the compiled pass stops searching and gives the same text."""
    from acereason.curate.decontam_code import code_statement, code_statements

    text = "story\n" + "input\nx y\n" * 3000
    assert code_statements([text]) == [code_statement(text)]


@pytest.mark.parametrize("seed", range(2))
def test_linear_input_block_substitution_equals_the_regexes(seed: int) -> None:
    """The Python fallback's input-block pass against the patterns that define it: per text and per
    document of a NUL-joined batch."""
    from acereason.curate.decontam_code import _INPUT_BLOCK, _INPUT_BLOCK_JOINED, _sub_input_blocks

    rng = random.Random(seed)
    lines = [*HEADER_LINES, "\x00"]
    for _ in range(5000):
        t = "\n" + "".join(rng.choice(lines) + rng.choice(LINE_ENDS) for _ in range(rng.randint(0, 12))).lower()
        t = t.rstrip("\n") if rng.random() < 0.5 else t
        assert _sub_input_blocks(t, joined=True) == _INPUT_BLOCK_JOINED.sub("\n", t), t
        assert _sub_input_blocks(t, joined=False) == _INPUT_BLOCK.sub("\n", t), t  # a NUL as a character
