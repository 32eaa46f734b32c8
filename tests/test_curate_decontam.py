"""n-gram decontamination: vectorised hashing equals a loop, matches survive formatting edits, the
dropped record names its benchmark item, and the acceptance check on the real benchmark files."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acereason.cli import app
from acereason.curate.decontam import NgramIndex, decontaminate, tokenize_batch, window_hashes
from acereason.curate.normalize import word_tokens
from acereason.schema import Problem, read_problems

from .conftest import SHARED_DATA

DATA = SHARED_DATA
BENCHMARKS = ["qwen25math_aime24/test.jsonl", "aime2025/test.jsonl", "qwen25math_amc23/test.jsonl",
              "math500/test.jsonl"]
TRAIN = ["deepscaler/train/math.json", "deepscaler/train/aime.json", "deepscaler_subset/deepscaler.json",
         "simplerl_verl/train.parquet"]


def test_window_hashes_equal_a_plain_loop() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 3, 9, 14):
        ids = rng.integers(0, 2**63, size=40, dtype=np.uint64)
        expected = []
        for i in range(len(ids) - n + 1):
            h = 0
            for j in range(n):
                h = (h * 0x100000001B3 + int(ids[i + j])) % 2**64
            expected.append(h)
        assert window_hashes(ids, n).tolist() == expected
    assert len(window_hashes(np.zeros(3, dtype=np.uint64), 9)) == 0


TEXTS = ["Let $x^2+3 = 12$; FIND x.", "Ünïcode café — naïve ≤ 5, ｆｕｌｌ width１２ and 中文字 too", "", "a_b c",
         "emoji 😀 splits words😀here", "tab\tnew\nline\x00nul"]


def test_tokenize_batch_words_and_hashes_equal_a_plain_loop() -> None:
    """Vectorised word boundaries and hashes vs word_tokens and a per-word polynomial loop."""
    from acereason.curate.decontam_hash import _B, _mix

    for texts in (TEXTS, TEXTS[:1], [t for t in TEXTS if t.isascii()]):
        batch = tokenize_batch(texts)
        expected_words = [w for t in texts for w in word_tokens(t.replace("\x00", " ").replace("😀", " "))]
        assert batch.words_per_doc.tolist() == [len(word_tokens(t.replace("\x00", " ").replace("😀", " ")))
                                                for t in texts]
        got = [batch.text(i, 1) for i in range(len(batch.word_hash))]
        assert got == expected_words
        for w, h in zip(expected_words, batch.word_hash.tolist(), strict=True):
            ref = 0
            for ch in w:
                ref = (ref * _B + ord(ch)) % 2**64
            assert h == int(_mix(np.array([ref], dtype=np.uint64))[0])


def perturb(text: str, rng: random.Random) -> str:
    """Whitespace, case and punctuation edits that keep the words."""
    text = re.sub(r" ", lambda _: rng.choice([" ", "  ", "\n", " \t"]), text)
    text = "".join(c.upper() if rng.random() < 0.3 else c for c in text)
    text = re.sub(r"[,.;:?]", lambda _: rng.choice([",", ".", ";", "!", " ", ""]), text)
    return "  " + text + " ?!"


BENCH_ITEMS = [
    ("Let $x$ and $y$ be real numbers such that $x + y = 10$ and $xy = 21$. Find the value of $x^3 + y^3$.", "b-0"),
    ("Alice flips a fair coin seven times in a row. What is the probability that exactly three flips show heads?",
     "b-1"),
    ("Compute the sum of all primes below ten.", "b-2"),  # shorter than 9 words: kept whole
]


def small_index(n: int = 9) -> NgramIndex:
    index = NgramIndex(n)
    for text, item in BENCH_ITEMS:
        index.add(text, "bench.jsonl", item)
    return index.freeze()


def test_match_survives_formatting_edits_and_names_the_item() -> None:
    index = small_index()
    rng = random.Random(0)
    for text, item in BENCH_ITEMS:
        m = index.match("Warm-up first. " + perturb(text, rng) + " Then rest.")
        assert m is not None and m.benchmark.item == item and m.benchmark.file == "bench.jsonl"
    assert index.match("Let $x$ and $y$ be integers with $x - y = 4$. Find the product $xy$.") is None


def test_batch_windows_never_cross_documents() -> None:
    index = small_index()
    words = word_tokens(BENCH_ITEMS[0][0])
    # The first half of a benchmark n-gram ends one document, the second half starts the next.
    out = index.match_batch([" ".join(words[:5]), " ".join(words[5:9]) + " unrelated tail words here"])
    assert out == [None, None]
    assert index.match_batch(["nothing", BENCH_ITEMS[1][0], "nothing either"])[1].benchmark.item == "b-1"


def test_decontaminate_records_the_match_in_meta() -> None:
    probs = [Problem(id=f"t{i}", domain="math", prompt=t, answer="1", source="s")
             for i, t in enumerate([BENCH_ITEMS[1][0].upper(), "An unrelated question about apples and pears."])]
    kept, dropped = decontaminate(probs, small_index())
    assert [p.id for p in kept] == ["t1"] and [p.id for p in dropped] == ["t0"]
    assert dropped[0].meta["decontam"]["item"] == "b-1" and dropped[0].meta["decontam"]["n"] == 9


def test_decontaminate_cli_names_benchmark_file_and_item(tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": f"b{i}", "problem": t, "answer": "1"}) + "\n"
                             for i, (t, _) in enumerate(BENCH_ITEMS)))
    train = tmp_path / "train.jsonl"
    rows = [Problem(id="x0", domain="math", prompt=perturb(BENCH_ITEMS[0][0], random.Random(1)), answer="1",
                    source="s"),
            Problem(id="x1", domain="math", prompt="How many sides does a regular hexagon have in total?",
                    answer="6", source="s")]
    train.write_text("".join(p.model_dump_json() + "\n" for p in rows))
    out, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    res = CliRunner().invoke(app, ["decontaminate", str(train), "--benchmarks", str(bench), "--out", str(out),
                                   "--dropped", str(dropped)])
    assert res.exit_code == 0, res.output
    assert [p.id for p in read_problems(out)] == ["x1"]
    (d,) = list(read_problems(dropped))
    assert d.meta["decontam"]["benchmark"] == str(bench) and d.meta["decontam"]["item"].endswith("-0")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(rows[1].model_dump_json() + "\n" + '{"id": "z", "domain": "math", \n')
    res = CliRunner().invoke(app, ["decontaminate", str(bad), "--benchmarks", str(bench), "--out", str(out)])
    assert res.exit_code == 2 and "bad.jsonl:2" in res.output


def ngram_set(texts: list[str], n: int) -> set[str]:
    out: set[str] = set()
    for t in texts:
        w = word_tokens(t)
        out.update(" ".join(w[i: i + n]) for i in range(len(w) - n + 1))
    return out


@pytest.mark.skipif(not (DATA / "math500/test.jsonl").exists(), reason="shared/data not present")
def test_acceptance_injected_benchmarks_removed_clean_sample_kept(tmp_path: Path) -> None:
    """Issue 8 acceptance: curating the math sources against AIME24/25, AMC23 and MATH-500 removes every
    injected (perturbed) benchmark problem, and under 1% of a clean sample that shares no 9-gram with them."""
    from acereason.sources import read_source

    bench = [p for b in BENCHMARKS for p in read_source(DATA / b)]
    rng = random.Random(8)
    injected = [Problem(id=f"injected-{i}", domain="math", prompt=perturb(p.prompt, rng), answer="12",
                        source="injected") for i, p in enumerate(rng.sample(bench, 120))]
    bench_grams = ngram_set([p.prompt for p in bench], 9)
    train = [p for f in TRAIN for p in read_source(DATA / f)]
    clean = [p for p in rng.sample(train, 2000)
             if not any(" ".join(w[i: i + 9]) in bench_grams
                        for w in [word_tokens(p.prompt)] for i in range(len(w) - 8))]
    assert len(clean) > 1500
    mixed = tmp_path / "train.jsonl"
    mixed.write_text("".join(p.model_dump_json() + "\n" for p in clean + injected))
    out, report = tmp_path / "curated.jsonl", tmp_path / "report.json"
    res = CliRunner().invoke(app, ["curate", "math", str(mixed), "--out", str(out), "--no-validate",
                                   "--report", str(report), "--benchmarks", *[str(DATA / b) for b in BENCHMARKS]])
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    excl = [json.loads(line) for f in sorted((tmp_path / "curated.jsonl.work" / "10-filter").glob("*.exclusions.jsonl"))
            for line in f.read_text().splitlines()]
    decontam = {e["id"]: e for e in excl if e["step"] == "decontam_ngram"}
    # Recall: every injected problem is gone, and by decontamination naming a benchmark item (the rules
    # run first and may catch a perturbed problem for another reason, which also removes it).
    kept_ids = {p.id for p in read_problems(out)}
    assert not any(p.id in kept_ids for p in injected)
    removed_by_rules = {e["id"] for e in excl if e["step"] != "decontam_ngram"}
    for p in injected:
        assert p.id in decontam or p.id in removed_by_rules
        if p.id in decontam:
            assert any(b in decontam[p.id]["detail"] for b in BENCHMARKS)
    clean_decontam = [p.id for p in clean if p.id in decontam]
    assert len(clean_decontam) / len(clean) < 0.01
    assert rep["drops_by_rule"]["ngram9_overlap"] >= len([p for p in injected if p.id in decontam])


def test_match_all_batches_ascii_apart_and_keeps_order() -> None:
    index = small_index()
    texts = ["Ünïcode prefix. " + BENCH_ITEMS[0][0], "plain text without overlap at all here", BENCH_ITEMS[1][0],
             "ünïcode text without overlap at all", "x " + BENCH_ITEMS[2][0].upper() + " y"] * 3
    one_by_one = [index.match(t) for t in texts]
    for batch_chars in (1, 50, 1 << 18):
        got = index.match_all(texts, batch_chars)
        assert [m and m.benchmark.item for m in got] == [m and m.benchmark.item for m in one_by_one]
        assert [m and m.ngram for m in got] == [m and m.ngram for m in one_by_one]
    assert [m and m.benchmark.item for m in one_by_one[:5]] == ["b-0", None, "b-1", None, "b-2"]
