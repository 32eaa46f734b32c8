"""A recipe stage in veRL's terms: the Hydra overrides for ``python -m verl.trainer.main_ppo``.

Written against veRL 0.9.1's ``verl/trainer/config/ppo_trainer.yaml`` (checked by composing that config
with these overrides: ``tests/test_verl_hydra.py``). The mapping:

* GRPO, strictly on-policy: ``algorithm.adv_estimator=grpo`` with std normalisation, one PPO epoch and
  ``ppo_mini_batch_size = train_batch_size`` (both in prompts), so every rollout batch is one optimizer step
  and the importance ratio is 1. ``updates_per_batch > 1`` maps to ``ppo_epochs`` with our ``clip_eps``.
* No KL anywhere (``use_kl_loss=false``, ``use_kl_in_reward=false``) unless ``kl_coef > 0`` (then k3 KL
  loss, veRL's ``low_var_kl``); no entropy bonus (``entropy_coeff=0``); ``loss_agg_mode`` = our
  ``loss_aggregation`` (the names are veRL's).
* AdamW with our lr, betas, weight decay (veRL's default is 0.01, ours 0), warmup and gradient clip;
  constant schedule.
* Lengths: ``data.max_prompt_length`` / ``data.max_response_length``; prompts longer than the budget are
  filtered out at load (veRL's default would abort the run). Dynamic batch sizes with a per-GPU token
  budget of one full sequence, the usual setting for long chain-of-thought.
* Reward: ``reward.custom_reward_function`` = :func:`acereason.integrations.verl.compute_score`, or the
  generated ``DIR/reward_fn.py`` for a recipe with a custom ``train.reward_fn`` (veRL 0.9 moved the old
  top-level ``custom_reward_function`` under ``reward``).
* Sampling temperature: the first epoch's in ``rollout.temperature``; the schedule and the entropy target are
  applied per batch by our trainer mode through our agent loop ``acereason_single_turn``
  (``rollout.agent.default_agent_loop``, ``agent_loop_config_path``).
* Checkpoints every ``checkpoint_every`` steps (veRL also saves at the last step), keep
  ``keep_checkpoints``; validation off (our ``acereason eval`` evaluates the merged checkpoints).

What veRL's trainer cannot express is listed by :func:`unexpressed` and handled between runs instead
(see :mod:`acereason.integrations.verl_export`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from acereason.rl.recipe import Recipe, StageCfg


@dataclass
class ClusterCfg:
    """Where the runs go: the cluster's shape and where veRL writes."""

    n_gpus_per_node: int = 8
    nnodes: int = 1
    rollout_tp: int = 2
    """vLLM tensor parallel size for rollouts (7B at 32K fits TP 2 on 80 GB cards)."""
    gpu_memory_utilization: float = 0.6
    rollout_engine: str = "vllm"
    logger: tuple[str, ...] = ("console",)
    """veRL tracking backends (add ``wandb`` when a key is configured)."""
    reward_workers: int | None = None
    """veRL reward-loop workers (default: one per node; each judges its batches on a sandbox pool of all the
    node's cores, so more than one per node only oversubscribes the cores)."""
    extra: list[str] = field(default_factory=list)
    """Further ``key=value`` overrides appended to every run (cluster specifics)."""


