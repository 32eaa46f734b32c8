"""``acereason export verl``: layout, veRL parquet schema, reader round trip, overrides, launch script, filter."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from acereason.demo.tasks import code_task, math_task
from acereason.generate.base import Completion
from acereason.integrations.verl import problem_from_row
from acereason.integrations.verl_export import VERL_SCHEMA
from acereason.integrations.verl_filter import filter_run
from acereason.rl.prompts import build_messages
from acereason.schema import DataError, Verdict, read_problems, write_records
from acereason.sources import read_source

from .conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
SHARED = SHARED_DATA
VERL_FILES = [SHARED / "rllm_verl" / "math.parquet", SHARED / "rllm_verl" / "aime.parquet",
              SHARED / "rllm_verl" / "code" / "test_livecodebench.parquet",
              SHARED / "skywork_or1_eval" / "aime24.parquet", SHARED / "simplerl_verl" / "test.parquet"]


def _export(base: Path) -> tuple[Path, Path]:
    """The 7B recipe pointed at small generated problem files, exported; (recipe dir, export dir)."""
    base.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    maths = [math_task(rng).problem.model_copy(update={"id": f"m{i}"}) for i in range(24)]
    codes = []
    for i in range(12):
        p = code_task(rng).problem
        codes.append(p.model_copy(update={"id": f"c{i}", "meta": {"difficulty_score": i % 8},
                                          "starter_code": "def f(x):\n    pass" if i % 2 else None}))
    (base / "data").mkdir()
    write_records(base / "data" / "math_rl.jsonl", maths)
    write_records(base / "data" / "code_rl.jsonl", codes)
    (base / "model").mkdir()
    raw = yaml.safe_load((ROOT / "configs" / "acereason-7b.yaml").read_text())
    raw["model"]["path"] = "model"
    for s in raw["stages"]:
        s["data"] = [f"data/{s['domain']}_rl.jsonl"]
    (base / "r.yaml").write_text(yaml.safe_dump(raw))
    out = base / "export"
    res = subprocess.run([sys.executable, "-m", "acereason", "export", "verl", str(base / "r.yaml"), "--out",
                          str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return base, out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _export(tmp_path_factory.mktemp("recipe"))


def _overrides(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_layout_and_launch_order(exported: tuple[Path, Path]) -> None:
    _, out = exported
    names = ["00-math-8k", "01-math-16k", "02-math-24k", "03-code-24k", "04-code-32k", "05-math-32k"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == names
    for k, n in enumerate(names):  # numbered from 00, as the native trainer's RUN/stages/NN-<stage>
        assert (out / n / "train.parquet").exists() and (out / n / "overrides.txt").exists()
        assert json.loads((out / n / "stage.json").read_text())["index"] == k
    script = (out / "launch.sh").read_text()
    assert subprocess.run(["bash", "-n", str(out / "launch.sh")]).returncode == 0
    order = [script.index(f"run_one {n}") for n in
             ["00-math-8k", "01-math-16k", "02-math-24k", "03-code-24k", "04-code-32k", "05-math-32k"]]
    assert order == sorted(order)
    assert "python -m verl.trainer.main_ppo" in script.replace('"$PYTHON"', "python")
    assert "verl.model_merger merge --backend fsdp" in script
    # each run starts from the previous run's merged model
    o2, o6 = _overrides(out / "01-math-16k" / "overrides.txt"), _overrides(out / "05-math-32k" / "overrides.txt")
    assert o2["actor_rollout_ref.model.path"] == str(out / "00-math-8k" / "hf")
    assert o6["actor_rollout_ref.model.path"] == str(out / "04-code-32k" / "hf")
    # the code stage with per-epoch schedules and epoch-wise removal is one veRL run, not one per epoch
    assert not list(out.glob("*/epoch-*")) and script.count("\nrun_one ") == 6


def test_overrides_express_the_recipe(exported: tuple[Path, Path]) -> None:
    _, out = exported
    o = _overrides(out / "00-math-8k" / "overrides.txt")
    expect = {
        "algorithm.adv_estimator": "grpo", "algorithm.use_kl_in_reward": "false",
        "actor_rollout_ref.actor.use_kl_loss": "false", "actor_rollout_ref.actor.entropy_coeff": "0",
        "actor_rollout_ref.actor.loss_agg_mode": "token-mean", "actor_rollout_ref.actor.ppo_epochs": "1",
        "actor_rollout_ref.actor.ppo_mini_batch_size": "128", "data.train_batch_size": "128",
        "actor_rollout_ref.rollout.n": "8", "data.max_response_length": "8192", "data.max_prompt_length": "2048",
        "actor_rollout_ref.rollout.temperature": "1.0", "actor_rollout_ref.actor.optim.lr": "1e-06",
        "actor_rollout_ref.actor.optim.weight_decay": "0.0", "trainer.total_epochs": "1",
        "reward.custom_reward_function.name": "compute_score", "trainer.project_name": "acereason-7b",
        "trainer.experiment_name": "00-math-8k", "trainer.val_before_train": "false",
        "data.train_files": f"[{out / '00-math-8k' / 'train.parquet'}]",
        "trainer.default_local_dir": str(out / "00-math-8k" / "checkpoints"),
    }
    assert {k: o.get(k) for k in expect} == expect
    assert o["reward.custom_reward_function.path"] == "'pkg://acereason.integrations.verl'"  # Hydra-quoted
    code = _overrides(out / "03-code-24k" / "overrides.txt")
    assert (code["actor_rollout_ref.actor.optim.lr"], code["actor_rollout_ref.rollout.temperature"],
            code["data.max_response_length"]) == ("5e-06", "0.6", "24576")
    c2 = _overrides(out / "04-code-32k" / "overrides.txt")
    assert (c2["actor_rollout_ref.rollout.n"], c2["actor_rollout_ref.rollout.temperature"],
            c2["trainer.total_epochs"]) == ("8", "0.6", "3")
    # the plugin: our trainer mode with the stage's epoch rules, our batch reward manager
    assert c2["trainer.v1.trainer_mode"] == "acereason"
    assert (c2["+acereason.stage.epochs"], c2["+acereason.stage.remove_solved_each_epoch"],
            c2["+acereason.stage.rollouts_schedule"], c2["+acereason.stage.temperature_schedule"],
            c2["+acereason.stage.overlong_filtering"]) == ("3", "true", "[8,16]", "[0.6,0.8,1.0]", "false")
    assert (c2["reward.reward_manager.source"], c2["reward.reward_manager.name"],
            c2["reward.reward_manager.module.path"], c2["+acereason.reward.timeout_s"]) == (
        "importlib", "AceReasonRewardManager", "'pkg://acereason.integrations.verl_reward_manager'", "30.0")
    assert o["+acereason.stage.overlong_filtering"] == "true"
    assert _overrides(out / "01-math-16k" / "overrides.txt")["actor_rollout_ref.rollout.n"] == "16"
    # not_expressed_in_verl: only what truly remains, each with its reason
    notes = {n: json.loads((out / n / "stage.json").read_text())["not_expressed_in_verl"]
             for n in ("00-math-8k", "03-code-24k", "04-code-32k", "05-math-32k")}
    assert notes["00-math-8k"] == [] and notes["03-code-24k"] == []
    # the temperature schedule is carried by our agent loop: the code stage has nothing left unexpressed
    assert notes["04-code-32k"] == []
    assert (c2["actor_rollout_ref.rollout.agent.default_agent_loop"],
            c2["actor_rollout_ref.rollout.agent.agent_loop_config_path"]) == (
        "acereason_single_turn", str(out / "agent_loops.yaml"))
    assert "AceReasonSingleTurnAgentLoop" in (out / "agent_loops.yaml").read_text()
    assert len(notes["05-math-32k"]) == 1 and "only_unsolved_from" in notes["05-math-32k"][0]
    f = json.loads((out / "02-math-24k" / "stage.json").read_text())["runs"][0]["filter"]
    assert (f["samples"], f["max_pass_rate"]) == (16, 0.375)


def test_parquet_matches_verl_schema(exported: tuple[Path, Path]) -> None:
    _, out = exported
    ours = pq.read_schema(out / "03-code-24k" / "train.parquet")
    assert ours.remove_metadata() == VERL_SCHEMA
    theirs = [pq.read_schema(f) for f in VERL_FILES if f.exists()]
    if not theirs:
        pytest.skip("no shared veRL parquet files")
    for schema in theirs:
        for col in ("data_source", "prompt", "ability", "reward_model"):
            assert ours.field(col).type == schema.field(col).type, col
        # extra_info: the fields veRL's files share have the same types (ours adds more)
        for sub in schema.field("extra_info").type:
            if sub.name in {f.name for f in ours.field("extra_info").type}:
                assert ours.field("extra_info").type.field(sub.name).type == sub.type, sub.name


def test_rows_and_reader_round_trip(exported: tuple[Path, Path]) -> None:
    base, out = exported
    from acereason.rl.recipe import load_recipe

    recipe = load_recipe(base / "r.yaml")
    t = recipe.train
    for stage_dir, src in (("00-math-8k", "math_rl.jsonl"), ("03-code-24k", "code_rl.jsonl")):
        original = list(read_problems(base / "data" / src))
        path = out / stage_dir / "train.parquet"
        rows = pq.read_table(path).to_pylist()
        if stage_dir == "03-code-24k":  # difficulty_max: 5 drops scores 6 and 7
            original = [p for p in original if p.meta["difficulty_score"] <= 5]
        assert [r["extra_info"]["problem_id"] for r in rows] == [p.id for p in original]
        for row, p in zip(rows, original, strict=True):
            assert row["prompt"] == build_messages(p, t.math_instruction, t.code_instruction, t.system_prompt)
            assert problem_from_row(row) == p  # the exporter's own inverse is exact
        # our generic veRL reader recovers what the veRL schema carries
        for r, p in zip(read_source(path, fmt="verl"), original, strict=True):
            assert (r.domain, r.answer, r.tests, r.fn_name, r.source) == (p.domain, p.answer, p.tests, p.fn_name,
                                                                          p.source)
            if p.domain == "math":
                assert r.prompt == p.prompt


class _Oracle:
    """A fake policy: solves math problems whose answer is even, every time, and nothing else."""

    def generate(self, prompts, n, params):
        out = []
        for msgs in prompts:
            text = msgs[-1]["content"]
            ans = _ANSWERS[text]
            body = f"</think>\\boxed{{{ans}}}" if int(ans) % 2 == 0 else "</think>\\boxed{x}"
            out.append([Completion(text=body, token_ids=[1, 2], finish_reason="stop") for _ in range(n)])
        return out


_ANSWERS: dict[str, str] = {}


def test_verl_filter_keeps_low_pass_rate(exported: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, out = exported
    stage = tmp_path / "02-math-24k"
    shutil.copytree(out / "02-math-24k", stage)
    info = json.loads((stage / "stage.json").read_text())
    for r in info["runs"]:  # the copy's paths
        r["dir"] = str(stage)
        r["filter"]["input"], r["filter"]["output"] = str(stage / "candidates.parquet"), str(stage / "train.parquet")
    (stage / "stage.json").write_text(json.dumps(info))
    rows = pq.read_table(stage / "train.parquet").to_pylist()
    for row in rows:
        _ANSWERS[row["prompt"][-1]["content"]] = row["reward_model"]["ground_truth"]
    report = filter_run(stage, stage, _Oracle(), progress=False, model_id={"name": "policy-a"})
    kept = pq.read_table(stage / "train.parquet").to_pylist()
    odd = [r["extra_info"]["problem_id"] for r in rows if int(r["reward_model"]["ground_truth"]) % 2]
    assert [r["extra_info"]["problem_id"] for r in kept] == odd and report["kept"] == len(odd) < len(rows)
    assert [r["extra_info"]["index"] for r in kept] == list(range(len(kept)))
    assert len(pq.read_table(stage / "candidates.parquet")) == len(rows)
    assert (stage / "filter_report.json").exists()
    # another entering policy must not reuse policy-a's pass rates (the samples are bound to the model)
    with pytest.raises(DataError, match="different model"):
        filter_run(stage, stage, _Oracle(), progress=False, model_id={"name": "policy-b"})
    assert filter_run(stage, stage, _Oracle(), progress=False, model_id={"name": "policy-b"}, fresh=True)["kept"]


def test_tiny_recipe_is_refused(tmp_path: Path) -> None:
    """veRL needs a Hugging Face model directory; the in-process tiny model cannot be exported."""
    raw = yaml.safe_load((ROOT / "configs" / "acereason-7b.yaml").read_text())
    raw["model"] = {"tiny": True}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    res = subprocess.run([sys.executable, "-m", "acereason", "export", "verl", str(tmp_path / "r.yaml"),
                          "--out", str(tmp_path / "x"), "--no-check-files"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "tiny" in res.stderr


_STUB = r'''#!/usr/bin/env bash
# Stands in for `python` with veRL: records each call, writes what the real command would leave behind.
set -euo pipefail
echo "$*" >> "$STUB_LOG"
case "$2" in
  verl.trainer.main_ppo)
    for a in "$@"; do case "$a" in
      trainer.default_local_dir=*) ck="${a#*=}";;
      actor_rollout_ref.model.path=*) model="${a#*=}";;
    esac; done
    [[ -f "$model/config.json" ]] || { echo "model missing: $model" >&2; exit 3; }
    [[ -n "${STUB_FAIL:-}" && "$ck" == *"$STUB_FAIL"* ]] && { echo "simulated crash" >&2; exit 4; }
    mkdir -p "$ck/global_step_7/actor"; echo 7 > "$ck/latest_checkpointed_iteration.txt";;
  verl.model_merger)
    while [[ $# -gt 0 ]]; do [[ "$1" == --target_dir ]] && t="$2"; shift; done
    mkdir -p "$t"; echo '{}' > "$t/config.json";;
  acereason)
    for a in "$@"; do prev="${last:-}"; last="$a"; [[ "$prev" == --run ]] && run="$a"; done
    echo '{}' > "$run/filter_report.json";;
esac
'''


def test_launch_script_runs_stages_in_order_and_resumes(tmp_path: Path) -> None:
    """launch.sh with a stand-in for veRL: order, model hand-off, filters, merge, resume after a crash."""
    base, out = _export(tmp_path / "recipe")
    stub, log = tmp_path / "python", tmp_path / "calls.log"
    stub.write_text(_STUB)
    stub.chmod(0o755)
    (base / "model" / "config.json").write_text("{}")
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(stub), "STUB_LOG": str(log), "STUB_FAIL": "03-code-24k"}
    first = subprocess.run(["bash", str(out / "launch.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert first.returncode == 4  # the simulated crash in stage 03-code-24k stops the script
    done = [ln for ln in log.read_text().splitlines() if "main_ppo" in ln]
    assert len(done) == 4 and (out / "02-math-24k" / "hf" / "config.json").exists()
    assert not (out / "03-code-24k" / "hf").exists()
    log.unlink()
    env.pop("STUB_FAIL")
    second = subprocess.run(["bash", str(out / "launch.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert second.returncode == 0, second.stderr
    calls = log.read_text().splitlines()
    trained = [next(a.split("=", 1)[1] for a in c.split() if a.startswith("trainer.experiment_name="))
               for c in calls if "main_ppo" in c]
    # finished stages are skipped; the rest run in order, filters right before their runs
    assert trained == ["03-code-24k", "04-code-32k", "05-math-32k"]
    kinds = [c.split()[1] for c in calls]
    assert kinds == ["verl.trainer.main_ppo", "verl.model_merger"] * 2 + [
        "acereason", "verl.trainer.main_ppo", "verl.model_merger"]
    merge = next(c for c in calls if "model_merger" in c)
    run = out / "03-code-24k"
    assert f"--local_dir {run}/checkpoints/global_step_7/actor --target_dir {run}/hf.tmp" in merge
    assert (out / "05-math-32k" / "hf" / "config.json").exists()
    assert "final model: " + str(out / "05-math-32k") in second.stdout


# --- one recipe stage, exported in-process: reward_fn, --override, --model-path, permissions ------------------

def _one_stage(base: Path, model: str = "model", **train: object) -> Path:
    """The 7B recipe's first stage over 6 generated math problems, with ``train`` fields set; its path.
    ``model.path`` is ``model`` (created when it is the default)."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "model").mkdir(exist_ok=True)
    rng = random.Random(5)
    write_records(base / "math.jsonl", [math_task(rng).problem.model_copy(update={"id": f"m{i}"}) for i in range(6)])
    raw = yaml.safe_load((ROOT / "configs" / "acereason-7b.yaml").read_text())
    raw["stages"] = raw["stages"][:1]
    raw["stages"][0]["data"] = ["math.jsonl"]
    raw["model"]["path"] = model
    raw["train"].update(train)
    (base / "r.yaml").write_text(yaml.safe_dump(raw))
    return base / "r.yaml"


