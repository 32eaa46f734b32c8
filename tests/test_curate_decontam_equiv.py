"""The fast paths of the decontamination decision equal the plain ones they replaced: the interval-union
specific overlap vs expanding every hit to its words and ``np.unique`` (the old ``_cover``), the batched
code-statement reduction vs the per-text one, on random hits, hand-made texts and the real files."""

from __future__ import annotations

import random

import numpy as np
import pytest

from acereason.curate.decontam_boilerplate import (
    BoilerplateSettings,
    Decontaminator,
    code_statement,
    code_statements,
    specific_overlap,
    statements,
)

from .decontam_edits import edit


def reference_specific(doc: np.ndarray, pos: np.ndarray, owner: np.ndarray, bp_doc: np.ndarray, bp_pos: np.ndarray,
                       n: int, n_items: int) -> tuple[list[int], list[int], list[int]]:
    """The old computation: every window expanded to its n words, distinct (word, item) entries, the words
    under any boilerplate window removed, counted per (document, item)."""
    covered: dict[tuple[int, int], set[int]] = {}
    for d, p, o in zip(doc.tolist(), pos.tolist(), owner.tolist(), strict=True):
        covered.setdefault((d, o), set()).update(range(p, p + n))
    bp: dict[int, set[int]] = {}
    for d, p in zip(bp_doc.tolist(), bp_pos.tolist(), strict=True):
        bp.setdefault(d, set()).update(range(p, p + n))
    rows = sorted((d, o, len(words - bp.get(d, set()))) for (d, o), words in covered.items())
    rows = [r for r in rows if r[2] > 0]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


@pytest.mark.parametrize("seed", range(30))
def test_interval_union_equals_expanding_every_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 15))
    docs, words, items = int(rng.integers(1, 6)), int(rng.integers(n, 80)), int(rng.integers(1, 5))
    k = int(rng.integers(0, 60))
    doc, pos = rng.integers(0, docs, k), rng.integers(0, words - n + 1, k)
    owner = rng.integers(0, items, k)
    kb = int(rng.integers(0, 30))
    bdoc, bpos = rng.integers(0, docs, kb), rng.integers(0, words - n + 1, kb)
    o, ob = np.lexsort((pos, doc)), np.lexsort((bpos, bdoc))  # the decision passes hits by (document, word)
    doc, pos, owner, bdoc, bpos = doc[o], pos[o], owner[o], bdoc[ob], bpos[ob]
    got = specific_overlap(doc, pos, owner, bdoc, bpos, n, np.int64(items + 1))
    assert [x.tolist() for x in got] == list(reference_specific(doc, pos, owner, bdoc, bpos, n, items + 1))


CODE_TEXTS = [
    "Given N.\n\nInput\n\nThe input is given from Standard Input in the following format:\nN\n\nOutput\n\nPrint the "
    "answer.\n\nConstraints\n\n- 1 <= N <= 10\n\nSample Input 1\n\n3\n\nSample Output 1\n\n6",
    "Story\nConstraints:\n1 <= n\nExample 1:\nInput: nums = [1]\nOutput: 1\nall input values are integers",
    "no scaffolding at all, Print the answer", "Input\nx\nOutput", "", "constraints\nend of text",
    "\u03a3 sigma at the end \u03a3", "input\nfoo\u2264bar\noutput\n\ntail", "ends with the input consists of multiple "
    "test cases.",
]


def test_batched_code_statements_equal_one_at_a_time() -> None:
    rng = random.Random(0)
    texts = CODE_TEXTS + [edit(t, rng) for t in CODE_TEXTS]
    assert code_statements(texts) == [code_statement(t) for t in texts]
    with_nul = [*texts, "a\x00input\nb\noutput"]
    assert code_statements(with_nul) == [code_statement(t) for t in with_nul]
    s = BoilerplateSettings()
    pairs = [(t, "code" if i % 2 else "math") for i, t in enumerate(texts)]
    assert statements(pairs, s) == [code_statement(t) if d == "code" else t for t, d in pairs]


def test_on_the_real_files_the_fast_decision_equals_the_plain_one(shared_data) -> None:
    """LCB test vs its train file and AIME 2024/25 vs 1983-2023, with every item injected edited: the same
    code statements, and per (document, item) the same specific overlap, as the plain computations."""
    from acereason.sources import read_source

    cases = ((14, ["rllm_code/test/livecodebench.json"], "rllm_code/train/livecodebench.json"),
             (9, ["qwen25math_aime24/test.jsonl", "aime2025/test.jsonl"], "deepscaler/train/aime.json"))
    for n, bench_files, train_file in cases:
        bench = {f: list(read_source(shared_data / f)) for f in bench_files}
        train = list(read_source(shared_data / train_file))
        rng = random.Random(0)
        prompts = [p.prompt for p in train] + [edit(p.prompt, rng) for ps in bench.values() for p in ps]
        domain = train[0].domain
        texts = statements([(t, domain) for t in prompts], BoilerplateSettings())
        if domain == "code":
            assert texts == [code_statement(t) for t in prompts]
        dc = Decontaminator.from_problems(bench, n)
        hits = dc.scan(texts)
        dc.fit(hits)
        dc.decide(hits, texts)
        idx = dc.index
        order = np.lexsort((hits.pos, hits.doc))
        doc, key, pos = hits.doc[order], hits.key[order], hits.pos[order]
        real = ~dc.boilerplate_keys()[key]
        sel = real & (idx.key_length[key] == idx.n)
        ref = reference_specific(doc[sel], pos[sel], idx.key_owner[key[sel]], doc[~real], pos[~real], n,
                                 len(idx.items) + 1)
        assert [x.tolist() for x in dc.last_pairs[:3]] == list(ref)
        assert len(ref[0]) > 100  # the injected items and the collisions are all in it


