"""Check exported overrides against the installed veRL (run with the python of veRL's environment).

``python acereason/integrations/verl_compose.py [--stand-in-model HF_DIR] DIR/NN-stage/overrides.txt ...``
does, per file, what
``python -m verl.trainer.main_ppo $(cat overrides.txt)`` does before it starts Ray:

1. composes veRL's shipped ``verl/trainer/config/ppo_trainer.yaml`` with Hydra plus the overrides (strict
   composition: overriding a key that does not exist fails) and resolves every interpolation;
2. runs veRL's ``verl.utils.config.validate_config`` (batch divisibility over the GPUs, actor checks);
3. instantiates every dataclass-backed section (``_target_: verl...``) with veRL's ``omega_conf_to_dataclass``,
   so each ``__post_init__`` validator sees our values. Sections the run does not use (reference policy
   and critic without KL / with GRPO, the reward model, distillation, and the HF model config when the model
   directory is absent) and sections that fail in veRL's own default config as well are reported as
   skipped with their error, never silently;
4. when the run's model directory and train parquet exist: loads the tokenizer and builds veRL's RL dataset
   from our parquet (chat template, prompt-length filter), and loads the reward function the way veRL does
   (``get_custom_reward_fn``) and scores the first rows with their gold answers (math) or an empty program
   (code) — this needs ``acereason`` importable in veRL's environment, as on a cluster.

Prints one JSON line per file; exit status 1 if any file fails. Standalone on purpose (it imports veRL and
Hydra; acereason only through veRL's reward loader), so it runs in veRL's separate venv.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

# Run as a file, Python puts this directory first on sys.path, where our verl.py would shadow veRL itself.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _targets(node: Any, path: str = "") -> list[str]:
    """Dotted paths of config nodes that carry a ``_target_`` naming a veRL dataclass."""
    from omegaconf import DictConfig, OmegaConf

    out = []
    if isinstance(node, DictConfig):
        target = node.get("_target_") if "_target_" in node else None
        if isinstance(target, str) and target.startswith("verl."):
            out.append(path)
        for key in node:
            if not OmegaConf.is_missing(node, key):  # '???' placeholders of disabled features
                out += _targets(node[key], f"{path}.{key}" if path else str(key))
    return out


def _compose(overrides: list[str]) -> Any:
    import verl
    from hydra import compose, initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def _instantiable(cfg: Any, path: str) -> str | None:
    """None if the section instantiates as its dataclass, else the error's first line."""
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass

    try:
        omega_conf_to_dataclass(OmegaConf.select(cfg, path))
    except Exception as err:  # reported by the caller, not hidden
        cause = err.__cause__ or err
        return f"{type(err).__name__}: {str(err).splitlines()[0]} ({type(cause).__name__}: {cause})"[:400]
    return None


_BROKEN_IN_DEFAULTS: dict[str, str] | None = None


def broken_in_defaults() -> dict[str, str]:
    """Sections that do not instantiate even in veRL's own default config (veRL's problem, not ours)."""
    global _BROKEN_IN_DEFAULTS
    if _BROKEN_IN_DEFAULTS is None:
        base = _compose(["actor_rollout_ref.rollout.name=vllm"])
        errs = {p: _instantiable(base, p) for p in _targets(base) if p}
        _BROKEN_IN_DEFAULTS = {p: e for p, e in errs.items() if e}
    return _BROKEN_IN_DEFAULTS


def _check_data_and_reward(cfg: Any, rows: int = 4) -> dict[str, Any]:
    """veRL's dataset over our parquet, and veRL's reward loader on our compute_score."""
    import pyarrow.parquet as pq
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.utils import hf_tokenizer

    tokenizer = hf_tokenizer(cfg.actor_rollout_ref.model.path)
    dataset = create_rl_dataset(cfg.data.train_files, cfg.data, tokenizer, None, is_train=True)
    table = pq.read_table(cfg.data.train_files[0]).to_pylist()
    fn = get_custom_reward_fn(cfg)
    scored = []
    for i in range(min(rows, len(dataset))):
        item = dataset[i]
        row = table[i]
        if [dict(m) for m in item["raw_prompt"]] != row["prompt"]:
            raise ValueError(f"veRL's raw_prompt differs from the parquet prompt at row {i}")
        gt = item["reward_model"]["ground_truth"]
        good = f"</think>\\boxed{{{gt}}}" if item["ability"] == "math" else "</think>```python\npass\n```"
        res = fn(data_source=item["data_source"], solution_str=good, ground_truth=gt,
                 extra_info=dict(item["extra_info"]))
        scored.append(res["score"] if isinstance(res, dict) else res)
    return {"dataset_rows": len(dataset), "parquet_rows": len(table), "scores": scored}


