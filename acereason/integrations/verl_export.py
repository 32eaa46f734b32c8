"""``acereason export verl``: a recipe as a sequence of veRL runs on a Ray cluster.

Layout of ``DIR`` (absolute paths inside, because veRL's Ray actors do not share the driver's cwd; export
on the shared filesystem at the path the cluster sees):

* ``NN-<stage>/train.parquet`` — the stage's problems in veRL's RL dataset schema (rows as described in
  :mod:`acereason.integrations.verl`), after the recipe's static filters (domain, gold answer,
  ``difficulty_max``) and with replay problems mixed in.
* ``NN-<stage>/overrides.txt`` — one Hydra override per line for ``python -m verl.trainer.main_ppo``.
* ``NN-<stage>/stage.json`` — what the launch script needs: the run list, the stage-entry filter, notes on
  recipe settings veRL cannot express.
* One veRL run per stage, epochs included: epoch-wise removal of solved prompts, per-epoch group sizes, overlong
  masking and zero-variance dropping run inside it, in our veRL plugin's trainer mode ``acereason``
  (:mod:`acereason.integrations.verl_trainer`), and rewards come from our batch reward manager
  (:mod:`acereason.integrations.verl_reward_manager`).
* ``launch.sh`` — runs every stage in order: filter (if the stage has one), train, merge the last
  checkpoint to Hugging Face format (``RUN/hf``), which is the next run's ``actor_rollout_ref.model.path``.
* ``agent_loops.yaml`` — our agent loop ``acereason_single_turn`` for veRL's agent-loop workers
  (``actor_rollout_ref.rollout.agent.agent_loop_config_path``): it samples at the temperature our trainer mode
  chose for the batch (the epoch's scheduled one, or the entropy-targeted one).
* ``reward_fn.py`` — only for a recipe with a custom ``train.reward_fn``: the veRL reward function that
  calls it per sample (see :func:`acereason.integrations.verl.custom_compute_score`).

``NN`` is the stage's index from 00, as in the native trainer's ``RUN/stages/NN-<stage>``. Every file is
written atomically with the umask's permissions (Ray workers and other users read them).
"""

from __future__ import annotations

import json
import random
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from acereason.atomic import atomic_path, current_umask, write_text
from acereason.cli_util import OptionError, import_target
from acereason.integrations.verl_overrides import AGENT_LOOP, ClusterCfg, stage_overrides, unexpressed
from acereason.rl.prompts import build_messages
from acereason.rl.recipe import Recipe, StageCfg, check_data_files, load_recipe
from acereason.schema import Problem

# The agent_loop_config_path file: veRL instantiates the target by import (torch-free to write here). Same as
# acereason.integrations.verl_agent_loop.agent_loops_yaml(), which imports veRL.
AGENT_LOOPS_YAML = (f"- name: {AGENT_LOOP}\n"
                    "  _target_: acereason.integrations.verl_agent_loop.AceReasonSingleTurnAgentLoop\n")

# The columns veRL's RL datasets share (rLLM, Skywork-OR1, SimpleRL parquet), field order as theirs.
_MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])
VERL_SCHEMA = pa.schema([
    ("data_source", pa.string()),
    ("prompt", pa.list_(_MESSAGE)),
    ("ability", pa.string()),
    ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
    ("extra_info", pa.struct([
        ("index", pa.int64()), ("split", pa.string()), ("problem_id", pa.string()), ("domain", pa.string()),
        ("source", pa.string()), ("question", pa.string()), ("starter_code", pa.string()),
        ("tests", pa.string()), ("fn_name", pa.string()), ("time_limit_s", pa.float64()),
        ("memory_mb", pa.int64()), ("difficulty", pa.float64()), ("meta", pa.string()),
    ])),
])


# veRL >= 0.5 loads ``pkg://`` module paths by import, so the reward works wherever acereason is installed on
# the cluster; older veRL needs a file path (``--reward-path``).
REWARD_MODULE = "pkg://acereason.integrations.verl"