def _fmt(value: object) -> str:
    """A Hydra override value: booleans lower case, floats without a trailing ``.0`` where exact."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e16 else str(int(value)) + ".0"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    if value is None:
        return "null"
    text = str(value)
    # Hydra's override grammar: quote anything that is not a plain word/path
    if any(c in text for c in " ,[]{}()'\"=:$\\*?<>"):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def stage_overrides(recipe: Recipe, stage: StageCfg, *, run_name: str, train_file: Path, model_path: Path | str,
                    checkpoint_dir: Path, reward_path: str, cluster: ClusterCfg | None = None,
                    epoch: int = 0, epochs: int | None = None,
                    agent_loop_config: Path | str | None = None) -> list[str]:
    """The overrides (``key=value`` strings, one per line in ``overrides.txt``) for one veRL run.

    ``epoch`` picks the temperature and group size of a scheduled stage; ``epochs`` overrides the run's
    epoch count (a scheduled stage runs one epoch per veRL run). ``agent_loop_config`` is the file listing our
    agent loop for veRL's agent-loop workers (``DIR/agent_loops.yaml``; without it they find the loop through
    our plugin). The rollout temperature is the first epoch's: our trainer mode sets every later one.
    """
    c = cluster or ClusterCfg()
    t = recipe.train
    n = stage.group_size_at(epoch)
    batch = stage.prompts_per_step
    seq_tokens = stage.max_prompt_tokens + stage.max_response_tokens
    kv: list[tuple[str, object]] = [
        # algorithm: GRPO, advantage (r - mean) / (std + eps), no KL in the reward
        ("algorithm.adv_estimator", "grpo"),
        ("algorithm.norm_adv_by_std_in_grpo", t.advantage == "grpo"),
        ("algorithm.use_kl_in_reward", False),
        # data
        ("data.train_files", [str(train_file)]),
        # veRL always builds a validation set; validation itself is off (test_freq=-1, no val before train)
        ("data.val_files", [str(train_file)]),
        ("data.prompt_key", "prompt"),
        ("data.reward_fn_key", "data_source"),
        ("data.train_batch_size", batch),
        ("data.max_prompt_length", stage.max_prompt_tokens),
        ("data.max_response_length", stage.max_response_tokens),
        ("data.filter_overlong_prompts", True),
        ("data.truncation", "error"),
        ("data.shuffle", True),
        ("data.seed", t.seed),
        # model
        ("actor_rollout_ref.model.path", str(model_path)),
        ("actor_rollout_ref.model.enable_gradient_checkpointing", recipe.model.gradient_checkpointing),
        ("actor_rollout_ref.model.use_remove_padding", True),
        # actor: one update per rollout batch (mini-batch = batch, one epoch), token-mean loss, no KL/entropy
        ("actor_rollout_ref.actor.ppo_mini_batch_size", batch),
        ("actor_rollout_ref.actor.ppo_epochs", t.updates_per_batch),
        ("actor_rollout_ref.actor.loss_agg_mode", t.loss_aggregation),
        ("actor_rollout_ref.actor.use_kl_loss", t.kl_coef > 0),
        ("actor_rollout_ref.actor.entropy_coeff", 0),
        ("actor_rollout_ref.actor.use_dynamic_bsz", True),
        ("actor_rollout_ref.actor.ppo_max_token_len_per_gpu", seq_tokens),
        ("actor_rollout_ref.actor.optim.lr", stage.lr),
        ("actor_rollout_ref.actor.optim.betas", list(t.adam_betas)),
        ("actor_rollout_ref.actor.optim.weight_decay", t.weight_decay),
        ("actor_rollout_ref.actor.optim.lr_warmup_steps", t.warmup_steps),
        ("actor_rollout_ref.actor.optim.lr_scheduler_type", "constant"),
    ]
    if t.kl_coef > 0:
        kv += [("actor_rollout_ref.actor.kl_loss_coef", t.kl_coef),
               ("actor_rollout_ref.actor.kl_loss_type", "low_var_kl")]
    if t.grad_clip is not None:
        kv.append(("actor_rollout_ref.actor.grad_clip", t.grad_clip))
    if t.clip_eps is not None:
        kv += [("actor_rollout_ref.actor.clip_ratio_low", t.clip_eps),
               ("actor_rollout_ref.actor.clip_ratio_high", t.clip_eps_high or t.clip_eps)]
    kv += [
        # rollout: vLLM, G samples per prompt at the stage's temperature / top-p
        ("actor_rollout_ref.rollout.name", c.rollout_engine),
        ("actor_rollout_ref.rollout.n", n),
        ("actor_rollout_ref.rollout.temperature", stage.temperature_at(epoch)),
        ("actor_rollout_ref.rollout.top_p", stage.top_p),
        ("actor_rollout_ref.rollout.tensor_model_parallel_size", c.rollout_tp),
        ("actor_rollout_ref.rollout.gpu_memory_utilization", c.gpu_memory_utilization),
        ("actor_rollout_ref.rollout.max_num_batched_tokens", max(8192, seq_tokens)),
        ("actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu", seq_tokens),
        ("actor_rollout_ref.ref.log_prob_max_token_len_per_gpu", seq_tokens),
        # our agent loop: veRL's single-turn loop at the temperature our trainer mode chose per batch (the
        # epoch's scheduled one, or the entropy-targeted one); the trainer also routes its batches to it
        ("actor_rollout_ref.rollout.agent.default_agent_loop", AGENT_LOOP),
    ]
    if agent_loop_config is not None:
        kv.append(("actor_rollout_ref.rollout.agent.agent_loop_config_path", str(agent_loop_config)))
    if stage.zero_variance_groups == "resample":
        # DAPO dynamic sampling: keep drawing prompts until the batch holds only mixed groups
        kv += [("algorithm.filter_groups.enable", True), ("algorithm.filter_groups.metric", "acc")]
    kv += [
        # reward: our verifiers (per sample through compute_score, or in batches by our reward manager)
        ("reward.custom_reward_function.path", reward_path),
        ("reward.custom_reward_function.name", "compute_score"),
        ("reward.num_workers", c.reward_workers or c.nnodes),
    ]
    if not t.reward_fn:  # a custom train.reward_fn keeps veRL's per-sample manager with its adapter
        kv += [
            ("reward.reward_manager.source", "importlib"),
            ("reward.reward_manager.name", "AceReasonRewardManager"),
            ("reward.reward_manager.module.path", REWARD_MANAGER_MODULE),
            ("+acereason.reward.timeout_s", float(t.reward_timeout_s)),
            ("+acereason.reward.workers", t.verify_workers),
        ]
    kv += [
        # our trainer extension (registered by the plugin): epochs, loss masks, verdict metrics in one run
        ("trainer.v1.trainer_mode", "acereason"),
        *((f"+acereason.stage.{k}", v) for k, v in plugin_stage(stage).items()),
        # trainer
        ("trainer.project_name", recipe.name),
        ("trainer.experiment_name", run_name),
        ("trainer.logger", list(c.logger)),
        ("trainer.n_gpus_per_node", c.n_gpus_per_node),
        ("trainer.nnodes", c.nnodes),
        ("trainer.default_local_dir", str(checkpoint_dir)),
        ("trainer.save_freq", t.checkpoint_every),
        ("trainer.max_actor_ckpt_to_keep", t.keep_checkpoints),
        ("trainer.resume_mode", "auto"),
        ("trainer.val_before_train", False),
        ("trainer.test_freq", -1),
        ("trainer.critic_warmup", 0),
    ]
    run_epochs = epochs if epochs is not None else stage.epochs
    if stage.steps is not None and epochs is None:
        kv += [("trainer.total_training_steps", stage.steps), ("trainer.total_epochs", 1000)]
    else:
        kv.append(("trainer.total_epochs", run_epochs))
    out = [f"{k}={_fmt(v)}" for k, v in kv]
    return out + list(c.extra)


AGENT_LOOP = "acereason_single_turn"
"""Our agent loop's name (:mod:`acereason.integrations.verl_agent_loop`, ``AGENT_NAME``)."""

