"""The update's log-probs are the sampler's (issue 18), the mismatch is measured and logged, the truncated-IS
correction matches a plain loop, and max_prompt_tokens is enforced (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from acereason.rl import algos
from acereason.rl.batch import Sample, rollout_logprobs, train_step
from acereason.rl.logging import read_metrics
from acereason.rl.recipe import load_recipe
from acereason.rl.trainer import Trainer
from tests.test_trainer import _quick, save_recipe


def _sampled(temperature: float, seed: int = 0) -> tuple[torch.nn.Module, object, list[Sample]]:
    from acereason.generate.base import SamplingParams
    from acereason.generate.hf import HFGenerator
    from acereason.models import build_char_tokenizer, build_tiny_model

    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=seed)
    gen = HFGenerator(model, tok, device=torch.device("cpu"), batch_size=16)
    prompts = [[{"role": "user", "content": f"Say {i} twice"}] for i in range(4)]
    outs = gen.generate(prompts, 4, SamplingParams(temperature=temperature, top_p=1.0, max_tokens=24, seed=seed))
    samples = [Sample(list(c.prompt_token_ids or []), list(c.token_ids), 1.0, True, list(c.logprobs or []))
               for group in outs for c in group]
    return model, tok, samples


@pytest.mark.parametrize("temperature", [0.6, 1.0])
def test_update_logprobs_equal_the_samplers(temperature: float) -> None:
    model, tok, samples = _sampled(temperature)
    assert sum(len(s.response_ids) for s in samples) > 100
    trained = rollout_logprobs(model, samples, tok.pad_token_id, 64, temperature=temperature)
    sampler = [torch.tensor(s.sampler_logprobs) for s in samples]
    diff = max(float((a - b).abs().max()) for a, b in zip(trained, sampler, strict=True))
    assert diff <= 1e-4
    if temperature != 1.0:  # the old loss took log-probs at temperature 1: not the sampled distribution
        at_one = rollout_logprobs(model, samples, tok.pad_token_id, 64, temperature=1.0)
        assert max(float((a - b).abs().max()) for a, b in zip(at_one, sampler, strict=True)) > 0.05
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    stats = train_step(model, opt, samples, tok.pad_token_id, 5, temperature=temperature,
                       max_tokens_per_micro_batch=200)
    m = stats.mismatch
    assert m["mismatch/tokens"] == sum(len(s.response_ids) for s in samples)
    assert m["mismatch/mean_abs_log_ratio"] <= 1e-5 and m["mismatch/p99_abs_log_ratio"] <= 1e-4
    assert m["mismatch/ratio_above_1.1"] == 0.0 and m["mismatch/ratio_below_0.9"] == 0.0


def test_mismatch_summary_matches_its_definition() -> None:
    from acereason.rl.batch import mismatch_stats

    log_r = torch.log(torch.tensor([1.0, 1.2, 0.8, 1.05, 0.95, 1.0, 2.0, 1.0, 1.0, 1.0]))
    m = mismatch_stats(log_r)
    assert m["mismatch/ratio_above_1.1"] == pytest.approx(0.2) and m["mismatch/ratio_below_0.9"] == pytest.approx(0.1)
    assert m["mismatch/mean_abs_log_ratio"] == pytest.approx(float(log_r.abs().mean()))
    assert m["mismatch/p99_abs_log_ratio"] == pytest.approx(float(torch.log(torch.tensor(2.0))))


def test_truncated_is_weights_match_loop() -> None:
    g = torch.Generator().manual_seed(0)
    train, sampler = -torch.rand(40, generator=g) * 3, -torch.rand(40, generator=g) * 3
    fast = algos.truncated_is_weights(train, sampler, 1.5)
    ref = algos.truncated_is_weights_ref(train.tolist(), sampler.tolist(), 1.5)
    assert torch.allclose(fast, torch.tensor(ref), atol=1e-6) and fast.max() == 1.5 and fast.min() < 1


def test_truncated_is_update_equals_a_plain_loop() -> None:
    """train_step with tis_cap vs. a loop over samples: loss sum_i sum_t -A_i * min(pi/mu, C) * ratio / N."""
    import copy

    model, tok, samples = _sampled(0.7, seed=2)
    g = torch.Generator().manual_seed(5)
    for i, s in enumerate(samples):  # a sampler that disagrees: some weights above the cap, some below 1
        s.advantage = float(torch.randn(1, generator=g))
        s.sampler_logprobs = [x + float(torch.randn(1, generator=g)) * 0.5 for x in s.sampler_logprobs or []]
        s.train_mask = i % 5 != 0
    cap, temperature = 1.3, 0.7
    ref_model = copy.deepcopy(model)
    trained = [s for s in samples if s.train_mask and s.response_ids]
    n_tokens = sum(len(s.response_ids) for s in trained)
    for s in trained:
        ids = torch.tensor([s.prompt_ids + s.response_ids])
        logits = ref_model(input_ids=ids).logits[0, len(s.prompt_ids) - 1: -1].float() / temperature
        logp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(s.response_ids)[:, None]).squeeze(-1)
        loss = 0.0
        for t in range(len(s.response_ids)):
            w = min(float(torch.exp(logp[t].detach() - s.sampler_logprobs[t])), cap)
            loss = loss - s.advantage * w * torch.exp(logp[t] - logp[t].detach()) / n_tokens
        loss.backward()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]
    train_step(model, opt, samples, tok.pad_token_id, 3, grad_clip=None, temperature=temperature, tis_cap=cap)
    for p0, p1, r in zip(before, model.parameters(), ref_model.parameters(), strict=True):
        step = p0 - p1.detach()
        assert (step - (r.grad if r.grad is not None else torch.zeros_like(step))).abs().max() <= 1e-5
    # and the correction really acts: without it the update differs
    plain = copy.deepcopy(ref_model)
    for p, q in zip(plain.parameters(), before, strict=True):
        p.data.copy_(q)
    train_step(plain, torch.optim.SGD(plain.parameters(), lr=1.0), samples, tok.pad_token_id, 3, grad_clip=None,
               temperature=temperature)
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(plain.parameters(), model.parameters(), strict=True))


# ------------------------------------------------------------------------- in a run
def test_a_run_logs_the_mismatch_padding_and_resumes_an_old_record(tmp_path: Path) -> None:
    data = _quick(steps=2, temperature=0.6)
    data["train"]["max_tokens_per_micro_batch"] = 64
    run = tmp_path / "run"
    Trainer(load_recipe(save_recipe(tmp_path, data)), run, progress=False).run()
    metrics = read_metrics(run / "metrics.jsonl")
    for m in metrics:
        assert m["mismatch/mean_abs_log_ratio"] <= 1e-5 and m["mismatch/tokens"] > 0
        assert 0 <= m["perf/padding_frac"] < 1 and m["perf/micro_batches"] >= 1 and m["prompts/truncated"] == 0
    import struct

    from tensorboardX.proto import event_pb2  # the TensorBoard events hold the same scalars

    [events] = (run / "tensorboard").iterdir()
    raw, tags = events.read_bytes(), set()

    while raw:  # TFRecord: u64 length, u32 crc, payload, u32 crc
        (n,) = struct.unpack("<Q", raw[:8])
        tags |= {v.tag for v in event_pb2.Event.FromString(raw[12: 12 + n]).summary.value}
        raw = raw[16 + n:]
    assert {"mismatch/mean_abs_log_ratio", "mismatch/p99_abs_log_ratio", "mismatch/ratio_above_1.1",
            "mismatch/ratio_below_0.9", "perf/padding_frac"} <= tags
    from acereason.report.figures import training_figure  # and the run report plots them
    from acereason.report.load import load_run

    fig = training_figure(load_run(run))
    assert fig is not None
    titles = {ax.get_title() for ax in fig.axes}
    assert {"Sampler vs trainer |log ratio| (mismatch)", "Tokens with ratio outside [0.9, 1.1]"} <= titles



def test_a_run_recorded_before_the_new_fields_existed_still_resumes(tmp_path: Path) -> None:
    from acereason.schema import DataError

    data = _quick(steps=1)
    run = tmp_path / "run"
    Trainer(load_recipe(save_recipe(tmp_path, data)), run, progress=False).run()
    record = json.loads((run / "recipe.json").read_text())
    for key in ("max_tokens_per_micro_batch", "tis_cap"):
        record["train"].pop(key)
    record["stages"][0].pop("prompt_overflow")
    (run / "recipe.json").write_text(json.dumps(record))
    Trainer(load_recipe(save_recipe(tmp_path, data)), run, resume=True, progress=False)
    data["train"]["tis_cap"] = 2.0  # setting a new field is a change like any other
    with pytest.raises(DataError, match=r"train\.tis_cap"):
        Trainer(load_recipe(save_recipe(tmp_path, data)), run, resume=True, progress=False)


def test_overlong_prompts_are_dropped_at_stage_entry(tmp_path: Path) -> None:
    probe = Trainer(load_recipe(save_recipe(tmp_path, _quick(steps=1))), tmp_path / "probe", progress=False)
    lengths = probe.prompt_lengths(_problems(tmp_path))
    limit = min(lengths)  # "Say 7" fits, "Say 17" does not
    too_long = sum(n > limit for n in lengths)
    assert 0 < too_long < len(lengths)
    run = tmp_path / "run"
    state = Trainer(load_recipe(save_recipe(tmp_path, _quick(steps=1, max_prompt_tokens=limit))), run,
                    progress=False).run()
    st = state["stages"]["a"]
    assert st["filtered"]["prompt_too_long"] == too_long and len(st["active"]) == len(lengths) - too_long


def test_overlong_prompts_are_left_truncated(tmp_path: Path) -> None:
    probe = Trainer(load_recipe(save_recipe(tmp_path, _quick(steps=1))), tmp_path / "probe", progress=False)
    problems = _problems(tmp_path)
    lengths = probe.prompt_lengths(problems)
    limit = min(lengths) - 3
    recipe = load_recipe(save_recipe(tmp_path, _quick(steps=2, max_prompt_tokens=limit,
                                                      prompt_overflow="truncate_left")))
    tr = Trainer(recipe, tmp_path / "run", progress=False)
    seen: list[int] = []
    real = tr._generator

    def spy():  # record the prompt length of every completion the run samples
        gen = real()

        class Spy:
            def generate(self, prompts, n, params):
                outs = gen.generate(prompts, n, params)
                seen.extend(len(c.prompt_token_ids) for group in outs for c in group)
                return outs
        return Spy()

    tr._generator = spy  # type: ignore[method-assign]
    state = tr.run()
    metrics = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert "prompt_too_long" not in state["stages"]["a"]["filtered"]
    assert [m["prompts/truncated"] for m in metrics] == [4, 4]  # every prompt of each 4-prompt batch
    assert seen and max(seen) <= limit and min(seen) >= limit - 2


def _problems(d: Path) -> list:
    from acereason.schema import read_problems

    return list(read_problems(d / "toy.jsonl"))


@pytest.mark.parametrize("name", ["acereason-7b", "acereason-14b"])
def test_the_papers_recipes_keep_the_correction_off(name: str) -> None:
    root = Path(__file__).resolve().parents[1]
    recipe = load_recipe(root / "configs" / f"{name}.yaml", check_files=False)
    assert recipe.train.tis_cap is None and all(s.prompt_overflow == "drop" for s in recipe.stages)
