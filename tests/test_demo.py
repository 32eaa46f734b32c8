"""The demo's pieces: tasks, SFT stopping, statistics against references, the summary's verdicts.

`acereason demo --fast` end to end, as the README runs it, is tests/test_readme_main.py."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import pytest

from acereason.cli_util import OptionError
from acereason.demo.evaluate import paired_permutation_test, paired_permutation_test_ref
from acereason.demo.pipeline import DemoSizes, run_demo
from acereason.demo.tasks import code_task, make_split, math_task
from acereason.verify import score_batch


def test_task_traces_verify_and_splits_are_disjoint() -> None:
    rng = random.Random(0)
    tasks = [math_task(rng) for _ in range(40)] + [code_task(rng) for _ in range(40)]
    verdicts = score_batch([t.problem for t in tasks], [t.trace for t in tasks])
    assert all(v.correct for v in verdicts), [v for v in verdicts if not v.correct][:2]
    seen: set[str] = set()
    a = make_split("math", 50, 1, seen)
    b = make_split("math", 50, 2, seen)
    assert not {t.problem.prompt for t in a} & {t.problem.prompt for t in b}


@pytest.mark.parametrize("seed", range(10))
def test_paired_permutation_matches_exact_enumeration(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 12)
    before = [rng.choice([0, 0.25, 0.5, 0.75, 1.0]) for _ in range(n)]
    after = [min(1.0, b + rng.choice([-0.25, 0, 0.25, 0.5])) for b in before]
    exact = paired_permutation_test_ref(before, after)
    assert paired_permutation_test(before, after, resamples=40000, seed=seed) == pytest.approx(exact, abs=0.02)


def test_sft_early_stopping_keeps_the_best_dev_checkpoint(one_torch_thread: None) -> None:
    import torch

    from acereason.demo.sft import SFTConfig, sft_train
    from acereason.demo.tasks import CODE_INSTRUCTION, MATH_INSTRUCTION
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=0)
    rng = random.Random(0)
    tasks = [math_task(rng) for _ in range(8)]
    scores = iter([0.1, 0.4, 0.2, 0.3, 0.1])  # best at the 2nd evaluation, then a plateau of 3
    snapshots: list[dict[str, torch.Tensor]] = []

    def dev_eval() -> dict[str, float]:
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return {"math": next(scores)}

    cfg = SFTConfig(lr=1e-2, batch_size=4, max_steps=100, eval_every=2, target_accuracy=None, patience=3)
    res = sft_train(model, tok, tasks, cfg, MATH_INSTRUCTION, CODE_INSTRUCTION, dev_eval, log=lambda _: None)
    assert (res.stopped, res.steps, res.best_step) == ("dev_plateau", 10, 4)
    kept = model.state_dict()
    assert all(torch.equal(kept[k], snapshots[1][k]) for k in kept)
    assert not all(torch.equal(kept[k], snapshots[-1][k]) for k in kept)


def test_summary_names_the_winner_of_each_control(tmp_path: Path) -> None:
    from acereason.demo.pipeline import summarize_run

    def write(label: str, math: float, code: float) -> None:
        d = tmp_path / "eval" / label
        d.mkdir(parents=True)
        n = 60
        outcomes = {dom: [[i < rate * n] * 4 for i in range(n)] for dom, rate in (("math", math), ("code", code))}
        (d / "outcomes.json").write_text(json.dumps(outcomes))

    write("00-sft", 0.2, 0.2)
    write("01-math-rl", 0.6, 0.2)
    write("02-code-rl", 0.6, 0.4)
    write("01c-math-sft-control", 0.3, 0.2)  # RL better on math
    write("02c-code-sft-control", 0.6, 0.8)  # the SFT continuation better on code
    capped = {"steps": 700, "best_step": 700, "stopped": "max_steps"}
    notes = summarize_run(tmp_path, {}, True, capped)["notes"]
    assert any("01-math-rl vs equal-compute" in n and "RL is better" in n for n in notes)
    assert any("02-code-rl vs equal-compute" in n and "the SFT continuation is better" in n for n in notes)
    assert any("step cap (700 steps)" in n for n in notes)
    plateaued = {"steps": 700, "best_step": 500, "stopped": "max_steps"}
    assert not any("step cap" in n for n in summarize_run(tmp_path, {}, True, plateaued)["notes"])


def test_sft_plateau_rule_waits_for_min_steps(one_torch_thread: None) -> None:
    from acereason.demo.sft import SFTConfig, sft_train
    from acereason.demo.tasks import CODE_INSTRUCTION, MATH_INSTRUCTION
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=0)
    rng = random.Random(0)
    tasks = [math_task(rng) for _ in range(8)]
    # a noisy flat start (as a tiny model's dev accuracy is), then the rise
    scores = iter([0.06, 0.0, 0.02, 0.01, 0.0, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5])
    cfg = SFTConfig(lr=1e-3, batch_size=4, max_steps=100, eval_every=2, target_accuracy=None, patience=3,
                    min_steps=12)
    res = sft_train(model, tok, tasks, cfg, MATH_INSTRUCTION, CODE_INSTRUCTION, lambda: {"math": next(scores)},
                    log=lambda _: None)
    assert (res.stopped, res.best_step, res.steps) == ("dev_plateau", 14, 20)


def test_a_rerun_with_other_options_is_refused_before_any_work(tmp_path) -> None:
    """`demo --fast` then `demo` (or another --seed) on one --out would reuse the first run's data and SFT."""
    out = tmp_path / "demo"
    out.mkdir()
    (out / "phases.json").write_text(json.dumps({"_config": {"seed": 0, "sizes": asdict(DemoSizes.fast())},
                                                 "data": {}}))
    with pytest.raises(OptionError, match=r"holds a demo run with seed 0, --fast, not seed 0, default sizes"):
        run_demo(out)
    with pytest.raises(OptionError, match=r"with seed 0, --fast, not seed 1, --fast"):
        run_demo(out, seed=1, fast=True)
    (out / "phases.json").write_text(json.dumps({"data": {}}))
    with pytest.raises(OptionError, match="did not record its options"):
        run_demo(out, fast=True)
    assert sorted(p.name for p in out.iterdir()) == ["phases.json"]  # nothing else was written
