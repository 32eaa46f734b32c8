"""From rollouts to one optimizer step: tensors, log-probs, the GRPO loss, micro-batched backward.

The loss is built in two visible steps: a per-token loss (B, T) from :mod:`acereason.rl.algos`, then one
explicit aggregation whose denominator is the *whole rollout batch* (token-mean: total response tokens),
so micro-batching with gradient accumulation gives exactly the full-batch gradient.

Log-probs are those of the distribution the rollouts were sampled from: the logits divided by the sampling
temperature before the softmax (as TRL and veRL do), so that on-policy the training forward's log-prob of
each sampled token equals the sampler's (``ratio = 1``). They come from the memory-bounded head
(:mod:`acereason.rl.head`): at most one chunk of (positions x vocab) logits exists at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from acereason.rl import algos
from acereason.rl.head import chunked_head_logprobs
from acereason.rl.microbatch import Plan, plan_micro_batches, supports_packing


@dataclass
class Sample:
    """One response ready for training: ids of prompt and response, its advantage and loss mask."""

    prompt_ids: list[int]
    response_ids: list[int]
    advantage: float
    train_mask: bool  # False: counted in stats but excluded from the loss (overlong filtering, dropped groups)
    sampler_logprobs: list[float] | None = None
    """The sampler's log-prob of each response token (under the sampling temperature), when it returned them."""


@dataclass
class StepStats:
    loss: float
    grad_norm: float
    entropy: float
    kl: float
    tokens: int
    padding_frac: float = 0.0
    micro_batches: int = 0
    mismatch: dict[str, float] = field(default_factory=dict)


