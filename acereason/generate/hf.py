"""Batched sampling from a live Hugging Face causal LM with our own decode loop over its KV cache.

Why not ``model.generate``: for small models its per-step Python work (logits processors, stopping
criteria, input preparation) costs as much as the forward itself; this loop does one forward and one
fused sampling step per token (see ``docs/generate.md`` for the measured numbers). It also returns what
the RL trainer needs and ``generate`` does not hand back directly: the exact prompt ids and the
log-probability of each sampled token.

How a call runs:
- prompts are tokenized (chat messages through the chat template), sorted by length (longest first, so
  an out-of-memory shows up at once) and packed into batches of at most ``batch_size`` rows, where a
  prompt's ``n`` samples are ``n`` rows (split over batches when needed);
- each batch prefills every distinct prompt once (left padding), then copies its KV cache to the prompt's
  rows, so ``n`` samples share one prefill;
- every step samples all rows at once; rows that finished (eos, stop string, ``max_tokens``) are dropped
  from the batch so the remaining forwards are smaller.

Randomness comes only from a local ``torch.Generator`` seeded from ``SamplingParams.seed`` (a fresh OS seed
when it is None), so a call never touches the global RNG, and the same prompts, params, seed and
``batch_size`` give the same samples.

Log-probabilities (``Completion.logprobs``): at temperature > 0, the log-probability of the sampled token
under the distribution actually sampled from: softmax(logits / temperature), restricted to the top-p
nucleus and renormalised, computed in float32. With top_p = 1 and temperature = 1 this is exactly the
model's log-softmax, so it can be compared with (or replace) a training forward pass. At temperature 0
(greedy) the sampling distribution is a point mass, which says nothing; we return the model's
unadjusted log-softmax of the chosen token instead.

Run ``python -m acereason.generate.bench`` to compare this loop with ``model.generate`` on the tiny model.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from acereason.generate.base import Completion, FinishReason, Prompt, SamplingParams, encode_prompt, first_stop

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class _Chunk:
    """``count`` samples (numbered from ``first``) of prompt ``prompt`` that run in one batch."""

    prompt: int
    first: int
    count: int


@dataclass
class _Row:
    """One sequence being decoded."""

    prompt: int
    sample: int
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish: FinishReason | None = None


def plan_batches(lengths: Sequence[int], n: int, batch_size: int) -> list[list[_Chunk]]:
    """Pack ``n`` rows per prompt into batches of at most ``batch_size`` rows, longest prompts first.

    Sorting by length keeps prompts of similar length together, which cuts left padding; a prompt's samples
    stay contiguous so they share one prefill, and are split over batches only when a batch is full.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[_Chunk]] = []
    current: list[_Chunk] = []
    room = batch_size
    for p in order:
        first = 0
        while first < n:
            take = min(n - first, room)
            current.append(_Chunk(p, first, take))
            first += take
            room -= take
            if room == 0:
                batches.append(current)
                current, room = [], batch_size
    if current:
        batches.append(current)
    return batches


