"""A 32,768-token response trains on CPU at Qwen2's vocabulary (issue 16): the plain head needed ~100 GiB."""

from __future__ import annotations

import math
import resource

import pytest
import torch

pytestmark = pytest.mark.slow


def test_a_32k_token_response_trains_on_cpu_with_a_151936_token_vocabulary() -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from acereason.rl.batch import Sample, train_step

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=151_936, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=40_000,
                      tie_word_embeddings=True, attn_implementation="sdpa")
    model = Qwen2ForCausalLM(cfg)
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, 151_936, (64,), generator=g).tolist()
    response = torch.randint(0, 151_936, (32_768,), generator=g).tolist()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    stats = train_step(model, opt, [Sample(prompt, response, 1.0, True)], 0, 1, temperature=0.6)
    assert stats.tokens == 32_768 and math.isfinite(stats.loss) and stats.grad_norm > 0
    assert any((a != b).any() for a, b in zip(before, model.parameters(), strict=True))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert peak_gib < 8, f"peak RSS {peak_gib:.1f} GiB"  # the plain head's logits alone would be 18.5 GiB
