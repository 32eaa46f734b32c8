"""Issue 15 acceptance on the real files: boilerplate no longer drops same-platform training data, and every
benchmark item injected (with edits) into the real training files is still dropped.

Tuning set: every AIME 2024/2025 and LCB test item with each edit of tests/decontam_edits.py alone, and
with all six at once (seed 0). Held-out set (seed 2025, a random half of the edits per item): written once
and never tuned on; docs/curate.md reports it separately.
"""

from __future__ import annotations

import json
import random

import pytest

from acereason.curate.decontam_boilerplate import BoilerplateSettings, Decontaminator, statement

from .conftest import SHARED_DATA
from .decontam_edits import EDITS, edit

DATA = SHARED_DATA
CASES = {"aime": (9, ["qwen25math_aime24/test.jsonl", "aime2025/test.jsonl"], "deepscaler/train/aime.json"),
         "lcb": (14, ["rllm_code/test/livecodebench.json"], "rllm_code/train/livecodebench.json")}
# Every remaining drop, inspected (docs/curate.md lists them): stock phrases with a short benchmark item,
# and one sequel problem (Alternating Groups II/III share their setup).
ACCEPTED = {"aime": {"aime-344", "aime-746", "aime-785", "aime-853", "aime-879"}, "lcb": {"livecodebench-573"}}
needs_data = pytest.mark.skipif(not (DATA / "rllm_code/test/livecodebench.json").exists(),
                                reason="shared/data not present")


def load(case: str):
    from acereason.sources import read_source

    n, bench_files, train_file = CASES[case]
    bench = {f: list(read_source(DATA / f)) for f in bench_files}
    train = list(read_source(DATA / train_file))
    return n, bench, train


def run(case: str, injected: list[str]) -> tuple[list, int]:
    n, bench, train = load(case)
    s = BoilerplateSettings()
    dc = Decontaminator.from_problems(bench, n, s)
    domain = train[0].domain
    texts = [statement(p.prompt, p.domain, s) for p in train] + [statement(t, domain, s) for t in injected]
    return dc.run(texts), len(train)


@needs_data
@pytest.mark.parametrize("case", ["aime", "lcb"])
def test_same_platform_training_set_keeps_its_data(case: str) -> None:
    verdicts, _ = run(case, [])
    dropped = {p_id for p_id, v in zip([p.id for p in load(case)[2]], verdicts, strict=True) if v is not None}
    assert len(dropped) <= (17 if case == "lcb" else 19)
    assert dropped <= ACCEPTED[case]  # a new drop must be inspected and listed


@needs_data
@pytest.mark.parametrize("case", ["aime", "lcb"])
@pytest.mark.parametrize("kind", sorted(EDITS))
def test_each_edit_alone_every_injected_item_dropped(case: str, kind: str) -> None:
    _, bench, _ = load(case)
    rng = random.Random(0)
    items = [p for ps in bench.values() for p in ps]
    verdicts, k = run(case, [edit(p.prompt, rng, [kind]) for p in items])
    missed = [p.id for p, v in zip(items, verdicts[k:], strict=True) if v is None]
    # With the scaffolding words left out on both sides, LCB's one-sentence "Find the number of positive
    # integers not greater than N that have exactly 9 positive divisors" keeps its samples' n-grams when the
    # sentence is reworded (it was the one miss while "Sample Input 1" headers were stripped line by line).
    assert missed == [], missed


def _recall(case: str, seed: int, pick) -> tuple[float, list[str]]:
    _, bench, _ = load(case)
    rng = random.Random(seed)
    items = [p for ps in bench.values() for p in ps]
    verdicts, k = run(case, [edit(p.prompt, rng, pick(rng)) for p in items])
    missed = [p.id for p, v in zip(items, verdicts[k:], strict=True) if v is None]
    return 1 - len(missed) / len(items), missed


@needs_data
@pytest.mark.parametrize("case", ["aime", "lcb"])
def test_all_six_edits_at_once(case: str) -> None:
    """All edits on one item: a one-sentence AIME problem whose only sentence is reworded and whose numbers
    are reformatted keeps no 9-gram intact (AIME 2024/2025 test-16, LCB livecodebench-176); the short-item
    matcher (weighted word-pair containment) drops them, so none is missed."""
    _, missed = _recall(case, 0, lambda rng: None)
    assert missed == [], missed


@needs_data
@pytest.mark.parametrize("case", ["aime", "lcb"])
def test_held_out_injections(case: str) -> None:
    rate, missed = _recall(case, 2025, lambda rng: [k for k in sorted(EDITS) if rng.random() < 0.5])
    print(json.dumps({"case": case, "held_out_recall": rate, "missed": missed}))
    assert missed == [], missed


@needs_data
def test_short_item_matcher_catches_what_no_ngram_does() -> None:
    """The all-edits misses of the n-gram rules are the short matcher's drops, reported as such; with the
    matcher off they are missed again."""
    n, bench, train = load("aime")
    items = [p for ps in bench.values() for p in ps]
    injected = [edit(p.prompt, random.Random(0), None) for p in items]
    verdicts, k = run("aime", injected)
    short = {p.id for p, v in zip(items, verdicts[k:], strict=True) if v is not None and v.how == "short"}
    assert short and all(v.meta()["score"] >= BoilerplateSettings().short_share
                         for v in verdicts[k:] if v is not None and v.how == "short")
    off = BoilerplateSettings(short_item_words=0)
    dc = Decontaminator.from_problems(bench, n, off)
    texts = [statement(p.prompt, p.domain, off) for p in train] + [statement(t, "math", off) for t in injected]
    missed = {p.id for p, v in zip(items, dc.run(texts)[k:], strict=True) if v is None}
    assert missed and missed <= short


@needs_data
def test_a_benchmark_item_copied_many_times_is_still_dropped() -> None:
    """Forty copies make every n-gram of the item frequent in the training set (training-df boilerplate);
    each copy still covers the item, so each is dropped."""
    _, bench, _ = load("aime")
    item = bench["aime2025/test.jsonl"][3]
    rng = random.Random(1)
    verdicts, k = run("aime", [edit(item.prompt, rng, ["case", "whitespace"]) for _ in range(40)])
    assert all(v is not None and v.benchmark.item == item.id for v in verdicts[k:])


def test_settings_are_part_of_the_filter_stage_key(tmp_path) -> None:
    from functools import partial

    from acereason.curate.cli import filter_steps
    from acereason.curate.pipeline import stage_key

    f = tmp_path / "in.jsonl"
    f.write_text("")
    a = stage_key([f], partial(filter_steps, "math", ["b.jsonl"], 9, None, {"max_bench_items": 3}, [str(f)]), 1)
    b = stage_key([f], partial(filter_steps, "math", ["b.jsonl"], 9, None, {"max_bench_items": 4}, [str(f)]), 1)
    assert a != b
    from acereason.curate.cli import check_decontam

    on = check_decontam(3, 0.005, 0.2, 40, 0.45)
    off = check_decontam(3, 0.005, 0.2, 0, 0.45)
    assert on["short_item_words"] == 40 and on["short_share"] == 0.45
    assert (stage_key([f], partial(filter_steps, "math", ["b.jsonl"], 9, None, on, [str(f)]), 1)
            != stage_key([f], partial(filter_steps, "math", ["b.jsonl"], 9, None, off, [str(f)]), 1))
