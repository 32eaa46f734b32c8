"""GRPO pieces as pure tensor functions, each with a plain-loop reference (``*_ref``) that tests compare to.

How this follows AceReason-Nemotron (arXiv 2505.16400, Sec. 3): GRPO with **strictly on-policy** updates
(one gradient step per rollout batch, so the importance ratio is identically 1 and clipping never
binds), **no KL term and no entropy bonus**, and a **token-level loss** normalised by the total number
of response tokens in the batch (DAPO style), with the group-normalised advantage ``(r - mean) / (std +
eps)`` applied to every token of a response. Clipping, KL (k3) and sequence-mean aggregation exist for
other configurations (several updates per batch, ablations) and are off in the paper's recipe.

Shapes: ``B`` responses (``num_groups * group_size``, grouped contiguously), ``T`` response tokens.
"""

from __future__ import annotations

import torch

from acereason.rl.names import AdvantageEstimator, LossAggregation

# AdvantageEstimator / LossAggregation are defined once, torch-free, in rl/names.py (recipe field types)


def group_advantages(rewards: torch.Tensor, group_size: int, estimator: str = "grpo",
                     eps: float = 1e-6) -> torch.Tensor:
    """Group-normalised advantages for ``rewards`` (B,), groups of ``group_size`` contiguous samples.

    GRPO uses the unbiased (n-1) standard deviation, as veRL and TRL do; a zero-variance group gets
    advantage 0 for every sample (it carries no learning signal).
    """
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} do not split into groups of {group_size}")
    if group_size < 2:
        raise ValueError("GRPO needs at least 2 samples per group")
    r = rewards.float().view(-1, group_size)  # (groups, group_size)
    centered = r - r.mean(dim=1, keepdim=True)
    if AdvantageEstimator(estimator) is AdvantageEstimator.GRPO:
        centered = centered / (r.std(dim=1, unbiased=True, keepdim=True) + eps)
    return centered.reshape(-1)


def group_advantages_ref(rewards: list[float], group_size: int, estimator: str = "grpo",
                         eps: float = 1e-6) -> list[float]:
    """Loop reference for :func:`group_advantages`."""
    out = []
    for g in range(0, len(rewards), group_size):
        grp = rewards[g: g + group_size]
        mean = sum(grp) / len(grp)
        var = sum((x - mean) ** 2 for x in grp) / (len(grp) - 1)
        for x in grp:
            out.append((x - mean) / (var**0.5 + eps) if estimator == "grpo" else x - mean)
    return out


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                clip_low: float | None = None, clip_high: float | None = None) -> torch.Tensor:
    """Per-token policy-gradient loss (B, T): ``-A * ratio``, PPO-clipped when ``clip_low`` is set.

    ``advantages`` is (B,) or (B, T). Strictly on-policy training passes ``old_logp = logp.detach()``:
    the ratio is 1 in value and its gradient is ``grad logp``, i.e. plain REINFORCE with a group baseline.
    ``clip_high`` defaults to ``clip_low`` (set it higher for DAPO's clip-higher).
    """
    adv = advantages if advantages.ndim == 2 else advantages.unsqueeze(1)  # (B, 1) broadcasts over T
    ratio = torch.exp(logp - old_logp)  # (B, T)
    loss = -adv * ratio
    if clip_low is not None:
        hi = clip_low if clip_high is None else clip_high
        clipped = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + hi)
        loss = torch.maximum(loss, clipped)
    return loss


def policy_loss_ref(logp: list[list[float]], old_logp: list[list[float]], advantages: list[float],
                    clip_low: float | None = None, clip_high: float | None = None) -> list[list[float]]:
    """Loop reference for :func:`policy_loss` with per-sequence advantages."""
    import math

    out = []
    for lp_row, old_row, a in zip(logp, old_logp, advantages, strict=True):
        row = []
        for lp, old in zip(lp_row, old_row, strict=True):
            ratio = math.exp(lp - old)
            val = -a * ratio
            if clip_low is not None:
                hi = clip_low if clip_high is None else clip_high
                val = max(val, -a * min(max(ratio, 1 - clip_low), 1 + hi))
            row.append(val)
        out.append(row)
    return out


