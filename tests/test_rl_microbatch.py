"""Token-budget micro-batches: the plan matches its loop reference, pads little on realistic lengths, and the
update does not depend on how the batch is split (issue 16)."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from acereason.rl.microbatch import plan_micro_batches, plan_micro_batches_ref


def _lognormal_lengths(seed: int, n: int = 512) -> list[int]:
    """Prompt + response lengths: responses lognormal with median 2K tokens, capped at 16K; prompts 50-400."""
    rng = random.Random(seed)
    return [rng.randint(50, 400) + min(16_384, max(1, round(rng.lognormvariate(7.625, 0.9)))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(3))
def test_token_budget_plan_matches_loop_and_pads_under_ten_percent(seed: int) -> None:
    lengths = _lognormal_lengths(seed)
    assert 1500 < sorted(lengths)[len(lengths) // 2] < 2800 and max(lengths) > 12_000
    budget = 32_768
    plan = plan_micro_batches(lengths, 16, budget)
    assert plan.batches == plan_micro_batches_ref(lengths, budget)
    assert sorted(i for b in plan.batches for i in b) == list(range(len(lengths)))
    assert all(len(b) * max(lengths[i] for i in b) <= budget for b in plan.batches)
    assert plan.padding_frac(lengths) <= 0.10
    by_count = plan_micro_batches(lengths, 16)  # the count split in arrival order: mostly padding
    assert by_count.padding_frac(lengths) > 0.4
    packed = plan_micro_batches(lengths, 16, budget, packed=True)
    assert packed.padding_frac(lengths) == 0.0
    assert all(sum(lengths[i] for i in b) <= budget or len(b) == 1 for b in packed.batches)
    assert sorted(i for b in packed.batches for i in b) == list(range(len(lengths)))


def test_a_sequence_over_the_budget_is_alone() -> None:
    plan = plan_micro_batches([10, 500, 20, 30], 8, max_tokens=100)
    assert plan.batches == [[1], [3, 2, 0]]
    assert plan_micro_batches([10, 500, 20, 30], 3).batches == [[0, 1, 2], [3]]


def _samples(seed: int, n: int = 10):
    from acereason.rl.batch import Sample

    g = random.Random(seed)
    def ids(lo: int, hi: int) -> list[int]:
        return [g.randint(3, 60) for _ in range(g.randint(lo, hi))]

    return [Sample(ids(2, 6), ids(1, 12), g.uniform(-1, 1), g.random() > 0.15) for _ in range(n)]


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean"])
@pytest.mark.parametrize("split", [{"max_tokens_per_micro_batch": 20},
                                   {"max_tokens_per_micro_batch": 20, "packing": True}, {"micro_batch_size": 3}])
def test_update_is_the_same_however_the_batch_is_split(mode: str, split: dict) -> None:
    from acereason.models import build_char_tokenizer, build_tiny_model
    from acereason.rl.batch import train_step

    tok = build_char_tokenizer()
    base = build_tiny_model(tok, seed=1)
    samples = _samples(4)
    results = []
    for kw in ({"micro_batch_size": 64}, split):
        model = copy.deepcopy(base)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        kw = {"micro_batch_size": 64, **kw}
        stats = train_step(model, opt, samples, tok.pad_token_id, loss_aggregation=mode, temperature=0.7,
                           grad_clip=None, **kw)
        results.append((stats, [p.detach().clone() for p in model.parameters()]))
    (full, w_full), (parts, w_parts) = results
    assert parts.micro_batches > 1 and full.micro_batches == 1
    assert parts.loss == pytest.approx(full.loss, abs=1e-5) and parts.entropy == pytest.approx(full.entropy, abs=1e-5)
    assert parts.grad_norm == pytest.approx(full.grad_norm, rel=1e-4)
    assert all((a - b).abs().max() <= 1e-5 for a, b in zip(w_full, w_parts, strict=True))
    if split.get("packing"):
        assert parts.padding_frac == 0.0


def _grouped_samples(seed: int) -> list:
    """Groups of 3 responses (1-11 tokens) sharing a prompt; prompts of two lengths; rows shuffled."""
    from acereason.rl.batch import Sample

    rng = random.Random(seed)
    out = []
    for _ in range(4):
        prompt = [rng.randrange(3, 100) for _ in range(rng.choice([5, 8]))]
        out += [Sample(prompt, [rng.randrange(3, 100) for _ in range(rng.randrange(1, 12))], rng.gauss(0, 1), True)
                for _ in range(3)]
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("seed", range(2))
def test_shared_prefix_forward_equals_the_full_forward(seed: int) -> None:
    """Each distinct prompt run once (KV cache, responses in length-sorted sub-batches): the same log-probs,
    entropies and parameter gradients as the full padded forward, in the same token order."""
    from acereason.models import TinyModelConfig, build_char_tokenizer, build_tiny_model
    from acereason.rl import batch

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, TinyModelConfig(layers=2, hidden=64), seed=seed)
    assert batch.supports_shared_prefix(model)
    chunk = _grouped_samples(seed)
    lp, ent = batch.shared_prefix_logprobs(model, chunk, temperature=0.7)
    ids, attn, mask = batch._pad_batch(chunk, tok.pad_token_id, torch.device("cpu"))
    lp_ref, ent_ref = batch.flat_logprobs(model, ids, attn, mask, 0.7)
    assert lp.shape == lp_ref.shape == (sum(len(s.response_ids) for s in chunk),)
    torch.testing.assert_close(lp, lp_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent, ent_ref, atol=1e-5, rtol=1e-5)
    params = list(model.parameters())
    weights = torch.linspace(-1, 1, lp.numel())
    g = torch.autograd.grad((lp * weights).sum(), params)
    g_ref = torch.autograd.grad((lp_ref * weights).sum(), params)
    for a, b in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_train_step_with_shared_prefix_matches_the_full_forward() -> None:
    """The update through the shared-prefix forward (the default for HF causal LMs) equals the one through the
    full forward, and the path is not taken when no prompt repeats or under gradient checkpointing."""
    from acereason.models import TinyModelConfig, build_char_tokenizer, build_tiny_model
    from acereason.rl import batch

    tok = build_char_tokenizer()
    base = build_tiny_model(tok, TinyModelConfig(layers=2, hidden=64), seed=0)
    samples = _grouped_samples(3)
    results = []
    for shared in (True, False):
        model = copy.deepcopy(base)
        opt = torch.optim.SGD(model.parameters(), lr=1.0)  # parameters move by the gradient itself
        saved = batch.supports_shared_prefix
        if not shared:
            batch.supports_shared_prefix = lambda m: False  # type: ignore[assignment]
        try:
            st = batch.train_step(model, opt, samples, tok.pad_token_id, micro_batch_size=5)
        finally:
            batch.supports_shared_prefix = saved
        results.append((st, [p.detach().clone() for p in model.parameters()]))
    (a, pa), (b, pb) = results
    assert a.loss == pytest.approx(b.loss, abs=1e-6) and a.grad_norm == pytest.approx(b.grad_norm, rel=1e-4)
    assert a.entropy == pytest.approx(b.entropy, rel=1e-5)
    for x, y in zip(pa, pb, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)
    ckpt = copy.deepcopy(base)
    ckpt.gradient_checkpointing_enable()
    assert not batch.supports_shared_prefix(ckpt)