def _cli(*args: str):
    from typer.testing import CliRunner

    from acereason.cli import app

    return CliRunner().invoke(app, ["export", "verl", *args])


SEEN: list = []


def says_yes(problems, responses):
    """A custom batch reward (``train.reward_fn``): correct when the response contains "yes"."""
    SEEN.extend(problems)
    return [Verdict(correct="yes" in r, reason="custom") for r in responses]


def test_custom_reward_fn_is_exported_as_a_working_veRL_reward(tmp_path: Path) -> None:
    import importlib.util

    recipe = _one_stage(tmp_path, reward_fn="tests.test_verl_export:says_yes")
    out = tmp_path / "x"
    res = _cli(str(recipe), "--out", str(out))
    assert res.exit_code == 0, res.output
    o = _overrides(next(out.glob("*-math-8k")) / "overrides.txt")
    adapter = out / "reward_fn.py"
    assert o["reward.custom_reward_function.path"] == str(adapter)
    assert o["reward.custom_reward_function.name"] == "compute_score"
    stage = json.loads((next(out.glob("*-math-8k")) / "stage.json").read_text())
    assert stage["reward"] == {"path": str(adapter), "reward_fn": "tests.test_verl_export:says_yes"}
    # load it as veRL does (by file path, under its own module name) and score a parquet row
    spec = importlib.util.spec_from_file_location("custom_module", adapter)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    row = pq.read_table(next(out.glob("*-math-8k")) / "train.parquet").to_pylist()[0]
    args = (row["data_source"], row["reward_model"]["ground_truth"], row["extra_info"])
    SEEN.clear()
    assert mod.compute_score(args[0], "</think> yes", *args[1:])["score"] == 1.0
    assert mod.compute_score(args[0], "</think> no", *args[1:])["score"] == 0.0
    assert SEEN[0] == problem_from_row(row)  # the function saw the row's full problem


