"""The recipe: a YAML file of stages, validated by pydantic before any work starts.

Every knob AceReason-Nemotron (arXiv 2505.16400) names is a field here; ``configs/acereason-7b.yaml``
and ``configs/acereason-14b.yaml`` encode the paper's schedule (math 8K -> 16K -> 24K, code 24K -> 32K,
final math 32K). A bad recipe fails with one line naming the file and the field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from acereason.cli_util import OptionError, import_target
from acereason.prompts import CODE_INSTRUCTION, MATH_INSTRUCTION
from acereason.rl.names import AdvantageEstimator, LossAggregation, PromptOverflow, SamplerKind, ZeroVarianceGroups
from acereason.schema import DataError, _first_error


class _Cfg(BaseModel):
    # attribute docstrings become the fields' descriptions (``model_fields[name].description``): the one
    # text the docs reference is generated from and checked against
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ModelCfg(_Cfg):
    """Where the policy comes from: a local Hugging Face directory, or the in-process tiny model."""

    path: str | None = None
    """Local HF model directory (no hub access). Relative paths resolve against the recipe file."""
    tiny: bool = False
    """Build the tiny char-level Qwen2 in-process (tests, demo) instead of loading ``path``."""
    tiny_layers: int = 2
    """Tiny model depth."""
    tiny_hidden: int = 128
    """Tiny model width."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype. On GPU keep float32 master weights and use ``bf16_autocast``."""
    bf16_autocast: bool = False
    """bf16 autocast for forward/backward (GPU)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward (long responses on GPU)."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelCfg:
        if not self.tiny and not self.path:
            raise ValueError("set 'path' to a local model directory, or 'tiny: true'")
        return self


class PassRateFilter(_Cfg):
    """Stage-entry prompt filter: sample ``samples`` responses per prompt with the entering policy and keep
    prompts whose pass rate lies in [min_pass_rate, max_pass_rate]. The paper keeps prompts solved at
    most 6/16 times at its 24K/32K math stages."""

    samples: int = Field(16, ge=1)
    """Responses sampled per prompt for the measurement (16 in the paper)."""
    max_pass_rate: float = Field(6 / 16, ge=0, le=1)
    """Keep prompts solved at most this often (6/16 in the paper)."""
    min_pass_rate: float = Field(0.0, ge=0, le=1)
    """Keep prompts solved at least this often (0: never-solved prompts are kept)."""
    max_tokens: int | None = None
    """Response budget for the measurement (defaults to the stage's)."""


class StageCfg(_Cfg):
    """One RL stage (the paper trains each as its own run, initialised from the previous stage)."""

    name: str
    """Stage name (unique; the stage policy is saved under ``stages/NN-<name>/``)."""
    domain: Literal["math", "code"]
    """Which verifier scores the stage's rollouts and which instruction its prompts get."""
    data: list[str] = Field(min_length=1)
    """Problem files (our schema, JSONL or Parquet), relative to the recipe file."""
    max_response_tokens: int = Field(gt=0)
    """Response length budget; the paper's curriculum is 8K -> 16K -> 24K (math), 24K -> 32K (code)."""
    max_prompt_tokens: int = Field(1024, gt=0)
    """Prompt budget (chat template included), enforced by ``prompt_overflow``; also the veRL export's
    ``data.max_prompt_length``."""
    prompt_overflow: PromptOverflow = PromptOverflow.DROP
    """A prompt over ``max_prompt_tokens``: ``drop`` it at stage entry (counted in the stage's filtered prompts
    as ``prompt_too_long``), or ``truncate_left`` (keep its last ``max_prompt_tokens`` tokens; counted per step
    in ``prompts/truncated``). Dropping is the default: cutting the front of a prompt cuts the chat header and
    the start of the problem statement, so the model would be rewarded for answering a question it never saw."""
    rollouts_per_prompt: int = 8
    """Group size G (8 at 8K; 16 at 16K/24K for math)."""
    prompts_per_step: int = Field(128, ge=1)
    """Prompts per rollout batch (128 in the paper)."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature (1.0 in the paper's math stages, 0.6 at code stage 1)."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling (1.0: off)."""
    lr: float = Field(1e-6, gt=0)
    """AdamW learning rate: 1e-6 math, 5e-6 code (as printed in the paper)."""
    steps: int | None = Field(None, ge=1)
    """Stage length in steps (set exactly one of ``steps``, ``epochs``)."""
    epochs: int | None = Field(None, ge=1)
    """Stage length in passes over its prompts."""
    overlong_filtering: bool = False
    """Mask the loss of truncated responses (AceReason 1.1: on at 8K/16K, off at 32K)."""
    pass_rate_filter: PassRateFilter | None = None
    """Stage-entry pass-rate filter (the paper's 24K/32K math stages keep prompts solved at most 6/16)."""
    remove_solved_each_epoch: bool = False
    """Epoch-wise removal of prompts that every rollout solved during the epoch (code stage 2)."""
    difficulty_max: float | None = Field(None, ge=0)
    """Keep problems whose ``meta.difficulty_score`` (0-8, from validator pass rates) is at most this
    (code stage 1: 5 for 7B, 7 for 14B). Problems without a score are kept."""
    temperature_schedule: list[float] | None = None
    """Per-epoch temperatures (code stage 2: 0.6 -> 1.0); the last value repeats."""
    rollouts_schedule: list[int] | None = None
    """Per-epoch group sizes (code stage 2: 8 -> 16); the last value repeats."""
    entropy_target: float | None = Field(None, gt=0)
    """Adapt temperature each step to hold the sampled-token entropy near this (AceReason 1.1: ~0.3)."""
    zero_variance_groups: ZeroVarianceGroups = ZeroVarianceGroups.KEEP
    """Groups whose rollouts all get the same reward carry no signal: keep them (advantage 0), drop
    them from the loss, or sample more prompts to refill the batch."""
    replay_data: list[str] = Field(default_factory=list)
    """Other-domain problem files mixed into each batch (guards the other domain's output format)."""
    replay_fraction: float = Field(0.0, ge=0, lt=1)
    """Share of each batch taken from ``replay_data``."""
    only_unsolved_from: str | None = None
    """Keep only prompts never solved in the named earlier stage (the paper's final math 32K stage)."""

    @model_validator(mode="after")
    def _check(self) -> StageCfg:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("set exactly one of 'steps' or 'epochs'")
        sizes = [self.rollouts_per_prompt, *(self.rollouts_schedule or [])]
        if min(sizes) < 2:
            raise ValueError("GRPO requires at least 2 rollouts per prompt (group size >= 2)")
        if self.replay_fraction and not self.replay_data:
            raise ValueError("replay_fraction > 0 needs replay_data files")
        if self.temperature_schedule is not None and (not self.temperature_schedule
                                                      or min(self.temperature_schedule) <= 0):
            raise ValueError("temperature_schedule must be a non-empty list of positive temperatures")
        return self

    def temperature_at(self, epoch: int) -> float:
        if self.temperature_schedule:
            return self.temperature_schedule[min(epoch, len(self.temperature_schedule) - 1)]
        return self.temperature

    def group_size_at(self, epoch: int) -> int:
        if self.rollouts_schedule:
            return self.rollouts_schedule[min(epoch, len(self.rollouts_schedule) - 1)]
        return self.rollouts_per_prompt


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class TrainCfg(_Cfg):
    """Settings shared by all stages.

    Every field's description starts with ``Paper:`` (the default is AceReason-Nemotron's value, arXiv
    2505.16400) or ``Ours:`` (the paper does not fix it; the default is our choice). ``docs/training.md``'s
    ``train`` table is generated from these descriptions (``scripts/recipe_reference.py``)."""

    seed: int = 0
    """Ours: every random choice (prompt order, sampling, resampling) derives from it and the position in the
    run, so a run repeats exactly."""
    device: str = "auto"
    """Ours: ``auto`` picks CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N``, ``mps``. The
    spelling is checked here, availability on this machine when the trainer starts (before the model
    loads)."""
    deterministic: bool = True
    """Ours: deterministic torch algorithms (CPU runs then resume to identical metrics)."""
    micro_batch_size: int = Field(16, ge=1)
    """Ours: responses per forward/backward; gradients accumulate to one step per rollout batch, so it
    changes memory, not the update. Ignored when ``max_tokens_per_micro_batch`` is set."""
    max_tokens_per_micro_batch: int | None = Field(None, ge=1)
    """Ours: token budget (prompt + response, padding included) per forward/backward instead of a count:
    sequences are sorted by length and cut into micro-batches within the budget (packed into one row, no
    padding, where the attention supports it). A sequence longer than the budget gets a micro-batch of its
    own."""
    updates_per_batch: int = Field(1, ge=1)
    """Paper: 1 = strictly on-policy, one gradient step per rollout batch. More re-uses a batch off-policy
    and needs ``clip_eps``."""
    clip_eps: float | None = Field(None, gt=0, lt=1)
    """Paper: none (on-policy the ratio is exactly 1, so no clip can bind). PPO ratio clip; only allowed
    with ``updates_per_batch > 1``."""
    clip_eps_high: float | None = Field(None, gt=0)
    """Paper: none. Upper clip (DAPO's clip-higher); needs ``clip_eps``."""
    advantage: AdvantageEstimator = AdvantageEstimator.GRPO
    """Paper: ``grpo``, ``(r - mean) / (std + eps)`` over the group on every token of a response;
    ``dr_grpo``: ``r - mean`` (no std scaling)."""
    loss_aggregation: LossAggregation = LossAggregation.TOKEN_MEAN
    """Paper: ``token-mean``, the token-level loss normalised by the batch's total response tokens (DAPO
    style); ``seq-mean-token-mean`` (the GRPO paper), ``seq-mean-token-sum``."""
    tis_cap: float | None = Field(None, gt=0)
    """Paper: none (off). Truncated importance sampling against the sampler: scale each token's loss by
    ``min(pi_train / pi_sampler, tis_cap)`` (e.g. 2), correcting for a sampler whose log-probs differ from the
    training forward's (another engine, another precision; see ``mismatch/*`` metrics)."""
    kl_coef: float = Field(0.0, ge=0)
    """Paper: 0 (no KL term). Weight of the k3 KL to the stage's initial policy."""
    weight_decay: float = Field(0.0, ge=0)
    """Ours: AdamW weight decay (the paper gives none)."""
    adam_betas: tuple[float, float] = (0.9, 0.999)
    """Ours: AdamW betas (torch's defaults; the paper gives none)."""
    warmup_steps: int = Field(0, ge=0)
    """Ours: linear learning-rate warm-up over this many steps at the start of each stage."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Ours: global gradient-norm clip (null: none)."""
    reward_fn: str | None = None
    """Paper: none = the rule-based 1/0 reward (math: the verified ``\\boxed{}`` answer; code: the last
    python block passes all tests), ``acereason.verify.score_batch``. Else ``module:function`` of a custom
    batch reward ``fn(problems, responses) -> list[Verdict]``, imported when the recipe loads so a typo fails
    at once."""
    reward_timeout_s: float = Field(30.0, gt=0)
    """Ours: wall bound per verification (each response gets at most this); a timeout scores 0 and is
    counted in ``verify/timeouts``. The batch as a whole has a backstop deadline; verdicts reached before
    it are kept."""
    verify_workers: int | None = None
    """Ours: verifier worker processes (none: the CPU count)."""
    generation_batch_size: int = Field(64, ge=1)
    """Ours: prompts per generation call (memory, not the samples' distribution)."""
    sampler: SamplerKind = SamplerKind.AUTO
    """Ours: rollout sampler over the live policy: ``hf`` (our decode loop, shrinking batches), ``static``
    (static KV cache, CUDA-graph decode step), ``auto`` = ``static`` on CUDA, ``hf`` elsewhere; ``--sampler``
    overrides it and a resume may change it (``docs/generate.md``)."""
    checkpoint_every: int = Field(10, ge=1)
    """Ours: steps between checkpoints (also one at every epoch and stage end)."""
    keep_checkpoints: int = Field(2, ge=1)
    """Ours: checkpoints kept on disk (the oldest are removed)."""
    math_instruction: str = Field(MATH_INSTRUCTION, json_schema_extra={"doc_default": "the paper's"})
    """Paper: appended to math prompts: "Please reason step by step, and put your final answer within
    \\boxed{}."."""
    code_instruction: str = Field(CODE_INSTRUCTION, json_schema_extra={"doc_default": "ours"})
    """Ours: appended to code prompts: reasoning first, then one python code block (what the paper's
    App. A.1 asks for, in our words)."""
    system_prompt: str | None = None
    """Ours: system message for every prompt (none: no system message)."""

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        if not _DEVICE.fullmatch(v.strip().lower()):
            raise ValueError(f"unknown device {v!r}; use auto, cpu, cuda, cuda:N or mps")
        return v.strip().lower()

    @field_validator("reward_fn")
    @classmethod
    def _reward_spec(cls, v: str | None) -> str | None:
        module, sep, attr = (v or "").partition(":")
        if v is not None and (not sep or not module.strip() or not attr.strip()):
            raise ValueError(f"expected 'module:function', got {v!r}")
        return v

    @model_validator(mode="after")
    def _check(self) -> TrainCfg:
        if self.updates_per_batch > 1 and self.clip_eps is None:
            raise ValueError("updates_per_batch > 1 re-uses samples off-policy: set clip_eps (e.g. 0.2)")
        if self.clip_eps_high is not None and self.clip_eps is None:
            raise ValueError("clip_eps_high needs clip_eps (it is the upper bound of the same clip)")
        if self.clip_eps is not None and self.updates_per_batch == 1:
            # Strictly on-policy the importance ratio is exactly 1, so no clip can ever bind: a set clip_eps
            # would be a silent no-op. Refuse it rather than let a recipe claim a clip it does not have.
            raise ValueError("clip_eps has no effect with updates_per_batch: 1 (strictly on-policy, the ratio "
                             "is always 1); remove it, or set updates_per_batch > 1")
        return self


class Recipe(_Cfg):
    """A whole run: the policy, shared training settings and the ordered stages."""

    name: str = "run"
    """Run name; ``train`` writes to ``runs/<name>`` when ``--out`` is not given."""
    model: ModelCfg
    """The policy."""
    train: TrainCfg = Field(default_factory=TrainCfg)
    """Settings shared by all stages."""
    stages: list[StageCfg] = Field(min_length=1)
    """The ordered RL stages, names unique."""
    base_dir: Path = Field(Path("."), validate_default=True)
    """Directory that relative paths resolve against (the recipe file's directory on load). Made absolute
    when the recipe is built, so a relative ``base_dir`` never gets joined twice (``runs/x/runs/x/...``)."""

    @field_validator("base_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, stages: list[StageCfg]) -> list[StageCfg]:
        names = [s.name for s in stages]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"stage names must be unique, repeated: {sorted(dup)}")
        for i, s in enumerate(stages):
            if s.only_unsolved_from and s.only_unsolved_from not in names[:i]:
                raise ValueError(f"stage {s.name!r}: only_unsolved_from names no earlier stage")
        return stages

    def resolve(self, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else self.base_dir / path


def _doc_default(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "doc_default" in extra:
        return str(extra["doc_default"])
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "defaults"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def field_reference(model: type[BaseModel]) -> str:
    """The Markdown table (``| field | default | meaning |``) of ``model``'s fields, from their descriptions:
    ``docs/training.md`` carries it verbatim (``scripts/recipe_reference.py`` rewrites it, a test checks it)."""
    rows = ["| field | default | meaning |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        text = " ".join((info.description or "").split()).replace("``", "`").replace("|", "\\|")
        rows.append(f"| `{name}` | {_doc_default(info)} | {text} |")
    return "\n".join(rows) + "\n"


def load_recipe(path: str | Path, check_files: bool = True, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and validate a recipe; raise :class:`DataError` naming the file and field on any problem.

    With ``check_files`` every data file must exist and ``train.reward_fn`` must import, so a typo fails
    before any model is loaded.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(path, None, f"cannot read recipe: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        raise DataError(path, None if line is None else line + 1, f"invalid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise DataError(path, None, "a recipe is a YAML mapping with 'model' and 'stages'")
    raw.update(overrides or {})
    raw.setdefault("base_dir", str(path.parent.resolve()))
    return recipe_from_dict(raw, source=path, check_files=check_files)


def check_data_files(recipe: Recipe, source: str | Path | None = None) -> None:
    """Raise :class:`DataError` naming the field (``stages.1.data.0``) of the first data or replay file
    that does not exist."""
    for i, stage in enumerate(recipe.stages):
        for key in ("data", "replay_data"):
            for j, f in enumerate(getattr(stage, key)):
                if not recipe.resolve(f).exists():
                    raise DataError(source, None, f"no such file: {recipe.resolve(f)}", field=f"stages.{i}.{key}.{j}")


def recipe_from_dict(raw: dict[str, Any], source: str | Path | None = None, check_files: bool = True) -> Recipe:
    """Validate a recipe given as a mapping (``source`` names it in errors); see :func:`load_recipe`.

    A relative or missing ``base_dir`` resolves against the current directory, once, here.
    """
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as err:
        field, msg = _first_error(err)
        raise DataError(source, None, msg, field=field) from None
    if check_files:
        check_data_files(recipe, source)
        if recipe.model.path and not recipe.model.tiny and not recipe.resolve(recipe.model.path).exists():
            raise DataError(source, None, f"no such model directory: {recipe.resolve(recipe.model.path)}",
                            field="model.path")
        if recipe.train.reward_fn:
            try:
                import_target("train.reward_fn", recipe.train.reward_fn)
            except OptionError as err:
                raise DataError(source, None, str(err).partition(": ")[2], field="train.reward_fn") from None
    return recipe