def problem_row(problem: Problem, index: int, *, math_instruction: str, code_instruction: str,
                system_prompt: str | None = None, split: str = "train") -> dict[str, Any]:
    """One veRL row for ``problem``; ``prompt`` is exactly what the native trainer sends."""
    code = problem.domain == "code"
    tests = json.dumps([t.model_dump() for t in problem.tests or []]) if code else None
    truth = json.dumps({"tests": tests, "fn_name": problem.fn_name}) if code else (problem.answer or "")
    return {
        "data_source": problem.source,
        "prompt": build_messages(problem, math_instruction, code_instruction, system_prompt),
        "ability": problem.domain,
        "reward_model": {"ground_truth": truth, "style": "rule"},
        "extra_info": {
            "index": index, "split": split, "problem_id": problem.id, "domain": problem.domain,
            "source": problem.source, "question": problem.prompt, "starter_code": problem.starter_code,
            # the tests travel once, in ground_truth (rLLM's layout): LiveCodeBench tests run to megabytes
            "tests": None, "fn_name": problem.fn_name,
            "time_limit_s": problem.time_limit_s if code else None, "memory_mb": problem.memory_mb if code else None,
            "difficulty": problem.difficulty, "meta": json.dumps(problem.meta, default=str),
        },
    }


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """Write rows in :data:`VERL_SCHEMA` atomically, readable as the umask allows."""
    table = pa.Table.from_pylist(rows, schema=VERL_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_problems_parquet(problems: list[Problem], path: Path, recipe: Recipe) -> None:
    """``problems`` as a veRL parquet with the recipe's instructions."""
    t = recipe.train
    write_rows([problem_row(p, i, math_instruction=t.math_instruction, code_instruction=t.code_instruction,
                            system_prompt=t.system_prompt) for i, p in enumerate(problems)], path)


def stage_problems(recipe: Recipe, stage: StageCfg) -> list[Problem]:
    """The stage's problems with the native trainer's static filters, plus replay problems mixed in."""
    from acereason.rl.data import load_stage_problems

    state: dict[str, Any] = {"stages": {}}
    problems = load_stage_problems(recipe, stage, state)
    if stage.replay_data and stage.replay_fraction > 0:
        replay = load_stage_problems(recipe, stage, state, replay=True)
        # replay_fraction of each batch in the native trainer == that fraction of the rows here
        want = round(len(problems) * stage.replay_fraction / (1 - stage.replay_fraction))
        seen = {p.id for p in problems}
        pool = [p for p in replay if p.id not in seen]
        if pool:
            rng = random.Random(recipe.train.seed)
            rng.shuffle(pool)
            # cycle through the pool when it is smaller than the share; ids stay unique
            extra = [pool[k % len(pool)] for k in range(want)]
            problems = problems + [p if k < len(pool) else p.model_copy(update={"id": f"{p.id}#replay{k}"})
                                   for k, p in enumerate(extra)]
    return problems


@dataclass
class RunPlan:
    """One veRL run: a stage, or one epoch of a scheduled stage."""

    dir: str
    name: str
    model_path: str
    train_file: str
    filter: dict[str, Any] | None
    """Spec for ``acereason export verl-filter`` run before training (None: train on train_file as is)."""


def load_for_export(recipe_path: str | Path, check_files: bool, model_path: str | None) -> Recipe:
    """The recipe, with its data files checked when ``check_files``; its local ``model.path`` is checked only
    when no ``model_path`` replaces it (the cluster's model need not exist on the exporting machine)."""
    recipe = load_recipe(recipe_path, check_files=check_files and not model_path)
    if check_files and model_path:
        check_data_files(recipe, recipe_path)
    if recipe.model.tiny and not model_path:
        raise OptionError("--model-path", "the recipe uses the in-process tiny model; veRL needs a Hugging Face "
                                          "model directory (set model.path, or pass --model-path)")
    return recipe


_REWARD_ADAPTER = '''"""veRL reward for recipe {name!r}: its train.reward_fn {spec!r}, called once per sample.

Generated by `acereason export verl`; veRL loads this file by path (reward.custom_reward_function.path).
"""

from acereason.integrations.verl import custom_compute_score

REWARD_FN = {spec!r}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """The recipe's batch reward on one veRL sample (acereason.integrations.verl.custom_compute_score)."""
    return custom_compute_score(REWARD_FN, data_source, solution_str, ground_truth, extra_info)
'''


def reward_source(recipe: Recipe, out: Path, reward_path: str | None) -> str:
    """Where veRL loads ``compute_score`` from. A custom ``train.reward_fn`` (checked importable here) gets
    ``DIR/reward_fn.py``, an adapter calling it per sample; ``--reward-path`` cannot be combined with it."""
    spec = recipe.train.reward_fn
    if not spec:
        return str(reward_path) if reward_path else REWARD_MODULE
    if reward_path:
        raise OptionError("--reward-path", f"the recipe's train.reward_fn ({spec}) is exported as its own "
                                           "reward file; drop --reward-path or train.reward_fn")
    import_target("train.reward_fn", spec)
    adapter = out / "reward_fn.py"
    write_text(adapter, _REWARD_ADAPTER.format(name=recipe.name, spec=spec))
    return str(adapter)


def export_recipe(recipe_path: str | Path, out_dir: str | Path, cluster: ClusterCfg | None = None,
                  model_path: str | None = None, reward_path: str | None = None,
                  check_files: bool = True) -> list[RunPlan]:
    """Write ``DIR/NN-<stage>/{train.parquet,overrides.txt,stage.json}`` for every stage (``NN`` from 00) and
    ``DIR/launch.sh``.

    ``model_path`` replaces the recipe's starting model (the path as the cluster sees it); ``reward_path``
    where veRL loads :func:`acereason.integrations.verl.compute_score` from (default
    ``pkg://acereason.integrations.verl``; a file path for veRL releases without ``pkg://`` support); a
    recipe's custom ``train.reward_fn`` is exported as ``DIR/reward_fn.py`` (:func:`reward_source`).
    Returns the runs in launch order.
    """
    recipe = load_for_export(recipe_path, check_files, model_path)
    cluster = cluster or ClusterCfg()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    reward = reward_source(recipe, out, reward_path)
    agent_loops = out / "agent_loops.yaml"  # our agent loop, loaded by veRL's agent-loop workers themselves
    write_text(agent_loops, AGENT_LOOPS_YAML)
    prev_model = model_path or str(recipe.resolve(recipe.model.path or "").resolve())
    t = recipe.train
    runs: list[RunPlan] = []
    for i, stage in enumerate(recipe.stages):
        label = f"{i:02d}-{stage.name}"  # numbered from 00, as the native trainer's RUN/stages/NN-<stage>
        sdir = out / label
        sdir.mkdir(parents=True, exist_ok=True)
        train_file = sdir / "train.parquet"
        if check_files or all(recipe.resolve(f).exists() for f in stage.data):
            write_problems_parquet(stage_problems(recipe, stage), train_file, recipe)
        entry: dict[str, Any] | None = None
        if stage.pass_rate_filter or stage.only_unsolved_from:
            f = stage.pass_rate_filter
            samples = f.samples if f else stage.rollouts_per_prompt
            entry = {"samples": samples, "min_pass_rate": f.min_pass_rate if f else 0.0,
                     # only_unsolved_from alone: drop what the entering policy solves every time
                     "max_pass_rate": f.max_pass_rate if f else (samples - 1) / samples,
                     "max_tokens": (f.max_tokens if f else None) or stage.max_response_tokens,
                     "temperature": stage.temperature_at(0), "top_p": stage.top_p,
                     "input": str(sdir / "candidates.parquet"), "output": str(train_file)}
        # one veRL run per stage: epochs, epoch-wise removal and per-epoch group sizes run inside it, in our
        # trainer extension (trainer.v1.trainer_mode=acereason), with the optimizer kept across epochs
        lines = stage_overrides(recipe, stage, run_name=label, train_file=train_file, model_path=prev_model,
                                checkpoint_dir=sdir / "checkpoints", reward_path=reward, cluster=cluster,
                                agent_loop_config=agent_loops)
        spaced = [ln for ln in lines if any(ch.isspace() for ch in ln)]
        if spaced:  # launch.sh passes $(cat overrides.txt): a space would split an override in two
            raise OptionError("--override" if spaced[0] in cluster.extra else "--out/--model-path",
                              f"override contains whitespace (use paths without spaces): {spaced[0]}")
        write_text(sdir / "overrides.txt", "\n".join(lines) + "\n")
        stage_runs = [RunPlan(dir=str(sdir), name=label, model_path=prev_model, train_file=str(train_file),
                              filter=entry)]
        prev_model = str(sdir / "hf")
        info = {"stage": stage.name, "index": i, "domain": stage.domain, "recipe": str(Path(recipe_path).resolve()),
                "math_instruction": t.math_instruction, "code_instruction": t.code_instruction,
                "system_prompt": t.system_prompt, "reward": {"path": reward, "reward_fn": t.reward_fn},
                "runs": [asdict(r) for r in stage_runs], "not_expressed_in_verl": unexpressed(stage)}
        write_text(sdir / "stage.json", json.dumps(info, indent=1) + "\n")
        runs += stage_runs
    script = out / "launch.sh"
    write_text(script, launch_script(recipe.name, runs))
    script.chmod(0o777 & ~current_umask())  # executable for everyone the umask lets read it
    return runs


def launch_script(name: str, runs: list[RunPlan]) -> str:
    """Bash that runs every veRL run in order, resumable: a run whose ``hf/`` exists is skipped."""
    q = shlex.quote
    body = []
    for r in runs:
        stage_dir = q(str(Path(r.dir) if not Path(r.dir).name.startswith("epoch-") else Path(r.dir).parent))
        filt = "1" if r.filter else "0"
        body.append(f"run_one {q(r.name)} {q(r.dir)} {stage_dir} {filt} {q(r.model_path)}")
    runs_text = "\n".join(body)
    return f"""#!/usr/bin/env bash
# {name}: generated by `acereason export verl`. Runs each stage of the recipe as one veRL run (epochs inside):
#   1. stage-entry filter (pass rate / solved problems) with the entering policy: acereason export verl-filter
#   2. python -m verl.trainer.main_ppo $(cat overrides.txt)
#   3. merge the last FSDP checkpoint into RUN/hf (Hugging Face format): the next run's model.
# Rerun to resume: finished runs (RUN/hf/config.json present) are skipped; veRL resumes a run from its last
# checkpoint (trainer.resume_mode=auto). Start a Ray cluster first for several nodes (docs/verl.md).
# Environment: PYTHON (default python), FILTER_BACKEND (vllm|hf|openai, default vllm), FILTER_ARGS (extra
# arguments for verl-filter, e.g. "--base-url URL"), VERL_ARGS (extra overrides for every run).
set -euo pipefail
PYTHON="${{PYTHON:-python}}"
FILTER_BACKEND="${{FILTER_BACKEND:-vllm}}"

run_one() {{
  local name="$1" dir="$2" stage_dir="$3" filter="$4" model="$5"
  if [[ -f "$dir/hf/config.json" ]]; then
    echo "== $name: done ($dir/hf)"; return 0
  fi
  if [[ ! -f "$model/config.json" ]]; then
    echo "== $name: model $model is missing (did the previous run finish?)" >&2; exit 1
  fi
  if [[ "$filter" == 1 && ! -f "$dir/filter_report.json" ]]; then
    echo "== $name: filtering prompts with $model"
    "$PYTHON" -m acereason export verl-filter "$stage_dir" --run "$dir" --model "$model" \\
      --backend "$FILTER_BACKEND" ${{FILTER_ARGS:-}}
  fi
  echo "== $name: training"
  # shellcheck disable=SC2046  # one override per line, none contains spaces (paths are quoted by Hydra rules)
  "$PYTHON" -m verl.trainer.main_ppo $(cat "$dir/overrides.txt") ${{VERL_ARGS:-}}
  local step
  step="$(cat "$dir/checkpoints/latest_checkpointed_iteration.txt")"
  echo "== $name: merging $dir/checkpoints/global_step_$step/actor -> $dir/hf"
  "$PYTHON" -m verl.model_merger merge --backend fsdp \\
    --local_dir "$dir/checkpoints/global_step_$step/actor" --target_dir "$dir/hf.tmp"
  mv "$dir/hf.tmp" "$dir/hf"
}}

{runs_text}
echo "== all runs finished; final model: {runs[-1].dir}/hf"
"""
