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
