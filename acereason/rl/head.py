"""A memory-bounded LM head: log-probs of the sampled tokens and the entropy, one chunk of positions at a time.

The plain loss path materialises several (tokens x vocab) float32 tensors for the head alone (logits,
log-softmax, its gradient, a second softmax for the entropy): with Qwen2's 151,936-token vocabulary that is
~0.6 MiB per token each, ~100 GiB for one 32K-token response. :class:`ChunkedHeadLogprobs` is a custom
autograd function that runs the head over ``chunk`` positions at a time and keeps only the hidden states
(N x H) and one log-sum-exp per position (N) for backward, where it recomputes each chunk's logits. At most
one chunk of (positions x vocab) float32 values (and its few same-sized temporaries) exists at a time.

What it computes, for hidden states ``h`` (N, H), head weight ``W`` (V, H), optional bias ``b`` (V,), sampled
tokens ``y`` (N,) and the sampling temperature ``T``::

    z = (h @ W.T + b) / T             # float32, the distribution the sampler drew from (top_p = 1)
    logp[i] = z[i, y[i]] - logsumexp(z[i])
    entropy[i] = -sum_v softmax(z[i])_v * log_softmax(z[i])_v     # detached (a statistic, no gradient)

and in backward ``d logp[i] / d z[i] = onehot(y[i]) - softmax(z[i])``, scaled by ``1/T`` for the raw logits.
Under autocast the two matmuls run in the autocast dtype (as ``nn.Linear`` would), the softmax in float32.
:func:`plain_head_logprobs` is the materialising computation it replaces; tests compare the two, and both to
a per-position loop (:func:`head_logprobs_ref`).
"""

from __future__ import annotations

from typing import Any

import torch

# Elements of one (positions x vocab) float32 chunk: 2**24 = 64 MiB, i.e. 110 positions at V = 151,936.
CHUNK_ELEMENTS = 1 << 24


def chunk_rows(vocab: int, elements: int = CHUNK_ELEMENTS) -> int:
    """Positions per chunk so that one (positions x vocab) chunk holds about ``elements`` values."""
    return max(1, elements // max(vocab, 1))


def _compute_dtype(device_type: str, fallback: torch.dtype) -> torch.dtype:
    """The dtype ``nn.Linear`` would compute in here: the autocast dtype when autocast is on."""
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return fallback


def _chunk_logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                  temperature: float) -> torch.Tensor:
    z = h.to(dtype) @ weight.to(dtype).t()
    if bias is not None:
        z = z + bias.to(dtype)
    return z.float() / temperature


class ChunkedHeadLogprobs(torch.autograd.Function):
    """``(hidden, weight, bias, targets, temperature, rows) -> (logp, entropy)``, see the module docstring."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor, temperature: float, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = _compute_dtype(hidden.device.type, hidden.dtype)
        n = hidden.shape[0]
        logp = torch.empty(n, dtype=torch.float32, device=hidden.device)
        ent = torch.empty(n, dtype=torch.float32, device=hidden.device)
        lse = torch.empty(n, dtype=torch.float32, device=hidden.device)
        with torch.autocast(hidden.device.type, enabled=False):
            for s in range(0, n, rows):
                z = _chunk_logits(hidden[s: s + rows], weight, bias, dtype, temperature)  # (c, V)
                m = torch.logsumexp(z, dim=-1)  # (c,)
                lse[s: s + rows] = m
                logp[s: s + rows] = z.gather(-1, targets[s: s + rows, None]).squeeze(-1) - m
                z -= m[:, None]  # log-softmax, in place
                ent[s: s + rows] = -(z.exp() * z).sum(-1)
                del z
        ctx.save_for_backward(hidden, weight, bias, targets, lse)
        ctx.temperature, ctx.rows, ctx.dtype = temperature, rows, dtype
        ctx.mark_non_differentiable(ent)
        return logp, ent

    @staticmethod
    def backward(ctx: Any, grad_logp: torch.Tensor | None, grad_ent: torch.Tensor | None) -> tuple[Any, ...]:
        hidden, weight, bias, targets, lse = ctx.saved_tensors
        t, rows, dtype = ctx.temperature, ctx.rows, ctx.dtype
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = bias is not None and ctx.needs_input_grad[2]
        if grad_logp is None:
            return None, None, None, None, None, None
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if need_b else None
        with torch.autocast(hidden.device.type, enabled=False):
            for s in range(0, hidden.shape[0], rows):
                h = hidden[s: s + rows]
                z = _chunk_logits(h, weight, bias, dtype, t)
                g = grad_logp[s: s + rows].float()
                # d logp / d z = onehot(y) - softmax(z); times the upstream gradient, then 1/T for the raw logits
                dz = torch.exp(z - lse[s: s + rows, None]).mul_(-g[:, None])
                del z
                dz.scatter_add_(-1, targets[s: s + rows, None], g[:, None])
                dz = dz.div_(t).to(dtype)
                if grad_h is not None:
                    grad_h[s: s + rows] = (dz @ weight.to(dtype)).to(hidden.dtype)
                if grad_w is not None:
                    grad_w += (dz.t() @ h.to(dtype)).float()
                if grad_b is not None:
                    grad_b += dz.float().sum(0)
                del dz
        return (grad_h, None if grad_w is None else grad_w.to(weight.dtype),
                None if grad_b is None else grad_b.to(bias.dtype), None, None, None)


def chunked_head_logprobs(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor,
                          temperature: float = 1.0, rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs (N,) of ``targets`` under ``head(hidden) / temperature`` and the detached entropy (N,) of that
    distribution, never holding more than ``rows`` positions' logits (default: :func:`chunk_rows`)."""
    weight: torch.Tensor = head.weight  # type: ignore[assignment]
    bias: torch.Tensor | None = getattr(head, "bias", None)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    n_rows = rows if rows is not None else chunk_rows(weight.shape[0])
    if hidden.shape[0] == 0:
        empty = hidden.new_zeros(0, dtype=torch.float32) + hidden.sum() * 0  # keeps the graph connected
        return empty, empty.detach()
    return ChunkedHeadLogprobs.apply(hidden, weight, bias, targets, float(temperature), int(n_rows))


def plain_head_logprobs(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor,
                        temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The same quantities computed the plain way, materialising every (N, V) tensor (the reference)."""
    z = head(hidden).float() / temperature
    logsm = torch.log_softmax(z, dim=-1)
    logp = logsm.gather(-1, targets[:, None]).squeeze(-1)
    with torch.no_grad():
        ent = -(logsm.exp() * logsm).sum(-1)
    return logp, ent


def head_logprobs_ref(hidden: list[list[float]], weight: list[list[float]], bias: list[float] | None,
                      targets: list[int], temperature: float = 1.0) -> tuple[list[float], list[float]]:
    """Plain-loop reference for one position at a time: log-prob of the target and entropy, in Python floats."""
    import math

    logps, ents = [], []
    for h, y in zip(hidden, targets, strict=True):
        z = [(sum(a * b for a, b in zip(w, h, strict=True)) + (bias[v] if bias else 0.0)) / temperature
             for v, w in enumerate(weight)]
        m = max(z)
        lse = m + math.log(sum(math.exp(x - m) for x in z))
        logps.append(z[y] - lse)
        ents.append(-sum(math.exp(x - lse) * (x - lse) for x in z))
    return logps, ents