def sample_next(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row from float32 ``logits`` (B, V); return the tokens (B,) and their log-probs (B,).

    The log-prob is taken under the temperature-scaled, top-p-truncated, renormalised distribution that the
    token was drawn from (at temperature 0: argmax, with the unscaled log-softmax; see the module docstring).
    Top-p keeps a token when the probability mass of the more likely tokens before it is still below
    ``top_p``, so the most likely token is always kept and ``top_p -> 0`` is greedy.

    Drawing is by inverse CDF (one uniform per row, a cumsum and a binary search), which on CPU is 4-10x
    faster than ``torch.multinomial`` and needs B random numbers per step instead of B x V.
    """
    if params.temperature == 0:
        tokens = logits.argmax(-1, keepdim=True)  # (B, 1)
        return tokens.squeeze(-1), logits.log_softmax(-1).gather(-1, tokens).squeeze(-1)
    logits = logits / params.temperature
    order = None
    if params.top_p < 1:
        logits, order = logits.sort(-1, descending=True)
        probs = logits.softmax(-1)
        outside = (probs.cumsum(-1) - probs) >= params.top_p  # (B, V): the mass before this token is enough
        logits = logits.masked_fill(outside, float("-inf"))
    logp = logits.log_softmax(-1)  # (B, V)
    probs = logp.exp()
    cdf = probs.cumsum(-1)
    u = torch.rand((logits.shape[0], 1), generator=generator, device=logits.device, dtype=cdf.dtype)
    choice = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=logits.shape[-1] - 1)  # (B, 1)
    # float rounding can land the draw on a zero-probability token (u*total == total); take the mode then
    zero = probs.gather(-1, choice) == 0
    choice = torch.where(zero, probs.argmax(-1, keepdim=True), choice)
    tokens = order.gather(-1, choice) if order is not None else choice
    return tokens.squeeze(-1), logp.gather(-1, choice).squeeze(-1)


class HFGenerator:
    """Sample from a live ``transformers`` causal LM (the trainer's policy) or one loaded from disk.

    The model is used as given: never copied, moved or cast. A call runs under ``torch.inference_mode``
    with every module in eval mode and restores each module's ``training`` flag afterwards.

    Args:
        model: a causal LM whose forward accepts a ``DynamicCache`` (every decoder-only model in transformers).
        tokenizer: its tokenizer; ``eos_token_id`` (and the model's ``generation_config.eos_token_id``) stop.
        device: where the model lives; None means the device of its parameters. A different device is an
            error, because moving the trainer's model from here would be a surprise.
        batch_size: most sequences decoded together (a prompt's n samples count as n). Larger is faster
            until memory runs out; the KV cache needs ``batch_size * (prompt + max_tokens)`` positions.
        dtype: run the forward under ``torch.autocast`` in this dtype (e.g. ``torch.bfloat16`` for an fp32
            policy on GPU); None runs in the model's own dtype. Sampling is always done in float32.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        dtype: torch.dtype | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = next(model.parameters()).device
        if device is not None and not _same_device(torch.device(device), self.device):
            raise ValueError(f"model is on {self.device} but device={device!r}; move the model first")
        eos = {tokenizer.eos_token_id}
        config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos.update(config_eos if isinstance(config_eos, list) else [config_eos])
        self.eos_ids = frozenset(i for i in eos if i is not None)
        if not self.eos_ids:
            raise ValueError("the tokenizer has no eos_token_id; generation could not stop")
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else min(self.eos_ids)
        # transformers 5 renamed `past_key_values` to `cache` and 4.x spelled `logits_to_keep` differently;
        # read the forward's signature once instead of pinning a version.
        accepted = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in accepted else "past_key_values"
        self._keep_kw = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in accepted), None)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        dtype: torch.dtype | None = None,
    ) -> HFGenerator:
        """Load a model directory (``save_pretrained`` layout) onto ``device`` (default: cuda if available).

        ``dtype`` here is the dtype the weights are loaded in (None: as saved).
        """
        from transformers import AutoModelForCausalLM

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        tokenizer = load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype) if dtype else \
            AutoModelForCausalLM.from_pretrained(path)
        model.to(device).eval()
        return cls(model, tokenizer, batch_size=batch_size)

    def generate(self, prompts: Sequence[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        """Return ``n`` completions for each prompt, in prompt order (see the module docstring)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        prompt_ids = [encode_prompt(self.tokenizer, p) for p in prompts]
        for i, ids in enumerate(prompt_ids):
            if not ids:
                raise ValueError(f"prompt {i} is empty after tokenization; there is nothing to condition on")
        results: list[list[Completion | None]] = [[None] * n for _ in prompt_ids]
        generator = torch.Generator(device=self.device)
        generator.manual_seed(params.seed if params.seed is not None else secrets.randbits(63))
        with self._inference():
            for batch in plan_batches([len(ids) for ids in prompt_ids], n, self.batch_size):
                for row in self._decode_batch(batch, prompt_ids, params, generator):
                    results[row.prompt][row.sample] = self._completion(row, prompt_ids[row.prompt], params)
        return results  # type: ignore[return-value]  # every slot is filled: plan_batches covers all samples

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode + inference mode (+ autocast), restoring every module's training flag afterwards."""
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        autocast = (torch.autocast(device_type=self.device.type, dtype=self.dtype) if self.dtype is not None
                    else contextlib.nullcontext())
        try:
            with torch.inference_mode(), autocast:
                yield
        finally:
            for module, training in modes:
                module.training = training

    def _record_step(self, live: list[_Row], token_list: list[int], logp_list: list[float], step: int,
                     params: SamplingParams, window: int) -> list[int]:
        """Append this step's token and log-prob to each live row (batch order), set the finish reason of
        rows that hit EOS, a stop string or ``max_tokens``; return the batch positions still running."""
        stops = params.stop
        keep: list[int] = []
        for b, row in enumerate(live):
            row.tokens.append(token_list[b])
            row.logprobs.append(logp_list[b])
            hit_stop = bool(stops) and first_stop(self._decode(row.tokens[-window:]), stops) is not None
            if token_list[b] in self.eos_ids or hit_stop:
                row.finish = "stop"
            elif step == params.max_tokens - 1:
                row.finish = "length"
            else:
                keep.append(b)
        return keep

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                 cache: Any) -> torch.Tensor:
        """One forward with the cache; returns float32 logits of the last position, (B, V)."""
        kwargs: dict[str, Any] = {self._cache_kw: cache}
        if self._keep_kw:
            kwargs[self._keep_kw] = 1  # prefill: the LM head on the last position only
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         use_cache=True, **kwargs)
        return out.logits[:, -1, :].float()

    def _new_cache(self, capacity: int) -> Any:
        """A DynamicCache whose full-attention layers write into buffers of ``capacity`` positions (see
        ``_preallocated_layer``); any other layer kind (sliding window, linear attention) is left as built."""
        from transformers import DynamicCache

        try:  # transformers >= 4.56 builds per-layer caches (sliding window etc.) from the config
            cache = DynamicCache(config=self.model.config)
        except TypeError:
            return DynamicCache()
        layer_class = _preallocated_layer()
        layers = getattr(cache, "layers", None)
        if layer_class is not None and layers and all(type(layer) is layer_class.__base__ for layer in layers):
            cache.layers = [layer_class(capacity) for _ in layers]
        return cache

    def _decode_batch(self, batch: list[_Chunk], prompt_ids: list[list[int]], params: SamplingParams,
                      generator: torch.Generator) -> list[_Row]:
        """Prefill the batch's distinct prompts once, expand to one row per sample, decode until all finish."""
        dev = self.device
        lengths = [len(prompt_ids[c.prompt]) for c in batch]
        width = max(lengths)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, c in enumerate(batch):  # left padding: every prompt ends at the last column
            input_ids[i, width - lengths[i]:] = torch.tensor(prompt_ids[c.prompt])
            attention[i, width - lengths[i]:] = 1
        input_ids, attention = input_ids.to(dev), attention.to(dev)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        cache = self._new_cache(width + params.max_tokens)
        logits = self._forward(input_ids, attention, positions, cache)

        counts = [c.count for c in batch]
        rows = [_Row(c.prompt, c.first + k) for c in batch for k in range(c.count)]
        next_pos = torch.tensor(lengths, device=dev)
        if len(rows) > len(batch):  # share the prefill: copy each prompt's cache to its sample rows
            expand = torch.repeat_interleave(torch.arange(len(batch), device=dev),
                                             torch.tensor(counts, device=dev))
            cache.batch_select_indices(expand)
            logits, attention, next_pos = logits[expand], attention[expand], next_pos[expand]

        # The decode mask for every step, allocated once: prompt padding, then ones for the new tokens; step t
        # attends to the first width + t + 1 columns. Building it here skips the model's per-step mask creation.
        mask_full = torch.cat([attention.bool(), attention.new_ones((len(rows), params.max_tokens), dtype=torch.bool)],
                              dim=1)
        mask_full = self._as_decode_mask(mask_full)

        stops = params.stop
        window = max((len(s) for s in stops), default=0) + 4  # tokens to re-decode when looking for a stop
        active = list(range(len(rows)))  # index into rows of each batch row
        for step in range(params.max_tokens):
            tokens, logps = sample_next(logits, params, generator)
            token_list, logp_list = tokens.tolist(), logps.tolist()  # one host sync per step
            keep = self._record_step([rows[r] for r in active], token_list, logp_list, step, params, window)
            if not keep:
                break
            if len(keep) < len(active):  # drop finished rows so later forwards are smaller
                index = torch.tensor(keep, device=dev)
                cache.batch_select_indices(index)
                mask_full, next_pos, tokens = mask_full[index], next_pos[index], tokens[index]
                active = [active[b] for b in keep]
            logits = self._forward(tokens[:, None], mask_full[..., : width + step + 1], next_pos[:, None], cache)
            next_pos = next_pos + 1
        return rows

    def _as_decode_mask(self, keep: torch.Tensor) -> torch.Tensor:
        """The (B, L) bool keep-mask in the form the model's attention takes directly, so the model does not rebuild
        it each step: 4D bool for SDPA, 4D additive float for eager; 2D (built by the model) otherwise."""
        config = self.model.config
        impl = getattr(config, "_attn_implementation", None)
        # A ready 4D mask is used by every layer as is, so only models whose layers all attend to the whole
        # past may get one; sliding-window layers need the model to build their own masks.
        layer_types = getattr(config, "layer_types", None)
        plain = (all(t == "full_attention" for t in layer_types) if layer_types is not None
                 else getattr(config, "sliding_window", None) is None)
        if plain and impl == "sdpa":
            return keep[:, None, None, :]
        if plain and impl == "eager":
            dtype = self.dtype or next(self.model.parameters()).dtype
            additive = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
            return additive.masked_fill_(~keep, torch.finfo(dtype).min)[:, None, None, :]
        return keep.long()

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _completion(self, row: _Row, prompt: list[int], params: SamplingParams) -> Completion:
        """Turn a finished row into a Completion: text without eos or stop string, ids with eos."""
        body = row.tokens[:-1] if row.tokens and row.tokens[-1] in self.eos_ids else row.tokens
        text = self._decode(body)
        finish = row.finish or "length"
        cut = first_stop(text, params.stop) if params.stop else None
        if cut is not None:
            text, finish = text[:cut], "stop"
        return Completion(text=text, token_ids=list(row.tokens), finish_reason=finish,
                          prompt_token_ids=list(prompt), logprobs=list(row.logprobs))


