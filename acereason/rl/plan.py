"""A memory plan: each stage's estimated peak memory from the model's ``config.json`` and the recipe, no weights.

``acereason train RECIPE --plan`` prints it; a normal ``train`` refuses (before loading anything) a run whose
estimate does not fit the device: CUDA's total memory, or the RAM available on a CPU run.

What is counted, per stage (bytes; ``p`` = parameter bytes, ``a`` = activation bytes: 2 under bf16 autocast,
else ``p``; ``T`` = tokens of the largest micro-batch; ``L, H, I, V, kv`` = layers, hidden, MLP width, vocab,
key/value width):

- **weights** ``N p``, **optimizer** (AdamW: two moments per parameter) ``2 N p``, **reference policy** ``N p``
  when ``kl_coef > 0``; **gradients** ``N p`` during the update only (set to None after each step);
- **activations** of one micro-batch: the tensors autograd saves for the backward (counted with saved-tensor
  hooks, and the live peak of a whole ``train_step`` with the profiler's allocation events: within 4% of this
  count, so backward temporaries add little). Per token and layer: ``2 (4H + pH)`` for the two RMSNorms (the
  float32 normalised or up-cast copy and the input or half-precision copy); the projections' inputs, ``2pH``
  (the two norm outputs), or under autocast ``5aH`` (each of q, k, v, gate and up saves its own cast);
  ``a (3H + 2 kv)`` for attention (rotated q, SDPA output, o_proj's input, rotated k, v) and ``4aI`` for the
  MLP (gate, up, SiLU, product). Without gradient checkpointing that is kept for every layer; with it, only
  the ``pH`` layer input per layer plus one layer's set, recomputed in its backward. Under autocast the
  casts of the layers' weights (``a`` bytes per non-embedding parameter) are saved too: all layers' without
  checkpointing, one layer's with it;
- **head**: the chunked LM head's float32 chunk (:data:`acereason.rl.head.CHUNK_ELEMENTS` values) with its two
  same-sized temporaries, the float32 head-weight gradient ``V H 4`` it accumulates, and the hidden states it
  keeps (``T H p``, with their gradient);
- **KV cache** of the sampler: ``rows x (prompt + response) x L x 2 kv x p`` for a batch of
  ``min(generation_batch_size, prompts x group)`` rows; the HF loop resizes it when rows finish (old and new
  buffer side by side: counted twice), the static-cache loop allocates it once; the largest of the stage's
  rollouts and its pass-rate filter. The sampler's per-step float32 logits (``rows x V x 4``, six copies
  through sorting, softmax and the cumulative sum) are added;
- **runtime**: the CUDA context and allocator slack (1 GiB) or the CPU process itself (0.4 GiB: its imports,
  0.25 GiB, and what the first forward, backward and generate add whatever the shape, 0.15 GiB: code pages,
  thread pools, lazy initialisation; measured on a 1-layer width-64 model by ``benchmarks/plan_memory.py``).

The stage's peak is the larger of the sampling phase (weights, optimizer, reference, KV cache, sampler logits)
and the update phase (weights, optimizer, reference, gradients, activations, head), plus the runtime: the
bytes the allocator holds live, as ``torch.cuda.max_memory_allocated`` counts them. Measured against the peak
RSS of CPU runs with glibc's mmap threshold fixed (``MALLOC_MMAP_THRESHOLD_=65536``, so freed tensors go back
to the system and RSS follows the live bytes; ``benchmarks/plan_memory.py``, numbers in
``benchmarks/RESULTS.md``). Not counted: glibc's retention under its default dynamic threshold (freed blocks
under 32 MiB stay in the heap: +0.65 to +0.86 GiB at width 512 in that table), attention score matrices (SDPA's
fused kernels do not materialise them on CUDA; on CPU its math fallback can, for long padded prompts) and
fragmentation beyond the slack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acereason.rl.recipe import Recipe, StageCfg
from acereason.schema import DataError

GIB = 1 << 30
RUNTIME_BYTES = {"cuda": 1 * GIB, "cpu": int(0.4 * GIB)}
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_HEAD_TEMPORARIES = 3  # the chunk's logits, its exp / dz, and dz cast for the matmul
_SAMPLER_LOGIT_COPIES = 6


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs of a decoder-only transformer (read from ``config.json``)."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    tied: bool
    qkv_bias: bool = False

    @property
    def kv_width(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def params(self) -> int:
        """Parameter count of a Llama/Qwen2-style model (embeddings, attention, SwiGLU MLP, RMSNorms, head)."""
        h, kv = self.hidden, self.kv_width
        q = self.heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        layer = attn + 3 * h * self.intermediate + 2 * h
        return self.vocab * h * (1 if self.tied else 2) + self.layers * layer + h


def shape_from_config(config: dict[str, Any], source: str | Path | None = None) -> ModelShape:
    """A :class:`ModelShape` from a ``config.json`` mapping (a nested ``text_config`` is used when present)."""
    cfg = config.get("text_config") or config
    try:
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        head_dim = int(cfg.get("head_dim") or hidden // heads)
        return ModelShape(vocab=int(cfg["vocab_size"]), hidden=hidden, layers=int(cfg["num_hidden_layers"]),
                          heads=heads, kv_heads=int(cfg.get("num_key_value_heads") or heads), head_dim=head_dim,
                          intermediate=int(cfg["intermediate_size"]),
                          tied=bool(config.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))),
                          qkv_bias=bool(cfg.get("attention_bias", cfg.get("model_type") == "qwen2")))
    except KeyError as err:
        raise DataError(source, None, f"config.json has no {err.args[0]!r}; cannot plan memory",
                        field=str(err.args[0])) from None


def recipe_shape(recipe: Recipe) -> ModelShape:
    """The policy's shape: ``model.path``'s ``config.json`` (nothing else is read) or the tiny model's."""
    cfg = recipe.model
    if cfg.tiny and not cfg.path:
        from acereason.models.tiny import MARKERS, TinyModelConfig

        tiny = TinyModelConfig(layers=cfg.tiny_layers, hidden=cfg.tiny_hidden)
        import string

        vocab = 3 + len(set(string.printable.replace("\x0b", "").replace("\x0c", ""))) + len(MARKERS)
        return ModelShape(vocab=vocab, hidden=tiny.hidden, layers=tiny.layers, heads=tiny.heads,
                          kv_heads=tiny.kv_heads, head_dim=tiny.hidden // tiny.heads,
                          intermediate=tiny.intermediate, tied=True, qkv_bias=tiny.arch == "qwen2")
    path = recipe.resolve(cfg.path or "") / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(path, None, f"cannot read model config: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"invalid JSON: {err.msg}") from None
    return shape_from_config(config, path)


@dataclass
class StagePlan:
    """One stage's estimate: its components (bytes) and the two phases' peaks."""

    stage: str
    parts: dict[str, int] = field(default_factory=dict)
    sampling: int = 0
    update: int = 0

    @property
    def peak(self) -> int:
        return max(self.sampling, self.update)

    @property
    def phase(self) -> str:
        return "sampling" if self.sampling >= self.update else "update"


def _layer_bytes_per_token(s: ModelShape, p: int, a: int) -> int:
    """Bytes autograd saves per token for one decoder layer (see the module docstring)."""
    h, kv = s.hidden, s.kv_width
    norms = 2 * (4 * h + p * h)
    projection_inputs = 5 * a * h if a != p else 2 * p * h
    attn = a * (3 * h + 2 * kv)
    mlp = 4 * a * s.intermediate
    return norms + projection_inputs + attn + mlp


def plan_stage(shape: ModelShape, recipe: Recipe, stage: StageCfg, device_type: str,
               sampler: str | None = None) -> StagePlan:
    """The estimate for ``stage`` on a device of type ``device_type`` (``cuda`` or ``cpu``)."""
    model, train = recipe.model, recipe.train
    p = _DTYPE_BYTES[model.dtype]
    a = 2 if model.bf16_autocast else p
    n = shape.params
    weights, optimizer = n * p, 2 * n * p
    ref = n * p if train.kl_coef > 0 else 0
    grads = n * p

    seq = stage.max_prompt_tokens + stage.max_response_tokens
    if train.max_tokens_per_micro_batch is not None:
        tokens = max(train.max_tokens_per_micro_batch, seq)
    else:
        rows = min(train.micro_batch_size, stage.prompts_per_step * max(
            [stage.rollouts_per_prompt, *(stage.rollouts_schedule or [])]))
        tokens = rows * seq
    per_layer = _layer_bytes_per_token(shape, p, a) * tokens
    layer_params = (shape.params - shape.vocab * shape.hidden * (1 if shape.tied else 2) - shape.hidden) // shape.layers
    weight_casts = layer_params * a if a != p else 0  # autocast's copies, saved by each linear for its backward
    if model.gradient_checkpointing:
        activations = shape.layers * tokens * shape.hidden * p + per_layer + weight_casts
    else:
        activations = shape.layers * (per_layer + weight_casts)
    from acereason.rl.head import CHUNK_ELEMENTS

    head = (_HEAD_TEMPORARIES * min(CHUNK_ELEMENTS, tokens * shape.vocab) * 4 + shape.vocab * shape.hidden * 4
            + 2 * tokens * shape.hidden * p)

    kind = sampler or train.sampler
    if kind == "auto":
        kind = "static" if device_type == "cuda" else "hf"
    group = max([stage.rollouts_per_prompt, *(stage.rollouts_schedule or [])])
    budgets = [(min(train.generation_batch_size, stage.prompts_per_step * group), stage.max_response_tokens)]
    if stage.pass_rate_filter is not None:
        filt = stage.pass_rate_filter
        rows = max(1, train.generation_batch_size // filt.samples) * filt.samples
        budgets.append((rows, filt.max_tokens or stage.max_response_tokens))
    kv = 0
    logits = 0
    for rows, response in budgets:
        positions = stage.max_prompt_tokens + response
        if kind == "static":
            positions = -(-positions // 256) * 256
        one = rows * positions * shape.layers * 2 * shape.kv_width * p
        kv = max(kv, one * (2 if kind == "hf" else 1))
        logits = max(logits, rows * shape.vocab * 4 * _SAMPLER_LOGIT_COPIES)
    runtime = RUNTIME_BYTES.get(device_type, RUNTIME_BYTES["cpu"])
    parts = {"weights": weights, "optimizer": optimizer, "reference": ref, "gradients": grads,
             "activations": activations, "head": head, "kv_cache": kv, "sampler_logits": logits,
             "runtime": runtime}
    base = weights + optimizer + ref + runtime
    return StagePlan(stage.name, parts, sampling=base + kv + logits, update=base + grads + activations + head)


def plan_recipe(recipe: Recipe, device_type: str, shape: ModelShape | None = None) -> list[StagePlan]:
    """Every stage's estimate (see :func:`plan_stage`); reads only the model's ``config.json``."""
    shape = shape or recipe_shape(recipe)
    return [plan_stage(shape, recipe, stage, device_type) for stage in recipe.stages]


def device_memory(device: str) -> tuple[int, str]:
    """Bytes the run may use on ``device`` and how that was found: CUDA total memory, or available RAM."""
    if device.startswith("cuda"):
        import torch

        index = int(device.partition(":")[2] or torch.cuda.current_device())
        props = torch.cuda.get_device_properties(index)
        return int(props.total_memory), f"{props.name} total memory"
    return available_ram(), "available RAM"


def available_ram() -> int:
    """``MemAvailable`` from /proc/meminfo (Linux), else total physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gib(x: int) -> str:
    return f"{x / GIB:.2f}"


def format_plan(plans: list[StagePlan], device: str, memory: int, memory_source: str) -> str:
    """The table ``--plan`` prints: one row per stage, GiB."""
    cols = ["weights", "optimizer", "reference", "gradients", "activations", "head", "kv_cache", "sampler_logits",
            "runtime"]
    header = ["stage", *cols, "sampling", "update", "peak", "fits"]
    rows = [header]
    for sp in plans:
        rows.append([sp.stage, *(gib(sp.parts[c]) for c in cols), gib(sp.sampling), gib(sp.update), gib(sp.peak),
                     "yes" if sp.peak <= memory else f"no (short {gib(sp.peak - memory)})"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.append(f"estimated peak memory in GiB on {device}: {gib(memory)} GiB ({memory_source})")
    return "\n".join(lines)


def first_shortfall(plans: list[StagePlan], memory: int) -> StagePlan | None:
    """The first stage whose estimated peak exceeds ``memory``, or None."""
    return next((sp for sp in plans if sp.peak > memory), None)