def test_bad_reward_fn_or_reward_path_with_it_exits_2(tmp_path: Path) -> None:
    res = _cli(str(_one_stage(tmp_path / "a", reward_fn="no_such_module_xyz:f")), "--out", str(tmp_path / "x"))
    assert res.exit_code == 2 and "train.reward_fn" in res.output and "Traceback" not in res.output
    res = _cli(str(_one_stage(tmp_path / "b", reward_fn="tests.test_verl_export:says_yes")), "--out",
               str(tmp_path / "y"), "--reward-path", "/r/verl.py")
    assert res.exit_code == 2 and "--reward-path" in res.output


def test_override_without_equals_exits_2_naming_the_option(tmp_path: Path) -> None:
    out = tmp_path / "x"
    res = _cli(str(_one_stage(tmp_path)), "--out", str(out), "--override", "bogus")
    assert res.exit_code == 2 and "--override" in res.output and "bogus" in res.output
    assert not out.exists()  # refused before anything is written
    ok = _cli(str(_one_stage(tmp_path)), "--out", str(out), "--override", "a.b = 3")
    assert ok.exit_code == 0 and (next(out.glob("*-math-8k")) / "overrides.txt").read_text().splitlines()[-1] == "a.b=3"


def test_model_path_does_not_need_the_recipes_local_model(tmp_path: Path) -> None:
    recipe = _one_stage(tmp_path, model="no-such-model")  # model.path does not exist on this machine
    assert _cli(str(recipe), "--out", str(tmp_path / "x")).exit_code == 2  # without --model-path it must
    res = _cli(str(recipe), "--out", str(tmp_path / "x"), "--model-path", "/cluster/models/r1-7b")
    assert res.exit_code == 0, res.output
    o = _overrides(next((tmp_path / "x").glob("*-math-8k")) / "overrides.txt")
    assert o["actor_rollout_ref.model.path"] == "/cluster/models/r1-7b"
    (tmp_path / "math.jsonl").unlink()  # the data files are still checked
    res = _cli(str(recipe), "--out", str(tmp_path / "y"), "--model-path", "/cluster/models/r1-7b")
    assert res.exit_code == 2 and "stages.0.data.0" in res.output


def test_exported_files_honour_the_umask(tmp_path: Path) -> None:
    """Ray workers and other users on the shared filesystem must be able to read the export."""
    import os

    old = os.umask(0o022)
    try:
        assert _cli(str(_one_stage(tmp_path)), "--out", str(tmp_path / "x")).exit_code == 0
    finally:
        os.umask(old)
    stage = next((tmp_path / "x").glob("*-math-8k"))
    for f in ("train.parquet", "overrides.txt", "stage.json"):
        assert (stage / f).stat().st_mode & 0o777 == 0o644, f
    assert (tmp_path / "x" / "launch.sh").stat().st_mode & 0o777 == 0o755


def test_verl_filter_on_a_wrong_directory_exits_2_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from acereason.cli import app

    res = CliRunner().invoke(app, ["export", "verl-filter", str(tmp_path), "--model", "m", "--backend", "hf"])
    assert res.exit_code == 2 and "stage.json" in res.output and "Traceback" not in res.output