@functools.cache
def _preallocated_layer() -> type | None:
    """A ``DynamicLayer`` that writes into a buffer sized for the whole generation instead of concatenating.

    transformers' ``DynamicLayer`` grows by ``torch.cat`` every step, copying the whole cache each time
    (quadratic in the length; at long lengths that copy costs as much as attention itself). We know the final
    length in advance (prompt width + max_tokens), so each step writes one column in place and hands
    attention a view. None on transformers versions without per-layer caches (< 4.56): plain DynamicCache.
    """
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None

    class PreallocatedLayer(DynamicLayer):
        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = capacity

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            super().lazy_initialization(key_states, value_states)
            self._k = key_states.new_empty((*key_states.shape[:2], self.capacity, key_states.shape[-1]))
            self._v = value_states.new_empty((*value_states.shape[:2], self.capacity, value_states.shape[-1]))
            self.keys, self.values = self._k[:, :, :0], self._v[:, :, :0]

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
                   **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            start = self.keys.shape[-2]
            end = start + key_states.shape[-2]
            if end > self._k.shape[-2]:  # longer than planned (a caller reusing the cache): grow, never fail
                self._resize(torch.arange(self._k.shape[0], device=self._k.device), max(end, 2 * self._k.shape[-2]))
            self._k[:, :, start:end] = key_states
            self._v[:, :, start:end] = value_states
            self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
            return self.keys, self.values

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.is_initialized:
                self._resize(indices, self._k.shape[-2])

        def _resize(self, rows: torch.Tensor, capacity: int) -> None:
            """Keep ``rows`` (in that order, repeats allowed) in new buffers of ``capacity`` positions."""
            used = self.keys.shape[-2]
            k = self._k.new_empty((len(rows), self._k.shape[1], capacity, self._k.shape[-1]))
            v = self._v.new_empty((len(rows), self._v.shape[1], capacity, self._v.shape[-1]))
            k[:, :, :used] = self._k[rows, :, :used]
            v[:, :, :used] = self._v[rows, :, :used]
            self._k, self._v = k, v
            self.keys, self.values = k[:, :, :used], v[:, :, :used]

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.is_initialized:
                self._resize(torch.arange(self._k.shape[0], device=self._k.device).repeat_interleave(repeats),
                             self._k.shape[-2])

    return PreallocatedLayer


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load the tokenizer saved in ``path`` exactly as it was saved.

    transformers 5's ``AutoTokenizer`` picks the tokenizer class from the model type when the saved class is the
    generic ``TokenizersBackend``, so a generic tokenizer saved next to a Qwen2 model comes back as
    ``Qwen2Tokenizer`` with Qwen's pre-tokenizer, which tokenizes differently (our char tokenizer loses its
    spaces). A generic tokenizer is therefore loaded from its ``tokenizer.json`` as is; any other goes through
    ``AutoTokenizer``.
    """
    import json

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config_file = Path(path) / "tokenizer_config.json"
    declared = json.loads(config_file.read_text()).get("tokenizer_class") if config_file.is_file() else None
    if declared in ("TokenizersBackend", "PreTrainedTokenizerFast") and (Path(path) / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def _same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` name the same device when the current one is 0."""
    if a.type != b.type:
        return False
    if a.type == "cuda":
        current = torch.cuda.current_device()
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index is None or b.index is None or a.index == b.index


def from_spec(rest: str, **kw: Any) -> HFGenerator:
    """The ``hf:PATH`` backend for :func:`acereason.generate.registry.make_generator`: ``kw`` go to
    :meth:`HFGenerator.from_pretrained`."""
    return HFGenerator.from_pretrained(rest, **kw)