def aggregate_loss(loss: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean",
                   total_tokens: float | None = None, total_seqs: float | None = None) -> torch.Tensor:
    """Reduce a per-token loss (B, T) over the response ``mask`` (B, T) to a scalar.

    With gradient accumulation pass the *whole batch's* ``total_tokens`` (token-mean) or ``total_seqs``
    (sequence modes) so that micro-batch losses sum to exactly the full-batch loss; by default the
    denominators are this tensor's own.
    """
    mask = mask.to(loss.dtype)
    mode = LossAggregation(mode)
    if mode is LossAggregation.TOKEN_MEAN:
        denom = mask.sum() if total_tokens is None else torch.as_tensor(total_tokens, dtype=loss.dtype)
        return (loss * mask).sum() / denom.clamp(min=1)
    per_seq = (loss * mask).sum(dim=1)  # (B,)
    if mode is LossAggregation.SEQ_MEAN_TOKEN_MEAN:
        per_seq = per_seq / mask.sum(dim=1).clamp(min=1)
    denom = loss.shape[0] if total_seqs is None else total_seqs
    return per_seq.sum() / max(denom, 1)


def aggregate_loss_ref(loss: list[list[float]], mask: list[list[int]], mode: str = "token-mean") -> float:
    """Loop reference for :func:`aggregate_loss` over one whole batch."""
    if mode == "token-mean":
        num = sum(v for row, m in zip(loss, mask, strict=True) for v, k in zip(row, m, strict=True) if k)
        den = sum(k for m in mask for k in m)
        return num / max(den, 1)
    seqs = []
    for row, m in zip(loss, mask, strict=True):
        s = sum(v for v, k in zip(row, m, strict=True) if k)
        n = sum(m)
        seqs.append(s / max(n, 1) if mode == "seq-mean-token-mean" else s)
    return sum(seqs) / max(len(seqs), 1)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): ``exp(ref - logp) - (ref - logp) - 1`` (>= 0, unbiased)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def kl_k3_ref(logp: list[float], ref_logp: list[float]) -> list[float]:
    """Loop reference for :func:`kl_k3`."""
    import math

    return [math.exp(r - lp) - (r - lp) - 1 for lp, r in zip(logp, ref_logp, strict=True)]


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each position's next-token distribution: logits (..., V) -> (...)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def token_entropy_ref(logits: list[float]) -> float:
    """Loop reference for :func:`token_entropy` at one position."""
    import math

    m = max(logits)
    z = sum(math.exp(x - m) for x in logits)
    ps = [math.exp(x - m) / z for x in logits]
    return -sum(p * math.log(p) for p in ps if p > 0)


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probability of ``targets`` (B, T) under ``logits`` (B, T, V), computed without materialising a
    second (B, T, V) float tensor beyond the log-softmax."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def truncated_is_weights(train_logp: torch.Tensor, sampler_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """Truncated importance weights ``min(exp(train_logp - sampler_logp), cap)``, detached.

    They correct for the sampler (another engine, another precision) and the training forward disagreeing
    about the policy that sampled: each token's loss is scaled by how much more likely the training engine
    finds it than the sampler did, capped at ``cap`` so that rare tokens cannot blow up the update
    (truncated IS, Yao et al. 2025, "Your efficient RL framework secretly brings you off-policy RL training").
    ``train_logp`` is the training engine's log-prob of the policy that sampled (on-policy: the forward itself).
    """
    return torch.exp(train_logp.detach().float() - sampler_logp.float()).clamp(max=cap)


def truncated_is_weights_ref(train_logp: list[float], sampler_logp: list[float], cap: float) -> list[float]:
    """Loop reference for :func:`truncated_is_weights`."""
    import math

    return [min(math.exp(t - s), cap) for t, s in zip(train_logp, sampler_logp, strict=True)]
