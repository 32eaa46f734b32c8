"""The staged GRPO trainer on a tiny CPU model: it learns, it resumes exactly after kill -9, and bad
recipes are rejected before any work starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from acereason.rl.logging import read_metrics
from acereason.rl.recipe import load_recipe
from acereason.rl.trainer import TIME_KEYS, Trainer
from acereason.schema import DataError

REPO = Path(__file__).resolve().parents[1]


def write_toy(d: Path, n: int = 32) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "toy.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"t{i}", "domain": "math", "prompt": f"Say {i}", "answer": str(i),
                                "source": "toy"}) + "\n")
    return d / "toy.jsonl"


def recipe_dict(**stage_overrides) -> dict:
    stage = {"name": "a", "domain": "math", "data": ["toy.jsonl"], "max_response_tokens": 6,
             "rollouts_per_prompt": 8, "prompts_per_step": 8, "temperature": 1.0, "lr": 3e-3, "steps": 25}
    stage.update(stage_overrides)
    return {"name": "toy", "model": {"tiny": True},
            "train": {"seed": 0, "micro_batch_size": 64, "reward_fn": "tests.rl_toy:starts_with_digit",
                      "checkpoint_every": 2, "generation_batch_size": 64},
            "stages": [stage]}


def save_recipe(d: Path, data: dict) -> Path:
    write_toy(d)
    path = d / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_tiny_model_learns_a_verifiable_task(tmp_path: Path) -> None:
    recipe = load_recipe(save_recipe(tmp_path, recipe_dict()))
    Trainer(recipe, tmp_path / "run", progress=False).run()
    rewards = [m["reward/mean"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert len(rewards) == 25
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.3, rewards
    assert (tmp_path / "run" / "stages" / "00-a" / "config.json").exists()


def _two_stage(tmp_path: Path) -> Path:
    data = recipe_dict(steps=5)
    second = {"name": "b", "domain": "math", "data": ["toy.jsonl"], "max_response_tokens": 6,
              "rollouts_per_prompt": 4, "prompts_per_step": 8, "temperature": 1.0, "lr": 2e-3, "epochs": 3,
              "remove_solved_each_epoch": True, "temperature_schedule": [1.0, 0.9, 0.8],
              "rollouts_schedule": [4, 6], "overlong_filtering": True}
    data["stages"].append(second)
    data["train"]["checkpoint_every"] = 3
    return save_recipe(tmp_path, data)


def _train(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "acereason", "train", *args, "--no-progress"], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _comparable(path: Path) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIME_KEYS} for m in read_metrics(path)]


def _run_until_lines(recipe: Path, out: Path, lines: int, resume: bool) -> None:
    proc = _train([str(recipe), "--out", str(out), *(["--resume"] if resume else [])])
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= lines:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"run ended before the kill point: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_kill_9_and_resume_reproduce_metrics_exactly(tmp_path: Path) -> None:
    recipe = _two_stage(tmp_path)
    ref = _train([str(recipe), "--out", str(tmp_path / "ref")])
    assert ref.wait(timeout=300) == 0, ref.stderr.read()
    expected = _comparable(tmp_path / "ref" / "metrics.jsonl")
    assert [m["stage"] for m in expected].count("b") >= 3 and len({m["epoch"] for m in expected}) == 3

    out = tmp_path / "killed"
    _run_until_lines(recipe, out, 2, resume=False)  # mid-stage, before the first checkpoint at step 3
    _run_until_lines(recipe, out, 6, resume=True)  # just past the stage boundary
    _run_until_lines(recipe, out, len(expected) - 2, resume=True)  # late in stage b, around an epoch end
    final = _train([str(recipe), "--out", str(out), "--resume"])
    assert final.wait(timeout=300) == 0, final.stderr.read()
    assert _comparable(out / "metrics.jsonl") == expected


def test_fresh_run_refuses_to_overwrite(tmp_path: Path) -> None:
    recipe = load_recipe(save_recipe(tmp_path, recipe_dict(steps=2)))
    Trainer(recipe, tmp_path / "run", progress=False).run()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(recipe, tmp_path / "run", progress=False)


@pytest.mark.parametrize("change,field,words", [
    ({"rollouts_per_prompt": 1}, "stages.0", "at least 2 rollouts"),
    ({"domain": "biology"}, "stages.0.domain", "Input should be"),
    ({"data": ["toy.jsonl", "missing.jsonl"]}, "stages.0.data.1", "no such file"),
    ({"steps": None}, "stages.0", "exactly one of 'steps' or 'epochs'"),
    ({"epochs": 2}, "stages.0", "exactly one of 'steps' or 'epochs'"),
    ({"lr": -1}, "stages.0.lr", "greater than 0"),
])
def test_impossible_recipes_are_rejected_with_the_field(tmp_path: Path, change: dict, field: str,
                                                        words: str) -> None:
    path = save_recipe(tmp_path, recipe_dict(**change))
    with pytest.raises(DataError) as info:
        load_recipe(path)
    msg = str(info.value)
    assert f"field '{field}'" in msg and words in msg and str(path) in msg
    res = subprocess.run([sys.executable, "-m", "acereason", "train", str(path), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 2 and field in res.stderr and not (tmp_path / "r").exists()


def test_zero_variance_drop_and_entry_filter(tmp_path: Path) -> None:
    data = recipe_dict(steps=3, zero_variance_groups="drop",
                       pass_rate_filter={"samples": 4, "max_pass_rate": 0.5})
    recipe = load_recipe(save_recipe(tmp_path, data))
    state = Trainer(recipe, tmp_path / "run", progress=False).run()
    st = state["stages"]["a"]
    assert len(st["active"]) + st["filtered"].get("pass_rate_above_max", 0) == 32
    for m in read_metrics(tmp_path / "run" / "metrics.jsonl"):
        if m["groups/zero_variance_frac"] == 1.0:
            assert m["policy/trained_tokens"] == 0


def test_updates_per_batch_requires_clipping(tmp_path: Path) -> None:
    data = recipe_dict()
    data["train"]["updates_per_batch"] = 2
    with pytest.raises(DataError, match="clip_eps"):
        load_recipe(save_recipe(tmp_path, data))
