"""Each vectorised GRPO piece agrees with its plain-loop reference on random inputs."""

from __future__ import annotations

import pytest
import torch

from acereason.rl import algos


@pytest.mark.parametrize("estimator", ["grpo", "dr_grpo"])
@pytest.mark.parametrize("seed", range(5))
def test_advantages_match_loop(estimator: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    group = int(torch.randint(2, 9, (1,), generator=g))
    rewards = (torch.rand(group * 7, generator=g) > 0.5).float()
    rewards[:group] = 1.0  # one zero-variance group
    fast = algos.group_advantages(rewards, group, estimator)
    ref = algos.group_advantages_ref(rewards.tolist(), group, estimator)
    assert torch.allclose(fast, torch.tensor(ref), atol=1e-5)
    assert torch.all(fast[:group] == 0)


def test_advantages_reject_bad_groups() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        algos.group_advantages(torch.ones(4), 1)
    with pytest.raises(ValueError, match="groups of 3"):
        algos.group_advantages(torch.ones(4), 3)


@pytest.mark.parametrize("clip", [None, 0.2])
@pytest.mark.parametrize("seed", range(4))
def test_policy_loss_matches_loop(clip, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(6, 9, generator=g) * 3
    old = logp + torch.randn(6, 9, generator=g) * 0.3
    adv = torch.randn(6, generator=g)
    fast = algos.policy_loss(logp, old, adv, clip_low=clip, clip_high=None if clip is None else 0.28)
    ref = algos.policy_loss_ref(logp.tolist(), old.tolist(), adv.tolist(), clip, None if clip is None else 0.28)
    assert torch.allclose(fast, torch.tensor(ref), atol=1e-5)


def test_on_policy_gradient_is_reinforce() -> None:
    logits = torch.randn(3, 5, 11, requires_grad=True)
    targets = torch.randint(0, 11, (3, 5))
    mask = torch.ones(3, 5)
    adv = torch.tensor([1.0, -0.5, 0.0])
    logp = algos.gather_logprobs(logits, targets)
    loss = algos.aggregate_loss(algos.policy_loss(logp, logp.detach(), adv), mask)
    (g1,) = torch.autograd.grad(loss, logits)
    logp2 = algos.gather_logprobs(logits, targets)
    (g2,) = torch.autograd.grad((-(adv[:, None] * logp2)).sum() / mask.sum(), logits)
    assert torch.allclose(g1, g2, atol=1e-6)


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
@pytest.mark.parametrize("seed", range(4))
def test_aggregation_matches_loop_and_splits_over_micro_batches(mode: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    loss = torch.randn(8, 12, generator=g)
    mask = (torch.rand(8, 12, generator=g) > 0.3).long()
    mask[3] = 0  # an empty response must not divide by zero
    full = algos.aggregate_loss(loss, mask, mode)
    assert full.item() == pytest.approx(algos.aggregate_loss_ref(loss.tolist(), mask.tolist(), mode), abs=1e-5)
    parts = sum(algos.aggregate_loss(loss[i: i + 3], mask[i: i + 3], mode, total_tokens=float(mask.sum()),
                                     total_seqs=8) for i in range(0, 8, 3))
    assert parts.item() == pytest.approx(full.item(), abs=1e-5)


def test_kl_and_entropy_match_loop() -> None:
    g = torch.Generator().manual_seed(0)
    logp, ref = -torch.rand(20, generator=g) * 4, -torch.rand(20, generator=g) * 4
    assert torch.allclose(algos.kl_k3(logp, ref), torch.tensor(algos.kl_k3_ref(logp.tolist(), ref.tolist())),
                          atol=1e-5)
    assert torch.all(algos.kl_k3(logp, ref) >= 0) and algos.kl_k3(logp, logp).abs().max() == 0
    logits = torch.randn(4, 7, 13, generator=g) * 3
    ent = algos.token_entropy(logits)
    ref_ent = [[algos.token_entropy_ref(logits[i, j].tolist()) for j in range(7)] for i in range(4)]
    assert torch.allclose(ent, torch.tensor(ref_ent), atol=1e-4)


def test_gather_logprobs_matches_loop() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 6, generator=g)
    targets = torch.randint(0, 6, (2, 4), generator=g)
    fast = algos.gather_logprobs(logits, targets)
    for i in range(2):
        for j in range(4):
            row = logits[i, j]
            ref = row[targets[i, j]] - torch.logsumexp(row, 0)
            assert fast[i, j].item() == pytest.approx(ref.item(), abs=1e-5)


def test_response_logprobs_match_full_logits() -> None:
    from acereason.models import build_char_tokenizer, build_tiny_model
    from acereason.rl.batch import Sample, _pad_batch, response_logprobs

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=3)
    samples = [Sample([5, 6, 7, 8], [9, 10, 11], 1.0, True), Sample([5, 6], [12, 13, 14, 15, 16], -1.0, True)]
    ids, attn, mask = _pad_batch(samples, tok.pad_token_id, torch.device("cpu"))
    fast, ent = response_logprobs(model, ids, attn, mask, temperature=0.7, with_entropy=True)
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1]
    full = algos.gather_logprobs(logits / 0.7, ids[:, 1:]) * mask  # log-probs under the sampling temperature
    assert torch.allclose(fast, full, atol=1e-5)
    assert torch.allclose(ent, algos.token_entropy(logits / 0.7) * mask, atol=1e-4)
    assert int(mask.sum()) == 8
