"""VLLMGenerator on a GPU with vllm installed (``make test-gpu``); skipped elsewhere."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.gpu
vllm = pytest.importorskip("vllm")
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("vllm tests need a CUDA device", allow_module_level=True)

from acereason.generate import SamplingParams, make_generator  # noqa: E402
from acereason.generate.hf import HFGenerator  # noqa: E402
from acereason.generate.vllm_backend import VLLMGenerator  # noqa: E402
from acereason.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model, save_tiny  # noqa: E402

PROMPTS = ["Hello there", [{"role": "user", "content": "What is 2+2?"}], "Compute 12*13."]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tok = build_char_tokenizer()
    return save_tiny(build_tiny_model(tok, TinyModelConfig(), seed=0), tok, tmp_path_factory.mktemp("tiny") / "m")


@pytest.fixture(scope="module")
def engine(model_dir):
    return VLLMGenerator(model_dir, dtype="float32", gpu_memory_utilization=0.2, max_model_len=512,
                         enforce_eager=True)


def test_greedy_matches_hf_on_the_same_model(engine, model_dir):
    params = SamplingParams(temperature=0, max_tokens=16)
    ours = engine.generate(PROMPTS, 1, params)
    ref = HFGenerator.from_pretrained(model_dir, device="cuda").generate(PROMPTS, 1, params)
    for (a,), (b,) in zip(ours, ref, strict=True):
        assert a.prompt_token_ids == b.prompt_token_ids
        assert a.token_ids == b.token_ids and a.text == b.text and a.finish_reason == b.finish_reason


def test_n_seed_finish_reasons_and_logprobs(engine):
    params = SamplingParams(temperature=1.0, max_tokens=12, seed=3)
    first = engine.generate(PROMPTS, 4, params)
    assert [len(cs) for cs in first] == [4, 4, 4]
    again = engine.generate(PROMPTS, 4, params)
    assert [[c.token_ids for c in cs] for cs in again] == [[c.token_ids for c in cs] for cs in first]
    for cs in first:
        for c in cs:
            assert c.finish_reason in ("stop", "length")
            assert c.finish_reason == "stop" or len(c.token_ids) == 12
            assert len(c.logprobs) == len(c.token_ids) and all(math.isfinite(x) and x <= 0 for x in c.logprobs)


def test_stop_string_cuts_text(engine):
    (free,) = engine.generate([PROMPTS[0]], 1, SamplingParams(temperature=0, max_tokens=30))[0]
    stop = free.text[4:7]
    (cut,) = engine.generate([PROMPTS[0]], 1, SamplingParams(temperature=0, max_tokens=30, stop=(stop,)))[0]
    assert cut.finish_reason == "stop" and cut.text == free.text[: free.text.find(stop)]


def test_make_generator_spec(model_dir):
    gen = make_generator(f"vllm:{model_dir}", dtype="float32", gpu_memory_utilization=0.2, max_model_len=512)
    assert isinstance(gen, VLLMGenerator)
