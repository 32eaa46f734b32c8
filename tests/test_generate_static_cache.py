"""StaticCacheGenerator: agreement with the HF loop on CPU (same seeds -> same tokens), the contract's fields,
log-probs under the temperature against a forward pass, auto-selection and the registry spec."""

from __future__ import annotations

import pytest
import torch

from acereason.generate import SamplingParams, make_generator
from acereason.generate.hf import HFGenerator
from acereason.generate.static_cache import StaticCacheGenerator, policy_generator
from acereason.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model, save_tiny

PROMPTS = [
    "Hello there",
    "a",
    "What is 12*13? Think step by step, then answer.",
    [{"role": "user", "content": "Compute 2+2 and put it in \\boxed{}."}],
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tok():
    return build_char_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return build_tiny_model(tok, TinyModelConfig(), seed=0).eval()


@pytest.mark.parametrize("params,batch_size", [
    (SamplingParams(temperature=0, max_tokens=40), 64),
    (SamplingParams(temperature=1.0, max_tokens=60, seed=3), 64),
    (SamplingParams(temperature=1.0, max_tokens=60, seed=3), 5),
    (SamplingParams(temperature=0.6, top_p=0.9, max_tokens=60, seed=5, stop=("e",)), 7),
])
def test_same_seed_same_samples_as_the_hf_loop(tok, model, params, batch_size):
    ref = HFGenerator(model, tok, batch_size=batch_size).generate(PROMPTS, 4, params)
    out = StaticCacheGenerator(model, tok, batch_size=batch_size, capacity_multiple=16).generate(PROMPTS, 4, params)
    finished_early = 0
    for group_ref, group in zip(ref, out, strict=True):
        for a, b in zip(group_ref, group, strict=True):
            assert (b.token_ids, b.text, b.finish_reason, b.prompt_token_ids) == \
                (a.token_ids, a.text, a.finish_reason, a.prompt_token_ids)
            assert b.logprobs == pytest.approx(a.logprobs, abs=1e-5)
            finished_early += len(a.token_ids) < params.max_tokens
    if params.temperature > 0:  # rows ended at different steps, so the static loop really masked finished rows
        assert finished_early > 0


def test_bf16_autocast_samples_like_the_hf_loop(tok, model):
    """Under autocast the model writes float32 keys (after RoPE) and bf16 values: the static cache holds each
    in its own dtype (one dtype for both failed in ``index_copy_`` at the first decode step)."""
    params = SamplingParams(temperature=1.0, max_tokens=30, seed=2)
    ref = HFGenerator(model, tok, dtype=torch.bfloat16).generate(PROMPTS, 2, params)
    out = StaticCacheGenerator(model, tok, dtype=torch.bfloat16, capacity_multiple=8).generate(PROMPTS, 2, params)
    for group_ref, group in zip(ref, out, strict=True):
        for a, b in zip(group_ref, group, strict=True):
            pairs = zip(a.token_ids, b.token_ids, strict=False)
            n = next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(a.token_ids), len(b.token_ids)))
            assert n > 0  # the same first token at least; bf16 rounding may part the two later
            assert b.logprobs[:n] == pytest.approx(a.logprobs[:n], abs=0.05)


def test_logprobs_are_under_the_temperature(tok, model):
    """Each token's log-prob equals log_softmax(logits / T) of a plain forward over prompt + response."""
    params = SamplingParams(temperature=0.7, max_tokens=30, seed=11)
    out = StaticCacheGenerator(model, tok, capacity_multiple=8).generate(PROMPTS[:3], 2, params)
    for group in out:
        for c in group:
            ids = torch.tensor([c.prompt_token_ids + c.token_ids])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0].float() / params.temperature
            start = len(c.prompt_token_ids) - 1
            lp = logits.log_softmax(-1)[start: start + len(c.token_ids)].gather(
                -1, torch.tensor(c.token_ids)[:, None]).squeeze(-1)
            assert c.logprobs == pytest.approx(lp.tolist(), abs=1e-4)


def test_cache_is_reused_across_calls_and_results_repeat(tok, model):
    gen = StaticCacheGenerator(model, tok, capacity_multiple=128)
    params = SamplingParams(temperature=1.0, max_tokens=20, seed=1)
    first = gen.generate(PROMPTS, 3, params)
    cache = gen._cache
    again = gen.generate(PROMPTS, 3, params)
    assert gen._cache is cache
    assert [[c.token_ids for c in g] for g in first] == [[c.token_ids for c in g] for g in again]
    other = gen.generate(PROMPTS, 3, SamplingParams(temperature=1.0, max_tokens=20, seed=2))
    assert [[c.token_ids for c in g] for g in first] != [[c.token_ids for c in g] for g in other]


def test_length_finish_and_eos_included(tok, model):
    out = StaticCacheGenerator(model, tok).generate(["x"], 16, SamplingParams(temperature=1.5, max_tokens=12, seed=0))
    reasons = {c.finish_reason for c in out[0]}
    assert reasons <= {"stop", "length"}
    for c in out[0]:
        assert len(c.token_ids) == len(c.logprobs) <= 12
        if c.finish_reason == "length":
            assert len(c.token_ids) == 12
        elif c.token_ids[-1] == tok.eos_token_id:
            assert tok.eos_token not in c.text


def test_sliding_window_models_are_refused(tok):
    m = build_tiny_model(tok, TinyModelConfig(), seed=0)
    m.config.layer_types = ["sliding_attention", "full_attention"]
    with pytest.raises(ValueError, match="full-attention models only"):
        StaticCacheGenerator(m, tok)


def test_auto_picks_the_hf_loop_on_cpu_and_explicit_choices_win(tok, model):
    assert type(policy_generator(model, tok, torch.device("cpu"), 8)) is HFGenerator
    assert type(policy_generator(model, tok, torch.device("cpu"), 8, "static")) is StaticCacheGenerator
    assert type(policy_generator(model, tok, torch.device("cpu"), 8, "hf")) is HFGenerator
    with pytest.raises(ValueError, match="unknown sampler"):
        policy_generator(model, tok, torch.device("cpu"), 8, "vllm")  # type: ignore[arg-type]
    assert StaticCacheGenerator(model, tok).compile is False  # compiles on CUDA only by default


def test_static_spec_loads_a_saved_model(tok, model, tmp_path):
    save_tiny(model, tok, tmp_path / "m")
    gen = make_generator(f"static:{tmp_path / 'm'}", device="cpu")
    assert isinstance(gen, StaticCacheGenerator)
    params = SamplingParams(temperature=0, max_tokens=10)
    assert [c.token_ids for c in gen.generate(["Hello"], 1, params)[0]] == \
        [c.token_ids for c in HFGenerator(model, tok).generate(["Hello"], 1, params)[0]]
