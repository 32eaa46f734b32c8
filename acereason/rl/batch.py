"""From rollouts to one optimizer step: tensors, log-probs, the GRPO loss, micro-batched backward.

The loss is built in two visible steps: a per-token loss (B, T) from :mod:`acereason.rl.algos`, then one
explicit aggregation whose denominator is the *whole rollout batch* (token-mean: total response tokens),
so micro-batching with gradient accumulation gives exactly the full-batch gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from acereason.rl import algos


@dataclass
class Sample:
    """One response ready for training: ids of prompt and response, its advantage and loss mask."""

    prompt_ids: list[int]
    response_ids: list[int]
    advantage: float
    train_mask: bool  # False: counted in stats but excluded from the loss (overlong filtering, dropped groups)


@dataclass
class StepStats:
    loss: float
    grad_norm: float
    entropy: float
    kl: float
    tokens: int


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


def response_logprobs(model: torch.nn.Module, ids: torch.Tensor, attn: torch.Tensor, resp_mask: torch.Tensor,
                      temperature: float = 1.0, with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (B, L-1) of each next token at the response positions (0 elsewhere), and optionally the
    detached entropy of the distribution at ``temperature`` (the quantity AceReason 1.1 holds near 0.3).

    The LM head and softmax run only on response positions: prompt positions never need a (V,) row, which
    saves most of the head's time and memory when prompts are long or the vocabulary is large.
    """
    sel = resp_mask.bool()  # (B, L-1)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    if head is not None and decoder is not None and type(model).__name__.endswith("ForCausalLM"):
        hidden = decoder(input_ids=ids, attention_mask=attn).last_hidden_state  # (B, L, H)
        logits = head(hidden[:, :-1][sel])  # (N, V) for the N response positions
    else:  # any other causal LM: full logits, then select
        logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1][sel]
    targets = ids[:, 1:][sel]  # (N,)
    lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (N,)
    logp = torch.zeros(sel.shape, dtype=lp.dtype, device=lp.device).masked_scatter(sel, lp)  # (B, L-1)
    ent = None
    if with_entropy:
        with torch.no_grad():
            e = algos.token_entropy(logits.detach().float() / temperature)  # (N,)
            ent = torch.zeros(sel.shape, dtype=e.dtype, device=e.device).masked_scatter(sel, e)
    return logp, ent


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, samples: list[Sample], pad_id: int,
               micro_batch_size: int, loss_aggregation: str = "token-mean", clip_eps: float | None = None,
               clip_eps_high: float | None = None, grad_clip: float | None = 1.0, kl_coef: float = 0.0,
               ref_model: torch.nn.Module | None = None, old_logps: list[torch.Tensor] | None = None,
               temperature: float = 1.0, autocast_dtype: torch.dtype | None = None) -> StepStats:
    """One optimizer step over ``samples`` (micro-batched). Strictly on-policy when ``old_logps`` is None.

    Samples with ``train_mask=False`` are skipped entirely (they neither add gradient nor count in the
    denominator). Returns loss, pre-clip grad norm, mean entropy and KL over trained tokens.
    """
    device = next(model.parameters()).device
    trained = [s for s in samples if s.train_mask and s.response_ids]
    total_tokens = float(sum(len(s.response_ids) for s in trained))
    total_seqs = float(len(trained))
    optimizer.zero_grad(set_to_none=True)
    loss_sum = ent_sum = kl_sum = 0.0
    model.train()
    for start in range(0, len(trained), micro_batch_size):
        chunk = trained[start: start + micro_batch_size]
        ids, attn, mask = _pad_batch(chunk, pad_id, device)
        adv = torch.tensor([s.advantage for s in chunk], dtype=torch.float32, device=device)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logp, ent = response_logprobs(model, ids, attn, mask, temperature, with_entropy=True)
        old = logp.detach() if old_logps is None else old_logps[start // micro_batch_size].to(device)
        per_token = algos.policy_loss(logp, old, adv, clip_eps, clip_eps_high)  # (B, T)
        if kl_coef > 0 and ref_model is not None:
            with torch.no_grad():
                ref_logp, _ = response_logprobs(ref_model, ids, attn, mask)
            kl = algos.kl_k3(logp, ref_logp)
            per_token = per_token + kl_coef * kl
            kl_sum += float((kl.detach() * mask).sum())
        loss = algos.aggregate_loss(per_token, mask, loss_aggregation, total_tokens=total_tokens,
                                    total_seqs=total_seqs)
        loss.backward()
        loss_sum += float(loss.detach())
        ent_sum += float((ent * mask).sum())
    params = [p for p in model.parameters() if p.grad is not None]
    if params:
        max_norm = grad_clip if grad_clip is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        optimizer.step()
    else:
        grad_norm = 0.0
    optimizer.zero_grad(set_to_none=True)
    denom = max(total_tokens, 1.0)
    return StepStats(loss=loss_sum, grad_norm=grad_norm, entropy=ent_sum / denom, kl=kl_sum / denom,
                     tokens=int(total_tokens))


@torch.no_grad()
def rollout_logprobs(model: torch.nn.Module, samples: list[Sample], pad_id: int,
                     micro_batch_size: int) -> list[torch.Tensor]:
    """Behaviour-policy log-probs per micro-batch, for configurations with several updates per batch."""
    device = next(model.parameters()).device
    trained = [s for s in samples if s.train_mask and s.response_ids]
    out = []
    for start in range(0, len(trained), micro_batch_size):
        ids, attn, mask = _pad_batch(trained[start: start + micro_batch_size], pad_id, device)
        logp, _ = response_logprobs(model, ids, attn, mask)
        out.append(logp.cpu())
    return out
