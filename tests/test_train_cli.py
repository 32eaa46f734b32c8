"""``acereason train`` and ``acereason demo``: bad input exits 2 with one line, before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from acereason.cli import app
from tests.test_trainer import recipe_dict, save_recipe

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def _one_line_exit_2(args: list[str], *words: str) -> str:
    res = CliRunner().invoke(app, args)
    err = res.stderr.strip()
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert all(w in err for w in words), err
    return err


@pytest.mark.parametrize("train,words", [
    ({"reward_fn": "nocolon"}, ["field 'train.reward_fn'", "module:function"]),
    ({"reward_fn": "no_such_module_x:fn"}, ["field 'train.reward_fn'", "cannot import module"]),
    ({"device": "tpu"}, ["field 'train.device'", "unknown device"]),
    pytest.param({"device": "cuda"}, ["field 'train.device'", "no CUDA"], marks=NO_CUDA),
    ({"clip_eps_high": 0.28}, ["clip_eps_high needs clip_eps"]),
])
def test_train_rejects_bad_fields_in_one_line(tmp_path: Path, train: dict, words: list[str]) -> None:
    data = recipe_dict()
    data["train"].update(train)
    path = save_recipe(tmp_path, data)
    _one_line_exit_2(["train", str(path), "--out", str(tmp_path / "r")], str(path), *words)
    assert not (tmp_path / "r").exists()


@NO_CUDA
def test_device_option_is_checked_first(tmp_path: Path) -> None:
    path = save_recipe(tmp_path, recipe_dict())
    _one_line_exit_2(["train", str(path), "--out", str(tmp_path / "r"), "--device", "cuda"], "--device", "no CUDA")
    _one_line_exit_2(["demo", "--fast", "--out", str(tmp_path / "d"), "--device", "cuda"], "--device", "no CUDA")
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()


def test_demo_rejects_an_unknown_device(tmp_path: Path) -> None:
    _one_line_exit_2(["demo", "--fast", "--out", str(tmp_path / "d"), "--device", "tpu"], "--device", "unknown")
    assert not (tmp_path / "d").exists()


def test_resume_and_start_errors_are_one_line(tmp_path: Path) -> None:
    path = save_recipe(tmp_path, recipe_dict(steps=3))
    _one_line_exit_2(["train", str(path), "--out", str(tmp_path / "none"), "--resume"],
                     f"nothing to resume in {tmp_path / 'none'}")
    run = tmp_path / "run"
    run.mkdir()  # a run as its start records it (the trainer test covers a real one)
    recorded = json.loads(json.dumps(recipe_dict(steps=3, lr=1e-3)))
    recorded["base_dir"] = str(tmp_path)
    from acereason.rl.recipe import recipe_from_dict
    from acereason.rl.rundir import write_record

    write_record(run, recipe_from_dict(recorded, check_files=False))
    _one_line_exit_2(["train", str(path), "--out", str(run)], "already holds a run", "--resume")
    _one_line_exit_2(["train", str(path), "--out", str(run), "--resume"], f"{run}: recipe changed since the run "
                     "started: stages.0.lr 0.001 -> 0.003", "new --out")


def test_override_help_is_the_recipe_fields_description(tmp_path: Path) -> None:
    """``--device``/``--sampler`` help is the TrainCfg description docs/training.md carries (issue 16), and a
    bad ``--sampler`` lists the names rl/names.py defines."""
    from acereason.rl.names import SamplerKind
    from acereason.rl.recipe import TrainCfg

    res = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"}, terminal_width=400)
    flat = " ".join(res.output.replace("│", " ").split())
    for field in ("device", "sampler"):
        text = " ".join((TrainCfg.model_fields[field].description or "").split()).replace("``", "")
        assert f"Override train.{field}. {text}" in flat, field
    path = save_recipe(tmp_path, recipe_dict())
    _one_line_exit_2(["train", str(path), "--out", str(tmp_path / "r"), "--sampler", "vllm"],
                     "--sampler", "unknown sampler 'vllm'", ", ".join(SamplerKind))
