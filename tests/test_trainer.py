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
from typing import Any

import pytest
import yaml

from acereason.rl.logging import read_metrics
from acereason.rl.recipe import load_recipe
from acereason.rl.trainer import TIME_KEYS, Trainer
from acereason.schema import DataError, Verdict

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


# ------------------------------------------------------------------------- the run record and --resume
def _quick(**stage) -> dict:
    """A recipe whose steps take a fraction of a second on the tiny model."""
    return recipe_dict(**{"rollouts_per_prompt": 2, "prompts_per_step": 4, "max_response_tokens": 3, **stage})


def test_resume_refuses_a_changed_recipe_and_extend_trains_the_added_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(load_recipe(save_recipe(tmp_path, _quick(steps=3))), run, progress=False).run()
    record = json.loads((run / "run.json").read_text())
    assert json.loads((run / "recipe.json").read_text())["stages"][0]["steps"] == 3 and record["recipe_sha256"]

    changed = _quick(steps=3, lr=6e-3)
    changed["train"]["reward_fn"] = "tests.rl_toy:always_right"
    with pytest.raises(DataError) as info:  # refused before the model loads, naming every changed field
        Trainer(load_recipe(save_recipe(tmp_path, changed)), run, resume=True, progress=False)
    msg = str(info.value)
    assert "recipe changed since the run started" in msg and "stages.0.lr 0.003 -> 0.006" in msg
    assert "train.reward_fn" in msg and "new --out" in msg
    with pytest.raises(DataError, match=r"stages\.0\.lr"):  # --extend allows only more steps/epochs or stages
        Trainer(load_recipe(save_recipe(tmp_path, changed)), run, extend=True, progress=False)

    longer = load_recipe(save_recipe(tmp_path, _quick(steps=5)))
    with pytest.raises(DataError, match=r"stages.0.steps 3 -> 5; pass --extend"):
        Trainer(longer, run, resume=True, progress=False)
    state = Trainer(longer, run, extend=True, progress=False).run()
    assert state["global_step"] == 5
    assert [m["stage_step"] for m in read_metrics(run / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    assert json.loads((run / "stages" / "00-a" / "stage.json").read_text())["global_step"] == 5
    assert json.loads((run / "run.json").read_text())["extensions"][0]["changes"] == ["stages.0.steps 3 -> 5"]
    assert json.loads((run / "recipe.json").read_text())["stages"][0]["steps"] == 5
    Trainer(longer, run, resume=True, progress=False)  # the extended recipe is now the record
    # editing a data file in place changes what the run trains on: refused like a recipe change
    with open(tmp_path / "toy.jsonl", "a") as f:
        f.write(json.dumps({"id": "t-new", "domain": "math", "prompt": "Say 99", "answer": "99"}) + "\n")
    with pytest.raises(DataError, match=r"data changed since the run started: toy.jsonl"):
        Trainer(longer, run, resume=True, progress=False)


def test_extend_appends_a_stage_but_not_before_the_last_started(tmp_path: Path) -> None:
    run = tmp_path / "run"
    two = _quick(steps=2)
    two["stages"].append({**two["stages"][0], "name": "b", "steps": 1})
    Trainer(load_recipe(save_recipe(tmp_path, two)), run, progress=False).run()
    earlier = json.loads(json.dumps(two))
    earlier["stages"][0]["steps"] = 4  # stage a is finished and b trained from it: a cannot grow now
    with pytest.raises(DataError, match=r"stages.0.steps 2 -> 4; start a new --out"):
        Trainer(load_recipe(save_recipe(tmp_path, earlier)), run, extend=True, progress=False)
    three = json.loads(json.dumps(two))
    three["stages"].append({**two["stages"][0], "name": "c", "steps": 1})
    Trainer(load_recipe(save_recipe(tmp_path, three)), run, extend=True, progress=False).run()
    assert [m["stage"] for m in read_metrics(run / "metrics.jsonl")] == ["a", "a", "b", "c"]


def test_resume_needs_a_run_and_a_fresh_start_refuses_one(tmp_path: Path) -> None:
    from acereason.cli_util import OptionError

    recipe = load_recipe(save_recipe(tmp_path, _quick(steps=1)))
    for missing in (tmp_path / "nope", tmp_path):  # no directory; a directory with no run in it
        with pytest.raises(OptionError, match="nothing to resume in"):
            Trainer(recipe, missing, resume=True, progress=False)
    assert not (tmp_path / "nope").exists()
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / "recipe.json").write_text("{}")  # a run killed before its first checkpoint
    with pytest.raises(FileExistsError, match="already holds a run"):
        Trainer(recipe, tmp_path / "started", progress=False)


def test_each_step_logs_one_plain_line_when_not_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Trainer(load_recipe(save_recipe(tmp_path, _quick(steps=2))), tmp_path / "run", progress=True).run()
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("[a] ")]
    assert [x.split()[1] for x in lines] == ["1/2", "2/2"]
    assert all("reward " in x and "len " in x and "mixed " in x and x.rstrip().endswith("s") for x in lines)