def _pad_batch(samples: list[Sample], pad_id: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Right-padded ``ids`` (B, L), ``attn`` (B, L) and ``resp_mask`` (B, L-1) marking the positions whose
    next-token target is a response token."""
    lens = [len(s.prompt_ids) + len(s.response_ids) for s in samples]
    width = max(lens)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(samples), width), dtype=torch.long)
    resp = torch.zeros((len(samples), width - 1), dtype=torch.float32)
    for i, s in enumerate(samples):
        seq = s.prompt_ids + s.response_ids
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attn[i, : len(seq)] = 1
        p = len(s.prompt_ids)
        resp[i, p - 1: p - 1 + len(s.response_ids)] = 1.0
    return ids.to(device), attn.to(device), resp.to(device)


def _pack_batch(samples: list[Sample], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The samples concatenated into one row: ``ids`` (1, L), ``position_ids`` (1, L) restarting at 0 for each
    sequence (which is how packing-aware attention finds the boundaries) and ``resp_mask`` (1, L-1)."""
    ids: list[int] = []
    pos: list[int] = []
    resp: list[float] = []
    for s in samples:
        seq = s.prompt_ids + s.response_ids
        ids += seq
        pos += range(len(seq))
        # position j predicts token j+1: response targets, then the boundary (next sequence's first token)
        resp += [0.0] * (len(s.prompt_ids) - 1) + [1.0] * len(s.response_ids) + [0.0]
    return (torch.tensor([ids], device=device), torch.tensor([pos], device=device),
            torch.tensor([resp[:-1]], device=device))


def flat_logprobs(model: torch.nn.Module, ids: torch.Tensor, attn: torch.Tensor | None, resp_mask: torch.Tensor,
                  temperature: float = 1.0, position_ids: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs (N,) of the N response tokens under ``softmax(logits / temperature)`` and the detached
    entropy (N,) of that distribution, in row-major order of ``resp_mask``.

    For Hugging Face ``*ForCausalLM`` models the decoder runs once and the head runs only on response
    positions, in chunks (:func:`~acereason.rl.head.chunked_head_logprobs`); any other causal LM falls back
    to its full logits.
    """
    sel = resp_mask.bool()
    targets = ids[:, 1:][sel]  # (N,)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    kwargs: dict = {"use_cache": False}  # no KV cache in a training forward (and packing needs none)
    if position_ids is not None:
        kwargs["position_ids"] = position_ids
    if head is not None and decoder is not None and type(model).__name__.endswith("ForCausalLM"):
        hidden = decoder(input_ids=ids, attention_mask=attn, **kwargs).last_hidden_state  # (B, L, H)
        return chunked_head_logprobs(hidden[:, :-1][sel], head, targets, temperature)
    logits = model(input_ids=ids, attention_mask=attn, **kwargs).logits[:, :-1][sel].float() / temperature
    lp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return lp, algos.token_entropy(logits.detach())


def response_logprobs(model: torch.nn.Module, ids: torch.Tensor, attn: torch.Tensor, resp_mask: torch.Tensor,
                      temperature: float = 1.0, with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (B, L-1) of each next token at the response positions (0 elsewhere) under the distribution
    at ``temperature``, and optionally the detached entropy of that distribution (the quantity AceReason 1.1
    holds near 0.3)."""
    sel = resp_mask.bool()
    lp, e = flat_logprobs(model, ids, attn, resp_mask, temperature)
    logp = torch.zeros(sel.shape, dtype=lp.dtype, device=lp.device).masked_scatter(sel, lp)
    ent = torch.zeros(sel.shape, dtype=e.dtype, device=e.device).masked_scatter(sel, e) if with_entropy else None
    return logp, ent


def _response_layout(lengths: list[int], device: torch.device) -> torch.Tensor:
    """(b, R) mask of each sample's response tokens, R the longest response (the loss's layout)."""
    r = torch.arange(max(lengths), device=device)
    return r[None, :] < torch.tensor(lengths, device=device)[:, None]


def _to_layout(flat: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
    return torch.zeros(sel.shape, dtype=flat.dtype, device=flat.device).masked_scatter(sel, flat)


# Response sub-batches of the shared-prefix path: sorted by length, a row joins the current sub-batch while the
# padded size stays within this factor of the real tokens (more sub-batches: less padding, more forwards).
SHARED_PREFIX_SLACK = 1.25


def _decoder_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """A Hugging Face ``*ForCausalLM``'s decoder and LM head (None for any other model)."""
    if not type(model).__name__.endswith("ForCausalLM"):
        return None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    return (decoder, head) if head is not None and decoder is not None else None


def _cache_kw(decoder: torch.nn.Module) -> str | None:
    import inspect

    accepted = inspect.signature(decoder.forward).parameters
    return next((k for k in ("cache", "past_key_values") if k in accepted), None)


def supports_shared_prefix(model: torch.nn.Module) -> bool:
    """Whether responses of one prompt can be trained against a single prompt forward: a Hugging Face causal LM
    whose every layer attends to the whole past (no sliding window) and that is not gradient-checkpointed (which
    turns the KV cache off)."""
    parts = _decoder_and_head(model)
    config = getattr(model, "config", None)
    if parts is None or config is None or getattr(model, "is_gradient_checkpointing", False):
        return False
    layer_types = getattr(config, "layer_types", None)
    plain = (all(t == "full_attention" for t in layer_types) if layer_types is not None
             else not getattr(config, "use_sliding_window", False) or getattr(config, "sliding_window", None) is None)
    return plain and _cache_kw(parts[0]) is not None


def _layer_kv(cache: object) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-layer (keys, values) of a ``DynamicCache`` (transformers >= 4.56 ``layers``; older ``key_cache``)."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))  # type: ignore[attr-defined]


def _response_sub_batches(lengths: list[int], slack: float = SHARED_PREFIX_SLACK) -> list[list[int]]:
    """Indices sorted by length (longest first) cut into runs whose padded size (rows x longest) stays within
    ``slack`` times their real size."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    out: list[list[int]] = []
    total = 0
    for i in order:
        if out and (len(out[-1]) + 1) * lengths[out[-1][0]] <= slack * (total + lengths[i]):
            out[-1].append(i)
            total += lengths[i]
        else:
            out.append([i])
            total = lengths[i]
    return out


def shared_prefix_logprobs(model: torch.nn.Module, chunk: list[Sample], temperature: float = 1.0
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`flat_logprobs` of ``chunk`` (prompt + response each), with every distinct prompt run once.

    The G responses of a prompt share its prefix, so the decoder runs over each distinct prompt once (prompts
    of one length together, with a KV cache) and then over the responses only, attending to their prompt's
    keys and values (indexed per row, so the gradient through them sums over the rows). Responses run in
    length-sorted sub-batches (:func:`_response_sub_batches`), right-padded within one. Same values as the
    full forward up to float rounding; the decoder processes ``sum(distinct prompts) + sum(responses)``
    positions instead of ``sum(prompt + response)``.
    """
    from transformers import DynamicCache

    parts = _decoder_and_head(model)
    assert parts is not None
    decoder, head = parts
    cache_kw = _cache_kw(decoder)
    assert cache_kw is not None
    device = next(model.parameters()).device
    prompt_of: dict[tuple[int, ...], int] = {}
    row_prompt = [prompt_of.setdefault(tuple(s.prompt_ids), len(prompt_of)) for s in chunk]
    prompts = list(prompt_of)
    pieces: list[torch.Tensor] = []
    order: list[int] = []  # chunk rows in the order their tokens are in `pieces`
    by_len: dict[int, list[int]] = {}
    for u, ids in enumerate(prompts):
        by_len.setdefault(len(ids), []).append(u)
    for p_len, us in by_len.items():
        ids = torch.tensor([prompts[u] for u in us], dtype=torch.long, device=device)  # (k, p)
        cache = DynamicCache()
        p_hidden = decoder(input_ids=ids, use_cache=True, **{cache_kw: cache}).last_hidden_state  # (k, p, H)
        kv = _layer_kv(cache)
        slot = {u: j for j, u in enumerate(us)}
        rows = [i for i, u in enumerate(row_prompt) if u in slot]
        lens = [len(chunk[i].response_ids) for i in rows]
        for sub in _response_sub_batches(lens):
            sel_rows = [rows[k] for k in sub]
            index = torch.tensor([slot[row_prompt[i]] for i in sel_rows], device=device)
            width = lens[sub[0]]
            resp = torch.zeros((len(sub), width), dtype=torch.long)
            for k, i in enumerate(sel_rows):
                resp[k, : len(chunk[i].response_ids)] = torch.tensor(chunk[i].response_ids, dtype=torch.long)
            resp = resp.to(device)
            last = p_hidden[index, -1:]  # (n, 1, H): predicts each response's first token
            if width > 1:
                sub_cache = DynamicCache()
                for layer, (k_, v_) in enumerate(kv):
                    sub_cache.update(k_[index], v_[index], layer)
                # no attention mask: right padding is never attended to by a valid (earlier) position
                pos = torch.arange(p_len, p_len + width - 1, device=device).expand(len(sub), -1)
                r_hidden = decoder(input_ids=resp[:, :-1], position_ids=pos, use_cache=True,
                                   **{cache_kw: sub_cache}).last_hidden_state
                hidden = torch.cat([last, r_hidden], dim=1)  # (n, width, H)
            else:
                hidden = last
            valid = _response_layout([len(chunk[i].response_ids) for i in sel_rows], device)
            pieces.append(hidden[valid])  # (tokens of the sub-batch, H), row by row in sel_rows order
            order += sel_rows
    # one gather back to the chunk's row order (row-major over tokens), as flat_logprobs returns it
    offsets, start = {}, 0
    for i in order:
        offsets[i] = start
        start += len(chunk[i].response_ids)
    perm = torch.tensor([offsets[i] + j for i, s in enumerate(chunk) for j in range(len(s.response_ids))],
                        device=device)
    hs = torch.cat(pieces).index_select(0, perm)
    targets = torch.tensor([t for s in chunk for t in s.response_ids], dtype=torch.long, device=device)
    return chunked_head_logprobs(hs, head, targets, temperature)


def _micro_logprobs(model: torch.nn.Module, chunk: list[Sample], pad_id: int, device: torch.device, packed: bool,
                    temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    if not packed and len({tuple(s.prompt_ids) for s in chunk}) < len(chunk) and supports_shared_prefix(model):
        return shared_prefix_logprobs(model, chunk, temperature)
    if packed:
        ids, pos, mask = _pack_batch(chunk, device)
        return flat_logprobs(model, ids, None, mask, temperature, position_ids=pos)
    ids, attn, mask = _pad_batch(chunk, pad_id, device)
    # No padding (one sequence, or equal lengths): no mask, so attention runs as plain causal attention (SDPA's
    # fused kernels, O(L) memory) instead of materialising an (L x L) mask and attention matrix.
    return flat_logprobs(model, ids, None if bool(attn.all()) else attn, mask, temperature)


def _plan(model: torch.nn.Module, trained: list[Sample], micro_batch_size: int, max_tokens: int | None,
          packing: bool | None) -> Plan:
    packed = supports_packing(model) if packing is None else packing
    lengths = [len(s.prompt_ids) + len(s.response_ids) for s in trained]
    return plan_micro_batches(lengths, micro_batch_size, max_tokens, packed=packed and max_tokens is not None)


def mismatch_stats(log_ratio: torch.Tensor) -> dict[str, float]:
    """Summary of per-token ``log(pi_train / pi_sampler)``: mean |log ratio|, its 99th percentile and the shares
    of tokens whose ratio is above 1.1 or below 0.9 (see docs/training.md, "Sampler vs trainer")."""
    if log_ratio.numel() == 0:
        return {}
    a = log_ratio.double().abs()
    k = max(1, math.ceil(0.99 * a.numel()))  # nearest-rank 99th percentile
    return {"mismatch/mean_abs_log_ratio": float(a.mean()),
            "mismatch/p99_abs_log_ratio": float(a.kthvalue(k).values),
            "mismatch/ratio_above_1.1": float((log_ratio > math.log(1.1)).double().mean()),
            "mismatch/ratio_below_0.9": float((log_ratio < math.log(0.9)).double().mean()),
            "mismatch/tokens": float(a.numel())}


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, samples: list[Sample], pad_id: int,
               micro_batch_size: int, loss_aggregation: str = "token-mean", clip_eps: float | None = None,
               clip_eps_high: float | None = None, grad_clip: float | None = 1.0, kl_coef: float = 0.0,
               ref_model: torch.nn.Module | None = None, old_logps: list[torch.Tensor] | None = None,
               temperature: float = 1.0, autocast_dtype: torch.dtype | None = None,
               max_tokens_per_micro_batch: int | None = None, tis_cap: float | None = None,
               packing: bool | None = None) -> StepStats:
    """One optimizer step over ``samples`` (micro-batched). Strictly on-policy when ``old_logps`` is None.

    Samples with ``train_mask=False`` are skipped entirely (they neither add gradient nor count in the
    denominator). ``old_logps`` (from :func:`rollout_logprobs`) holds one (R,) tensor per trained sample.
    ``tis_cap`` multiplies each token's loss by the truncated importance weight ``min(pi_old / pi_sampler,
    tis_cap)`` (:func:`~acereason.rl.algos.truncated_is_weights`) where the samples carry sampler log-probs.
    ``packing`` None packs micro-batches when the attention supports it (token budget only).
    Returns loss, pre-clip grad norm, mean entropy and KL over trained tokens, the padding share and the
    sampler-vs-trainer mismatch summary (:func:`mismatch_stats`).
    """
    device = next(model.parameters()).device
    trained = [s for s in samples if s.train_mask and s.response_ids]
    total_tokens = float(sum(len(s.response_ids) for s in trained))
    total_seqs = float(len(trained))
    plan = _plan(model, trained, micro_batch_size, max_tokens_per_micro_batch, packing)
    optimizer.zero_grad(set_to_none=True)
    loss_sum = ent_sum = kl_sum = 0.0
    ratios: list[torch.Tensor] = []
    model.train()
    for batch in plan.batches:
        chunk = [trained[i] for i in batch]
        lens = [len(s.response_ids) for s in chunk]
        sel = _response_layout(lens, device)  # (b, R)
        adv = torch.tensor([s.advantage for s in chunk], dtype=torch.float32, device=device)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            lp, ent = _micro_logprobs(model, chunk, pad_id, device, plan.packed, temperature)
        logp = _to_layout(lp, sel)
        old_flat = lp.detach() if old_logps is None else torch.cat([old_logps[i] for i in batch]).to(device)
        old = _to_layout(old_flat, sel)
        per_token = algos.policy_loss(logp, old, adv, clip_eps, clip_eps_high)  # (b, R)
        if all(s.sampler_logprobs is not None and len(s.sampler_logprobs) == len(s.response_ids) for s in chunk):
            sampler_flat = torch.tensor([x for s in chunk for x in s.sampler_logprobs or []],
                                        dtype=torch.float32, device=device)
            ratios.append((old_flat.float() - sampler_flat).cpu())
            if tis_cap is not None:
                per_token = per_token * algos.truncated_is_weights(old, _to_layout(sampler_flat, sel), tis_cap)
        mask = sel.float()
        if kl_coef > 0 and ref_model is not None:
            with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                ref_lp, _ = _micro_logprobs(ref_model, chunk, pad_id, device, plan.packed, temperature)
            kl = algos.kl_k3(logp, _to_layout(ref_lp.float(), sel))
            per_token = per_token + kl_coef * kl
            kl_sum += float((kl.detach() * mask).sum())
        loss = algos.aggregate_loss(per_token, mask, loss_aggregation, total_tokens=total_tokens,
                                    total_seqs=total_seqs)
        loss.backward()
        loss_sum += float(loss.detach())
        ent_sum += float(ent.sum())
    params = [p for p in model.parameters() if p.grad is not None]
    if params:
        max_norm = grad_clip if grad_clip is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        optimizer.step()
    else:
        grad_norm = 0.0
    optimizer.zero_grad(set_to_none=True)
    denom = max(total_tokens, 1.0)
    lengths = [len(s.prompt_ids) + len(s.response_ids) for s in trained]
    return StepStats(loss=loss_sum, grad_norm=grad_norm, entropy=ent_sum / denom, kl=kl_sum / denom,
                     tokens=int(total_tokens), padding_frac=plan.padding_frac(lengths),
                     micro_batches=len(plan.batches),
                     mismatch=mismatch_stats(torch.cat(ratios)) if ratios else {})


@torch.no_grad()
def rollout_logprobs(model: torch.nn.Module, samples: list[Sample], pad_id: int, micro_batch_size: int,
                     temperature: float = 1.0, max_tokens_per_micro_batch: int | None = None,
                     autocast_dtype: torch.dtype | None = None, packing: bool | None = None) -> list[torch.Tensor]:
    """Behaviour-policy log-probs (at ``temperature``), one (R,) tensor per trained sample in sample order, for
    configurations with several updates per batch."""
    device = next(model.parameters()).device
    trained = [s for s in samples if s.train_mask and s.response_ids]
    plan = _plan(model, trained, micro_batch_size, max_tokens_per_micro_batch, packing)
    out: list[torch.Tensor | None] = [None] * len(trained)
    for batch in plan.batches:
        chunk = [trained[i] for i in batch]
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            lp, _ = _micro_logprobs(model, chunk, pad_id, device, plan.packed, temperature)
        for i, part in zip(batch, lp.float().cpu().split([len(s.response_ids) for s in chunk]), strict=True):
            out[i] = part
    return [t for t in out if t is not None]
