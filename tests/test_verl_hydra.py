"""The exported overrides compose against veRL's own PPO trainer config, for every run of the 7B recipe.

veRL (with its torch/ray/transformers pins) lives in a separate venv: ``scripts/verl_check.sh`` builds
``.venv-verl`` (veRL without vLLM, plus acereason, as on a cluster) and runs this test. The venv's python is
``$VERL_PYTHON`` or ``.venv-verl/bin/python``; the test skips when neither imports veRL.
What is checked, per run, by ``acereason/integrations/verl_compose.py`` in that venv: strict Hydra
composition, veRL's ``validate_config``, every dataclass section veRL instantiates, veRL's RL dataset
built over our parquet with a (tiny, stand-in) tokenizer, and veRL's reward loader calling our compute_score.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "acereason" / "integrations" / "verl_compose.py"


def _verl_python() -> str | None:
    for cand in (os.environ.get("VERL_PYTHON"), str(ROOT / ".venv-verl" / "bin" / "python")):
        if cand and Path(cand).exists():
            ok = subprocess.run([cand, "-c", "import verl, hydra"], capture_output=True, cwd="/", timeout=300)
            if ok.returncode == 0:
                return cand
    return None


def _compose(py: str, files: list[Path], stand_in: Path) -> list[dict]:
    res = subprocess.run([py, str(COMPOSE), "--stand-in-model", str(stand_in), *map(str, files)],
                         capture_output=True, text=True, timeout=900, cwd="/")
    out = [json.loads(line) for line in res.stdout.splitlines() if line.startswith('{"file"')]
    assert len(out) == len(files), res.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    py = _verl_python()
    if py is None:
        pytest.skip("veRL not importable (run scripts/verl_check.sh)")
    import torch

    from acereason.demo.tasks import code_task, math_task
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model, save_tiny
    from acereason.schema import write_records

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("verl")
    tok = build_char_tokenizer()
    stand_in = save_tiny(build_tiny_model(tok), tok, base / "tiny-hf")
    rng = random.Random(0)
    (base / "data").mkdir()
    write_records(base / "data" / "math_rl.jsonl", [math_task(rng).problem.model_copy(update={"id": f"m{i}"})
                                                    for i in range(16)])
    write_records(base / "data" / "code_rl.jsonl", [code_task(rng).problem.model_copy(update={"id": f"c{i}"})
                                                    for i in range(8)])
    raw = yaml.safe_load((ROOT / "configs" / "acereason-7b.yaml").read_text())
    raw["model"]["path"] = str(stand_in)
    for s in raw["stages"]:
        s["data"] = [f"data/{s['domain']}_rl.jsonl"]
    (base / "r.yaml").write_text(yaml.safe_dump(raw))
    out = base / "export"
    res = subprocess.run([sys.executable, "-m", "acereason", "export", "verl", str(base / "r.yaml"), "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return py, out, stand_in


@pytest.mark.slow
def test_every_run_composes_and_validates(setup: tuple[str, Path, Path]) -> None:
    py, out, stand_in = setup
    files = sorted(out.glob("*/overrides.txt"))
    assert len(files) == 6 and not list(out.glob("*/epoch-*"))  # one veRL run per stage, epochs inside
    for r in _compose(py, files, stand_in):
        assert r["ok"], f"{r['file']}: {r.get('error')}\n{r.get('trace')}"
        lines = dict(ln.split("=", 1) for ln in Path(r["file"]).read_text().splitlines())
        v = r["values"]
        assert set(v) == set(lines)  # every key exists (strict composition) and was read back
        assert v["algorithm.adv_estimator"] == "grpo" and v["actor_rollout_ref.actor.use_kl_loss"] is False
        assert v["algorithm.use_kl_in_reward"] is False and v["actor_rollout_ref.actor.entropy_coeff"] == 0
        assert v["actor_rollout_ref.actor.ppo_mini_batch_size"] == v["data.train_batch_size"] == 128
        assert v["actor_rollout_ref.actor.loss_agg_mode"] == "token-mean"
        assert v["actor_rollout_ref.rollout.n"] == int(lines["actor_rollout_ref.rollout.n"])
        assert v["actor_rollout_ref.actor.optim.lr"] == float(lines["actor_rollout_ref.actor.optim.lr"])
        assert v["reward.custom_reward_function.path"] == "pkg://acereason.integrations.verl"
        # the plugin, as veRL resolves it: our trainer mode is registered, our reward manager imports
        assert v["trainer.v1.trainer_mode"] == "acereason" and v["reward.reward_manager.source"] == "importlib"
        assert r["trainer_cls"] == "AceReasonTrainer" and r["reward_manager_cls"] == "AceReasonRewardManager"
        # our agent loop (the per-batch sampling temperature), from the agent_loops.yaml veRL's workers load
        assert r["agent_loop_cls"] == "AceReasonSingleTurnAgentLoop"
        assert v["+acereason.stage.epochs"] == (3 if "code-32k" in r["file"] else 1)
        assert r["uses_ref"] is False and r["uses_critic"] is False
        assert {"actor_rollout_ref.actor", "actor_rollout_ref.actor.optim", "actor_rollout_ref.rollout",
                "actor_rollout_ref.model", "algorithm"} <= set(r["checked_sections"])
        dr = r["data_and_reward"]
        # veRL's dataset holds every exported row, and veRL's loader reached our verifiers:
        # gold answers score 1 for math, an empty program scores 0 for code
        assert dr["dataset_rows"] == dr["parquet_rows"] > 0
        assert dr["scores"] == ([1.0] * 4 if "math" in r["file"] else [0.0] * 4)


@pytest.mark.slow
def test_bad_overrides_are_rejected(setup: tuple[str, Path, Path], tmp_path: Path) -> None:
    """Controls: the check does fail on an unknown key and on a value veRL's dataclasses reject."""
    py, out, stand_in = setup
    good = (out / "00-math-8k" / "overrides.txt").read_text()
    unknown, invalid = tmp_path / "unknown.txt", tmp_path / "invalid.txt"
    unknown.write_text(good + "actor_rollout_ref.actor.no_such_knob=1\n")
    invalid.write_text(good.replace("loss_agg_mode=token-mean", "loss_agg_mode=bogus-mean"))
    r1, r2 = _compose(py, [unknown, invalid], stand_in)
    assert not r1["ok"] and "no_such_knob" in r1["error"]
    assert not r2["ok"] and "bogus-mean" in r2["error"]