def test_decontaminate_explain_names_the_short_item_matcher(tmp_path) -> None:
    """A one-sentence benchmark item reworded and reformatted shares no 9-gram with its copy; the short-item
    matcher drops it, ``--dropped`` says ``how: short`` with its score, and ``--explain`` counts it."""
    import json

    from typer.testing import CliRunner

    from acereason.cli import app

    item = ("Let triangle ABC have circumcenter O and incenter I with IA perpendicular to OI, circumradius 13, and "
            "inradius 6. Find the product AB times AC.")
    copy = "Circumradius 13.0 and inradius 6; triangle ABC has circumcenter O, incenter I with IA perpendicular to " \
           "OI. Determine product AB times AC."
    others = ["Find the number of positive integers below 1000 divisible by 7.", "A circle has radius 5. Find its "
              "area.", "Compute the sum of the first 100 odd numbers.", "Let x be real with x^2 = 4. Find x."]
    bench, train = tmp_path / "b.jsonl", tmp_path / "t.jsonl"
    bench.write_text(json.dumps({"id": "b-0", "problem": item, "answer": "468"}) + "\n")
    train.write_text("".join(json.dumps({"id": f"t-{i}", "problem": t, "answer": "1"}) + "\n"
                             for i, t in enumerate([*others, copy])))
    out, dropped = tmp_path / "k.jsonl", tmp_path / "d.jsonl"
    r = CliRunner().invoke(app, ["decontaminate", str(train), "--benchmarks", str(bench), "--out", str(out),
                                 "--dropped", str(dropped), "--explain"])
    assert r.exit_code == 0, r.output
    meta = [json.loads(x)["meta"]["decontam"] for x in dropped.read_text().splitlines()]
    assert [(m["item"], m["how"]) for m in meta] == [("b-0", "short")] and meta[0]["score"] >= 0.45
    assert "short item: weighted word-pair containment" in r.output
    r = CliRunner().invoke(app, ["decontaminate", str(train), "--benchmarks", str(bench), "--out", str(out),
                                 "--dropped", str(dropped), "--short-item-words", "0"])
    assert r.exit_code == 0 and dropped.read_text() == ""


def reference_number_format(text: str) -> str:
    """The number-format folding of the tokenizer, one character at a time: a thousands separator (``1,000``,
    ``1{,}000``) and the zeros ending the digits after a decimal point (and the point when only zeros follow)."""
    def digit(i: int) -> bool:
        return 0 <= i < len(text) and "0" <= text[i] <= "9"

    drop = [False] * len(text)
    for i, c in enumerate(text):
        if not digit(i - 1):
            continue
        if c == "," and digit(i + 1) and digit(i + 2) and digit(i + 3) and not digit(i + 4):
            drop[i] = True
        elif c == "{" and text[i + 1: i + 3] == ",}" and all(digit(i + k) for k in (3, 4, 5)) and not digit(i + 6):
            drop[i: i + 3] = [True] * 3
        elif c == "." and digit(i + 1):
            end = i + 1
            while digit(end):
                end += 1
            cut = end
            while cut > i + 1 and text[cut - 1] == "0":
                cut -= 1
            drop[cut:end] = [True] * (end - cut)
            if cut == i + 1:
                drop[i] = True
    return "".join(c for c, d in zip(text, drop, strict=True) if not d)


@pytest.mark.parametrize("seed", range(20))
def test_vectorised_number_format_equals_one_character_at_a_time(seed: int) -> None:
    from acereason.curate.decontam_hash import _number_format

    rng = random.Random(seed)
    for _ in range(50):
        text = "".join(rng.choice("0000123.,{}, .x") for _ in range(rng.randint(0, 40)))
        for codec, dtype in (("ascii", np.uint8), ("utf-16-le", np.uint16)):
            cps = np.frombuffer(text.encode(codec), dtype=dtype)
            drop = _number_format(cps)
            got = text if drop is None else "".join(c for c, d in zip(text, drop.tolist(), strict=True) if not d)
            assert got == reference_number_format(text), text
    assert reference_number_format("1,000.50 and 3.0, 2.05, 1{,}000, 12,34, 1.000,000") == \
        "1000.5 and 3, 2.05, 1000, 12,34, 1000"