def _extensions(cfg: Any) -> dict[str, Any]:
    """The trainer, reward manager and agent loop classes veRL resolves for the run (ours, when used)."""
    from verl.trainer.ppo.reward import resolve_reward_manager_cls

    out: dict[str, Any] = {"reward_manager_cls": resolve_reward_manager_cls(cfg).__name__}
    if cfg.trainer.get("use_v1", False):
        from verl.trainer.ppo.v1 import get_trainer_cls

        out["trainer_cls"] = get_trainer_cls(cfg.trainer.v1.trainer_mode).__name__
    agent = cfg.actor_rollout_ref.rollout.agent
    if agent.get("agent_loop_config_path"):  # the agent loop veRL's workers load from that file, by import
        from hydra.utils import get_class
        from omegaconf import OmegaConf
        from verl.utils.import_utils import resolve_config_path

        loops = {c.name: c for c in OmegaConf.load(resolve_config_path(agent.agent_loop_config_path))}
        entry = loops.get(agent.default_agent_loop)
        out["agent_loop_cls"] = get_class(entry["_target_"]).__name__ if entry is not None else None
    return out


def check(overrides: list[str], stand_in_model: str | None = None) -> dict[str, Any]:
    """Compose and validate one run's overrides; raises on the first problem.

    ``stand_in_model``: a model directory used for the model-dependent checks when the run's own model does
    not exist yet (a later stage starts from the previous stage's merged checkpoint).
    """
    import verl
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    cfg = _compose(overrides)
    OmegaConf.resolve(cfg)  # every interpolation must resolve
    use_ref, use_critic = need_reference_policy(cfg), need_critic(cfg)
    validate_config(config=cfg, use_reference_policy=use_ref, use_critic=use_critic)
    model_dir = Path(str(cfg.actor_rollout_ref.model.path)).expanduser()
    stood_in = None
    if not (model_dir / "config.json").exists() and stand_in_model:
        stood_in = str(model_dir)
        cfg.actor_rollout_ref.model.path = stand_in_model
        model_dir = Path(stand_in_model)
    have_model = (model_dir / "config.json").exists()
    unused = [p for p, used in (("actor_rollout_ref.ref", use_ref), ("critic", use_critic)) if not used]
    unused += ["reward.reward_model", "distillation"] + ([] if have_model else ["actor_rollout_ref.model"])
    broken = broken_in_defaults()
    sections, skipped = [], {}
    for p in _targets(cfg):
        if not p:
            continue
        err = _instantiable(cfg, p)
        if err is None:
            sections.append(p)
        elif any(p == u or p.startswith(u + ".") for u in unused) or p in broken:
            skipped[p] = err
        else:
            raise ValueError(f"section {p}: {err}")
    values = {}
    for line in overrides:
        key = line.split("=", 1)[0]
        values[key] = OmegaConf.to_container(OmegaConf.create({"v": OmegaConf.select(cfg, key.lstrip("+"))}))["v"]
    out: dict[str, Any] = {"ok": True, "verl": verl.__version__, "uses_ref": use_ref, "uses_critic": use_critic,
                           "checked_sections": sections, "skipped_sections": skipped, "values": values,
                           "model_stood_in_for": stood_in, **_extensions(cfg)}
    if not have_model:
        out["data_and_reward"] = "skipped: no model directory for the tokenizer"
    elif not all(Path(f).exists() for f in cfg.data.train_files):
        out["data_and_reward"] = "skipped: train file is written at launch (verl-filter)"
    else:
        out["data_and_reward"] = _check_data_and_reward(cfg)
    return out


def main(argv: list[str]) -> int:
    """Check each overrides file; one JSON line each. ``--stand-in-model DIR`` first, optionally."""
    stand_in = None
    if argv[:1] == ["--stand-in-model"]:
        stand_in, argv = argv[1], argv[2:]
    bad = 0
    for f in argv:
        lines = [ln.strip() for ln in Path(f).read_text(encoding="utf-8").splitlines() if ln.strip()]
        try:
            res = check(lines, stand_in)
        except Exception as err:  # report every file, then fail
            bad += 1
            res = {"ok": False, "error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()[-3000:]}
        print(json.dumps({"file": f, **res}, default=str), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
