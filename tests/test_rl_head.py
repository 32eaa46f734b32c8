"""The memory-bounded head gives the plain computation's log-probs, entropy and gradients (issue 16), under the
sampling temperature (issue 18); packed micro-batches give the padded ones' log-probs."""

from __future__ import annotations

import pytest
import torch

from acereason.rl.head import chunked_head_logprobs, head_logprobs_ref, plain_head_logprobs


def _inputs(seed: int, n: int, h: int, v: int, bias: bool) -> tuple[torch.Tensor, torch.nn.Linear, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g).requires_grad_(True)
    head = torch.nn.Linear(h, v, bias=bias)
    with torch.no_grad():
        head.weight.copy_(torch.randn(v, h, generator=g) * 3 / h**0.5)  # logits of std ~3: peaked rows
        if bias:
            head.bias.copy_(torch.randn(v, generator=g))
    targets = torch.randint(0, v, (n,), generator=g)
    return hidden, head, targets


def _grads(hidden: torch.Tensor, head: torch.nn.Linear, logp: torch.Tensor, upstream: torch.Tensor) -> list:
    wrt = [hidden, head.weight] + ([head.bias] if head.bias is not None else [])
    return list(torch.autograd.grad((logp * upstream).sum(), wrt))


@pytest.mark.parametrize("temperature", [0.6, 1.0, 1.7])
@pytest.mark.parametrize("rows", [1, 3, 8, 1000])
@pytest.mark.parametrize("bias", [False, True])
def test_chunked_head_equals_plain_values_and_gradients(temperature: float, rows: int, bias: bool) -> None:
    hidden, head, targets = _inputs(int(temperature * 10) + rows, n=23, h=16, v=97, bias=bias)
    # d loss / d logp of a token-mean GRPO loss: -advantage / tokens
    upstream = torch.randn(23, generator=torch.Generator().manual_seed(rows)) / 23
    lp_c, ent_c = chunked_head_logprobs(hidden, head, targets, temperature, rows=rows)
    lp_p, ent_p = plain_head_logprobs(hidden, head, targets, temperature)
    assert (lp_c - lp_p).abs().max() <= 1e-5 and (ent_c - ent_p).abs().max() <= 1e-5
    assert not ent_c.requires_grad
    for a, b in zip(_grads(hidden, head, lp_c, upstream), _grads(hidden, head, lp_p, upstream), strict=True):
        assert (a - b).abs().max() <= 1e-5


def test_chunked_head_matches_a_plain_loop() -> None:
    hidden, head, targets = _inputs(7, n=5, h=4, v=11, bias=True)
    lp, ent = chunked_head_logprobs(hidden, head, targets, 0.6, rows=2)
    ref_lp, ref_ent = head_logprobs_ref(hidden.tolist(), head.weight.tolist(), head.bias.tolist(),
                                        targets.tolist(), 0.6)
    assert torch.allclose(lp, torch.tensor(ref_lp), atol=1e-5)
    assert torch.allclose(ent, torch.tensor(ref_ent), atol=1e-5)
    # d logp_i / d h_i by finite differences of the loop reference (float64), one coordinate at a time
    (g,) = torch.autograd.grad(lp.sum(), hidden)
    eps = 1e-4
    for i, j in [(0, 0), (3, 2), (4, 3)]:
        up, down = hidden.detach().double().clone(), hidden.detach().double().clone()
        up[i, j] += eps
        down[i, j] -= eps
        w, b = head.weight.double().tolist(), head.bias.double().tolist()
        fd = (sum(head_logprobs_ref(up.tolist(), w, b, targets.tolist(), 0.6)[0])
              - sum(head_logprobs_ref(down.tolist(), w, b, targets.tolist(), 0.6)[0])) / (2 * eps)
        assert g[i, j].item() == pytest.approx(fd, abs=1e-3)


def test_chunked_head_under_bf16_autocast_follows_the_plain_autocast_path() -> None:
    hidden, head, targets = _inputs(3, n=17, h=32, v=64, bias=False)
    upstream = torch.ones(17)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lp_c, ent_c = chunked_head_logprobs(hidden, head, targets, 0.6, rows=4)
        lp_p, ent_p = plain_head_logprobs(hidden, head, targets, 0.6)
    assert lp_c.dtype == torch.float32
    assert (lp_c - lp_p).abs().max() <= 1e-3 and (ent_c - ent_p).abs().max() <= 1e-3  # same bf16 logits
    ref, _ = plain_head_logprobs(hidden, head, targets, 0.6)  # fp32: bf16 really was used
    assert (lp_c - ref).abs().max() > 1e-4
    for a, b in zip(_grads(hidden, head, lp_c, upstream), _grads(hidden, head, lp_p, upstream), strict=True):
        assert torch.allclose(a, b, rtol=2e-2, atol=2e-2)


def test_empty_selection_gives_empty_outputs() -> None:
    hidden, head, _ = _inputs(0, n=0, h=4, v=9, bias=False)
    lp, ent = chunked_head_logprobs(hidden, head, torch.zeros(0, dtype=torch.long))
    assert lp.shape == (0,) and ent.shape == (0,)


def _tiny(seed: int = 3, attn: str = "sdpa"):
    from acereason.models import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=seed)
    model.config._attn_implementation = attn
    return model, tok


def test_model_logprobs_and_gradients_equal_the_full_logits_path() -> None:
    from acereason.rl.batch import Sample, _pad_batch, response_logprobs

    model, tok = _tiny()
    samples = [Sample([5, 6, 7, 8], [9, 10, 11], 1.0, True), Sample([5, 6], [12, 13, 14, 15, 16], -1.0, True)]
    ids, attn, mask = _pad_batch(samples, tok.pad_token_id, torch.device("cpu"))
    fast, _ = response_logprobs(model, ids, attn, mask, temperature=0.6)
    g_fast = torch.autograd.grad(fast.sum(), list(model.parameters()), allow_unused=True)
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float() / 0.6
    full = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1) * mask
    g_full = torch.autograd.grad(full.sum(), list(model.parameters()), allow_unused=True)
    assert (fast - full).abs().max() <= 1e-5
    for a, b in zip(g_fast, g_full, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert (a - b).abs().max() <= 1e-5


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_micro_batches_give_the_padded_logprobs(attn: str) -> None:
    from acereason.rl.batch import Sample, _micro_logprobs

    model, tok = _tiny(attn=attn)
    model.eval()
    samples = [Sample([5, 6, 7], [9, 10, 11, 12], 1.0, True), Sample([5, 6, 8, 9, 7], [12, 13], -1.0, True),
               Sample([4, 4], [20, 21, 22, 23, 24, 25], 0.5, True)]
    cpu = torch.device("cpu")
    padded, ent_pad = _micro_logprobs(model, samples, tok.pad_token_id, cpu, packed=False, temperature=0.6)
    packed, ent_pack = _micro_logprobs(model, samples, tok.pad_token_id, cpu, packed=True, temperature=0.6)
    assert padded.shape == (12,)
    assert (padded - packed).abs().max() <= 1e-5 and (ent_pad - ent_pack).abs().max() <= 1e-5