def test_tensorboard_events_are_on_disk_after_each_step(tmp_path: Path) -> None:
    import struct

    from tensorboardX.proto import event_pb2

    from acereason.rl.logging import MetricsLogger

    log = MetricsLogger(tmp_path)
    log.log({"step": 1, "reward/mean": 0.25})
    log.log({"step": 2, "reward/mean": 0.5})  # no close(): as after kill -9
    [events] = (tmp_path / "tensorboard").iterdir()
    data, seen = events.read_bytes(), []
    while data:  # TFRecord: u64 length, u32 crc, payload, u32 crc
        (n,) = struct.unpack("<Q", data[:8])
        ev = event_pb2.Event.FromString(data[12: 12 + n])
        seen += [(ev.step, v.tag, v.simple_value) for v in ev.summary.value]
        data = data[16 + n:]
    assert seen == [(1, "reward/mean", 0.25), (2, "reward/mean", 0.5)]
    log.close()


# ------------------------------------------------------------------------- recipe checks at load
@pytest.mark.parametrize("train,field,words", [
    ({"reward_fn": "nocolon"}, "train.reward_fn", "expected 'module:function'"),
    ({"reward_fn": "no_such_module_x:fn"}, "train.reward_fn", "cannot import module"),
    ({"reward_fn": "tests.rl_toy:missing"}, "train.reward_fn", "has no attribute"),
    ({"device": "tpu"}, "train.device", "unknown device"),
    ({"clip_eps_high": 0.28}, "train", "clip_eps_high needs clip_eps"),
    ({"clip_eps": 0.2}, "train", "no effect with updates_per_batch: 1"),
])
def test_bad_train_fields_fail_at_load(tmp_path: Path, train: dict, field: str, words: str) -> None:
    data = recipe_dict()
    data["train"].update(train)
    with pytest.raises(DataError) as info:
        load_recipe(save_recipe(tmp_path, data))
    assert f"field '{field}'" in str(info.value) and words in str(info.value)


def test_clip_is_accepted_where_it_acts(tmp_path: Path) -> None:
    data = recipe_dict()
    data["train"].update(updates_per_batch=2, clip_eps=0.2, clip_eps_high=0.28)
    assert load_recipe(save_recipe(tmp_path, data)).train.clip_eps_high == 0.28


# ------------------------------------------------------------------------- reward_timeout_s
def _slow_math(monkeypatch: pytest.MonkeyPatch, release: Any) -> None:
    """The math verifier, faked: a 'slow' response blocks until ``release`` is set; the rest verify at once."""
    from acereason.verify import math as math_verifier

    def verify(response: str, answer: str, timeout_s: float = 1.0) -> Verdict:
        if response == "slow":
            release.wait(30)
        return Verdict(correct=response == answer, reason="toy")

    monkeypatch.setattr(math_verifier, "verify", verify)


def _math(n: int) -> list:
    from acereason.schema import Problem

    return [Problem(id=f"m{i}", domain="math", prompt="p", answer=str(i), source="t") for i in range(n)]


def test_each_verification_is_bounded_and_the_others_keep_their_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from acereason.verify.dispatch import score_batch

    release = threading.Event()
    _slow_math(monkeypatch, release)
    try:
        out = score_batch(_math(4), ["0", "slow", "2", "9"], timeout_s=0.5, workers=2)
    finally:
        release.set()
    assert [(v.correct, v.reason) for v in out] == [(True, "toy"), (False, "timeout"), (True, "toy"),
                                                    (False, "toy")]
    assert "exceeded 0.5s" in out[1].detail


def test_batch_deadline_keeps_finished_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from acereason.verify import dispatch

    release = threading.Event()
    _slow_math(monkeypatch, release)
    monkeypatch.setattr(dispatch, "BATCH_SLACK_S", 0.0, raising=False)
    try:  # one worker: the stuck item holds it, so the last item never starts before the batch deadline
        out = dispatch.score_batch(_math(3), ["0", "slow", "2"], timeout_s=0.5, workers=1)
    finally:
        release.set()
    assert [(v.correct, v.reason) for v in out] == [(True, "toy"), (False, "timeout"), (False, "timeout")]
    assert "exceeded 0.5s" in out[1].detail and "batch" in out[2].detail