REWARD_MANAGER_MODULE = "pkg://acereason.integrations.verl_reward_manager"
"""Where veRL imports our batch reward manager from (``reward.reward_manager.source=importlib``)."""


def plugin_stage(stage: StageCfg) -> dict[str, object]:
    """The stage settings our trainer extension reads (``+acereason.stage.*``; see
    :class:`acereason.integrations.verl_trainer.StageSpec`)."""
    d: dict[str, object] = {
        "epochs": stage.epochs or 1, "temperature": stage.temperature,
        "rollouts_per_prompt": stage.rollouts_per_prompt,
        "remove_solved_each_epoch": stage.remove_solved_each_epoch,
        "overlong_filtering": stage.overlong_filtering, "zero_variance_groups": stage.zero_variance_groups,
    }
    if stage.temperature_schedule:
        d["temperature_schedule"] = list(stage.temperature_schedule)
    if stage.rollouts_schedule:
        d["rollouts_schedule"] = list(stage.rollouts_schedule)
    if stage.entropy_target is not None:
        d["entropy_target"] = stage.entropy_target
    return d


def unexpressed(stage: StageCfg) -> list[str]:
    """Recipe settings veRL's ``main_ppo`` has no knob for, and what the export does about each."""
    notes = []
    # temperature_schedule and entropy_target are carried: our trainer mode writes the batch's temperature per
    # sample, our agent loop sends it to vLLM, and the actor's log-probs use the same one (verl_trainer)
    if stage.replay_data:
        notes.append(f"replay_data: mixed into the parquet at the recipe's fraction ({stage.replay_fraction}) "
                     "instead of per batch; batches hold that fraction in expectation.")
    if stage.only_unsolved_from:
        notes.append(f"only_unsolved_from={stage.only_unsolved_from}: veRL keeps no per-prompt history; "
                     "`acereason export verl-filter` drops prompts the entering policy solves in every sample "
                     "(with pass_rate_filter, its max pass rate applies, which is stricter).")
    return notes
