"""A static-shape sampling loop for CUDA: transformers' ``StaticCache`` and a compiled (CUDA-graph) decode step.

:class:`HFGenerator` drops finished rows and lets its cache grow, so every decode step has a new shape; on a
GPU each step then pays Python and kernel-launch overhead that a 1-7B model's forward does not hide (a decode
step is a few milliseconds of matmuls behind a few hundred kernel launches). This loop keeps every shape
fixed for a whole batch, so the decode forward can be captured once as a CUDA graph
(``torch.compile(mode="reduce-overhead")``) and replayed per token:

- prompts are tokenized and packed into batches exactly as in :class:`HFGenerator` (same ``plan_batches``,
  longest first, a prompt's ``n`` samples as ``n`` rows);
- each batch prefills its distinct prompts once (left padding, transformers' dynamic cache, not compiled),
  then copies the prompt keys/values into a ``StaticCache`` of ``rows x capacity`` positions, where capacity
  is prompt width + ``max_tokens`` rounded up to ``capacity_multiple`` so that batches of similar lengths
  reuse one cache and one captured graph;
- every decode step runs all rows (finished ones too: their tokens are discarded) with a fixed-shape
  (rows, 1, 1, capacity) attention mask updated in place;
- sampling is :func:`acereason.generate.hf.sample_next` on the logits of the rows still running, in row
  order, from the same seeded local ``torch.Generator``. The random stream is therefore consumed exactly as
  in :class:`HFGenerator`: with equal prompts, params, seed and ``batch_size`` the two return the same tokens
  up to floating-point differences between the two forwards (on CPU in float32: identical; a test checks it).

The contract is :class:`HFGenerator`'s: ``text``, ``token_ids`` (eos included), ``finish_reason``,
``prompt_token_ids`` and ``logprobs`` under the temperature-scaled, top-p-renormalised distribution the token
was drawn from. The price of static shapes: finished rows keep computing until the batch's last row ends
(``HFGenerator`` shrinks the batch instead), which wastes compute on batches of very different lengths.

``compile=None`` compiles the decode step on CUDA only; on CPU the loop runs eagerly (it is then about as fast
as :class:`HFGenerator`; the trainer keeps the HF loop there, see :func:`policy_generator`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import torch

from acereason.generate.base import SamplingParams
from acereason.generate.hf import HFGenerator, _Chunk, _Row, sample_next

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SamplerName = Literal["auto", "hf", "static"]


class StaticCacheGenerator(HFGenerator):
    """Sample from a live causal LM with a static KV cache and a fixed-shape (optionally compiled) decode step.

    Args are :class:`HFGenerator`'s, plus:
        compile: compile the decode forward with ``torch.compile(mode="reduce-overhead")`` (CUDA graphs);
            None: on CUDA only. If compiling fails the loop warns once and runs eagerly.
        capacity_multiple: the cache length is rounded up to a multiple of this, so batches of nearby lengths
            share one cache buffer and one compiled graph.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        dtype: torch.dtype | None = None,
        compile: bool | None = None,
        capacity_multiple: int = 256,
    ) -> None:
        super().__init__(model, tokenizer, device=device, batch_size=batch_size, dtype=dtype)
        if capacity_multiple < 1:
            raise ValueError(f"capacity_multiple must be >= 1, got {capacity_multiple}")
        layer_types = getattr(model.config, "layer_types", None)
        if (layer_types is not None and any(t != "full_attention" for t in layer_types)) or (
                layer_types is None and getattr(model.config, "sliding_window", None) is not None
                and getattr(model.config, "use_sliding_window", True)):
            raise ValueError("StaticCacheGenerator supports full-attention models only (this one has sliding-window "
                             "or other layer kinds); use HFGenerator")
        self.compile = self.device.type == "cuda" if compile is None else compile
        self.capacity_multiple = capacity_multiple
        self._cache: Any = None
        self._cache_key: tuple[int, int, torch.dtype, torch.dtype] | None = None
        self._step_fn: Callable[..., Any] | None = None

    # ----------------------------------------------------------------------------------------- cache
    def _static_cache(self, rows: int, capacity: int, dtype: torch.dtype,
                      value_dtype: torch.dtype | None = None) -> Any:
        """A ``StaticCache`` of ``rows x capacity`` (reused while the shape stays; reset, not reallocated).

        ``value_dtype`` (default ``dtype``): under autocast the keys leave RoPE in float32 while the values
        stay in the autocast dtype, and the cache must hold each as the model writes it.
        """
        from transformers import StaticCache

        value_dtype = value_dtype or dtype
        key = (rows, capacity, dtype, value_dtype)
        if self._cache is None or self._cache_key != key:
            config = self.model.config.get_text_config(decoder=True)
            heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
            head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
            cache = StaticCache(config=self.model.config, max_cache_len=capacity)
            like_k = torch.empty((rows, heads, 1, head_dim), dtype=dtype, device=self.device)
            like_v = torch.empty((rows, heads, 1, head_dim), dtype=value_dtype, device=self.device)
            for layer in cache.layers:  # allocated now, each in its dtype, addresses marked static for graphs
                layer.lazy_initialization(like_k, like_v)
            self._cache, self._cache_key = cache, key
        else:
            for layer in self._cache.layers:
                layer.cumulative_length.zero_()
        return self._cache

    def _decode_step(self) -> Callable[..., Any]:
        """The per-token forward (compiled once per generator when ``compile``)."""
        if self._step_fn is None:
            def step(input_ids: torch.Tensor, position_ids: torch.Tensor, mask: torch.Tensor,
                     cache: Any) -> torch.Tensor:
                out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
                                 use_cache=True, **{self._cache_kw: cache})
                return out.logits[:, -1, :].float()

            self._step_fn = torch.compile(step, mode="reduce-overhead", dynamic=False) if self.compile else step
        return self._step_fn

    # ----------------------------------------------------------------------------------------- decode
    def _decode_batch(self, batch: list[_Chunk], prompt_ids: list[list[int]], params: SamplingParams,
                      generator: torch.Generator) -> list[_Row]:
        dev = self.device
        lengths = [len(prompt_ids[c.prompt]) for c in batch]
        width = max(lengths)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, c in enumerate(batch):  # left padding, as in HFGenerator
            input_ids[i, width - lengths[i]:] = torch.tensor(prompt_ids[c.prompt])
            attention[i, width - lengths[i]:] = 1
        input_ids, attention = input_ids.to(dev), attention.to(dev)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        prefill = self._new_cache(width)
        logits = self._forward(input_ids, attention, positions, prefill)

        counts = [c.count for c in batch]
        rows = [_Row(c.prompt, c.first + k) for c in batch for k in range(c.count)]
        expand = torch.repeat_interleave(torch.arange(len(batch), device=dev), torch.tensor(counts, device=dev))
        logits, attention = logits[expand], attention[expand]
        next_pos = torch.tensor(lengths, device=dev)[expand]

        m = self.capacity_multiple
        capacity = -(-(width + params.max_tokens) // m) * m
        cache = self._static_cache(len(rows), capacity, prefill.layers[0].keys.dtype, prefill.layers[0].values.dtype)
        for static, dynamic in zip(cache.layers, prefill.layers, strict=True):
            static.keys[:, :, :width] = dynamic.keys[expand][:, :, :width]
            static.values[:, :, :width] = dynamic.values[expand][:, :, :width]
            static.cumulative_length.fill_(width)
        del prefill

        keep = torch.zeros((len(rows), capacity), dtype=torch.bool, device=dev)
        keep[:, :width] = attention.bool()
        mask = self._as_decode_mask(keep)  # fixed shape for the whole batch; one column set per step
        stops = params.stop
        window = max((len(s) for s in stops), default=0) + 4
        active = list(range(len(rows)))
        tokens_all = torch.full((len(rows),), self.pad_id, dtype=torch.long, device=dev)
        for step in range(params.max_tokens):
            # rows still running, in row order: the same random draws as HFGenerator's shrinking batch
            live = logits if len(active) == len(rows) else logits[torch.tensor(active, device=dev)]
            tokens, logps = sample_next(live, params, generator)
            token_list, logp_list = tokens.tolist(), logps.tolist()
            kept = self._record_step([rows[r] for r in active], token_list, logp_list, step, params, window)
            still = [active[b] for b in kept]
            if not still:
                break
            if len(active) == len(rows):
                tokens_all = tokens
            else:
                tokens_all = tokens_all.clone()
                tokens_all[torch.tensor(active, device=dev)] = tokens
            active = still
            self._open_column(mask, width + step)
            logits = self._step_with_fallback(tokens_all[:, None], next_pos[:, None], mask, cache)
            next_pos = next_pos + 1
        return rows

    def _step_with_fallback(self, ids: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor, cache: Any) -> torch.Tensor:
        """One decode step; if the compiled step fails before it ran, warn and run this step (and later ones)
        eagerly. The cache length is restored first, so a half-run compiled step cannot shift positions."""
        lengths = [layer.cumulative_length.clone() for layer in cache.layers]
        try:
            return self._decode_step()(ids, pos, mask, cache)
        except Exception as err:
            if not self.compile:
                raise
            warnings.warn(f"compiled decode step failed ({type(err).__name__}: {err}); running eagerly",
                          RuntimeWarning, stacklevel=2)
            self.compile, self._step_fn = False, None
            for layer, length in zip(cache.layers, lengths, strict=True):
                layer.cumulative_length.copy_(length)
            return self._decode_step()(ids, pos, mask, cache)

    @staticmethod
    def _open_column(mask: torch.Tensor, column: int) -> None:
        """Let every row attend to ``column`` (the position the next token's key is written to), in place."""
        if mask.dtype == torch.bool:
            mask[..., column] = True
        elif mask.dim() == 4:  # additive float mask: 0 = attend
            mask[..., column] = 0
        else:
            mask[..., column] = 1


def from_spec(rest: str, **kw: Any) -> StaticCacheGenerator:
    """The ``static:PATH`` backend for :func:`acereason.generate.registry.make_generator`: ``kw`` go to
    :meth:`HFGenerator.from_pretrained` (device, batch_size, dtype)."""
    gen = StaticCacheGenerator.from_pretrained(rest, **kw)
    assert isinstance(gen, StaticCacheGenerator)
    return gen


def policy_generator(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, device: torch.device,
                     batch_size: int, sampler: SamplerName = "auto",
                     dtype: torch.dtype | None = None) -> HFGenerator:
    """The trainer's sampler over its live policy: ``static`` (:class:`StaticCacheGenerator`) or ``hf``
    (:class:`HFGenerator`); ``auto`` picks ``static`` on CUDA for full-attention models, ``hf`` otherwise."""
    if sampler not in ("auto", "hf", "static"):
        raise ValueError(f"unknown sampler {sampler!r}; use auto, hf or static")
    if sampler == "auto":
        layer_types = getattr(model.config, "layer_types", None)
        full = (all(t == "full_attention" for t in layer_types) if layer_types is not None
                else getattr(model.config, "sliding_window", None) is None
                or not getattr(model.config, "use_sliding_window", True))
        sampler = "static" if torch.device(device).type == "cuda" and full else "hf"
    if sampler == "static":
        return StaticCacheGenerator(model, tokenizer, device=device, batch_size=batch_size, dtype=dtype)
    return HFGenerator(model, tokenizer, device=device, batch_size=batch_size, dtype=dtype)
