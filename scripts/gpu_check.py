"""GPU check: two GRPO steps of a real-shaped policy (Qwen2.5-1.5B's config, random init) with our sampler and
update, and the same workload through TRL's GRPOTrainer.

**Ours**, per step: sample ``--rows`` responses of ``--sample-tokens`` with the fast sampler (``static``: static
KV cache, CUDA-graph decode step; or ``hf``), then one update (bf16 autocast, gradient checkpointing, chunked
head, AdamW) on responses of ``--response-tokens`` (8K by default: the sampled tokens followed by random ones,
so the update sees the full length whatever the random policy samples).

**TRL** (``--trl``, on by default when ``trl`` imports; ``--no-trl`` skips it): the same policy rebuilt from
the same seed (identical initial weights), the same ``--rows`` = prompts x ``--group``, gradient checkpointing,
bf16 autocast on CUDA, the same micro-batch size, through GRPOTrainer (:mod:`benchmarks.trl_side`). TRL trains
on what it sampled, so its update length is the sampled length: each completion is exactly ``--sample-tokens``
(``min_new_tokens``). To compare like with like, each of our steps then also runs a second update on the same
responses cut / padded to ``--sample-tokens`` (``ours_matched``), and the ratios ``ours_over_trl`` use that.

Reported as JSON on stdout (and ``--out FILE``): per side and step, s/step, sampling tokens/s, update tokens/s,
MFU (8 N FLOPs per token with the checkpointed recompute, plus attention, over the device's bf16 peak,
``--peak-tflops``) and peak memory (``torch.cuda.max_memory_allocated``; the process's peak RSS on CPU). Step 1
includes compilation and warm-up; read the last step. An estimate of the run's duration goes to stderr first.

On CPU ``--tiny`` runs the same code with tiny shapes (tests/test_gpu_check.py). On the GPU machine, from a
copy of the repo with pydantic, trl and their dependencies carried as wheels (docs/training.md, "GPU check")::

    python3 scripts/gpu_check.py --out $OUT/gpu_check.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QWEN25_15B = {"vocab_size": 151936, "hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12,
              "num_key_value_heads": 2, "intermediate_size": 8960, "tie_word_embeddings": True,
              "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6}
TINY = {"vocab_size": 104, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "tie_word_embeddings": True,
        "max_position_embeddings": 1024}
# Rough H100/H200 figures for the duration estimate only (not measurements): seconds per decode step of the
# whole batch for a 1.5B model, compile / graph capture of the static loop, building a policy, and the MFU an
# update reaches. The estimate scales the decode steps by the model's parameter count.
DECODE_S = {"static": 0.012, "hf": 0.030}
COMPILE_S, BUILD_S, UPDATE_MFU = 90.0, 20.0, 0.30


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30


def build_policy(shape_cfg: dict[str, Any], tok: Any, device: Any, seed: int = 0) -> Any:
    """The random-init Qwen2 policy both sides train: the same ``seed`` gives the same weights."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(**shape_cfg, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         attn_implementation="sdpa")
    return Qwen2ForCausalLM(config).to(device)


def update_flops(tokens: int, rows: int, shape: Any) -> float:
    """FLOPs of one update: 6 N per token (forward + backward) + 2 N for the checkpointed recompute, and
    attention 12 L H S per token (causal half of QK^T and PV, forward + backward + recompute)."""
    seq = tokens / rows
    return tokens * (8 * shape.params + 12 * shape.layers * shape.hidden * seq / 2)


def estimate_seconds(args: argparse.Namespace, shape: Any, device_type: str, sampler: str) -> float:
    """A rough duration of the whole run on an H100/H200-class GPU (see the constants above)."""
    if device_type != "cuda":
        return 0.0
    scale = shape.params / 1.54e9
    peak = args.peak_tflops * 1e12 * UPDATE_MFU
    update = update_flops(args.rows * (args.prompt_tokens + args.response_tokens), args.rows, shape) / peak
    ours = args.steps * (args.sample_tokens * DECODE_S[sampler] * scale + update)
    total = BUILD_S + ours + (COMPILE_S if sampler == "static" else 0.0)
    if args.trl:
        matched = update_flops(args.rows * (args.prompt_tokens + args.sample_tokens), args.rows, shape) / peak
        total += BUILD_S + args.steps * (2 * matched + args.sample_tokens * DECODE_S["hf"] * scale)
    return total


def make_prompt(args: argparse.Namespace) -> str:
    """The one prompt every row answers (the char tokenizer: one token per character)."""
    return "Solve: " + "1+1=? " * max(1, args.prompt_tokens // 6)


def plan_update_gib(args: argparse.Namespace, shape: Any, device_type: str, response_tokens: int) -> float:
    """acereason.rl.plan's update-phase estimate for this workload, without its runtime allowance (GiB): the
    number to hold against the measured ``update_peak_gib``."""
    from acereason.rl.plan import GIB, plan_stage
    from acereason.rl.recipe import recipe_from_dict

    train: dict[str, Any] = {"micro_batch_size": args.micro_batch_size, "generation_batch_size": args.rows}
    if args.max_tokens_per_micro_batch is not None:
        train["max_tokens_per_micro_batch"] = args.max_tokens_per_micro_batch
    recipe = recipe_from_dict({
        "model": {"tiny": True, "gradient_checkpointing": True, "bf16_autocast": device_type == "cuda"},
        "train": train,
        "stages": [{"name": "s", "domain": "math", "data": ["x"], "max_prompt_tokens": len(make_prompt(args)),
                    "max_response_tokens": response_tokens, "rollouts_per_prompt": args.group,
                    "prompts_per_step": args.rows // args.group, "steps": 1}]}, check_files=False)
    sp = plan_stage(shape, recipe, recipe.stages[0], device_type)
    return (sp.update - sp.parts["runtime"]) / GIB


def run_ours(args: argparse.Namespace, shape_cfg: dict[str, Any], device: Any, prompt: str) -> dict[str, Any]:
    """Our side: ``--steps`` of sample + update (and the TRL-matched update when ``--trl``)."""
    import torch

    from acereason.generate.base import SamplingParams
    from acereason.generate.static_cache import policy_generator
    from acereason.models.tiny import build_char_tokenizer
    from acereason.rl.batch import Sample, train_step
    from acereason.rl.plan import shape_from_config

    tok = build_char_tokenizer()
    shape = shape_from_config({**shape_cfg, "model_type": "qwen2"})
    model = build_policy(shape_cfg, tok, device)
    model.gradient_checkpointing_enable()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    bf16 = torch.bfloat16 if device.type == "cuda" else None
    gen = policy_generator(model, tok, device, args.rows, args.sampler, dtype=bf16)
    params = SamplingParams(temperature=1.0, max_tokens=args.sample_tokens, seed=0)
    g = torch.Generator().manual_seed(0)

    def update(samples: list[Any]) -> tuple[float, int, float, float]:
        _reset_peak(device)
        _sync(device)
        t0 = time.perf_counter()
        stats = train_step(model, optimizer, samples, tok.pad_token_id, args.micro_batch_size, autocast_dtype=bf16,
                           max_tokens_per_micro_batch=args.max_tokens_per_micro_batch)
        _sync(device)
        return time.perf_counter() - t0, sum(len(s.prompt_ids) + len(s.response_ids) for s in samples), stats.loss, \
            _peak_gib(device)

    def fill(ids: list[int], n: int) -> list[int]:
        tail = torch.randint(3, min(shape.vocab, 100), (max(0, n - len(ids)),), generator=g)
        return (ids + tail.tolist())[:n]

    steps: list[dict[str, Any]] = []
    matched: list[dict[str, Any]] = []
    _reset_peak(device)
    for step in range(args.steps):
        _reset_peak(device)
        _sync(device)
        t0 = time.perf_counter()
        out = gen.generate([prompt] * (args.rows // args.group), args.group, params)
        _sync(device)
        t_sample, sample_peak = time.perf_counter() - t0, _peak_gib(device)
        done = [c for grp in out for c in grp]
        sampled = sum(len(c.token_ids) for c in done)
        adv = [1.0 if k % 2 else -1.0 for k in range(len(done))]
        samples = [Sample(list(c.prompt_token_ids or []), fill(c.token_ids, args.response_tokens), a, True)
                   for c, a in zip(done, adv, strict=True)]
        t_update, tokens, loss, update_peak = update(samples)
        steps.append({"step": step + 1, "sample_s": t_sample, "sampled_tokens": sampled,
                      "sample_tokens_per_s": sampled / t_sample, "update_s": t_update, "update_tokens": tokens,
                      "update_tokens_per_s": tokens / t_update,
                      "mfu": update_flops(tokens, len(samples), shape) / t_update / (args.peak_tflops * 1e12),
                      "loss": loss, "sample_peak_gib": sample_peak, "update_peak_gib": update_peak})
        if args.trl:  # the same responses at TRL's length (exactly --sample-tokens each)
            short = [Sample(s.prompt_ids, fill(c.token_ids, args.sample_tokens), s.advantage, True)
                     for s, c in zip(samples, done, strict=True)]
            m_update, m_tokens, _, m_peak = update(short)
            matched.append({"step": step + 1, "step_s": t_sample + m_update, "sample_s": t_sample,
                            "sampled_tokens": sampled, "sample_tokens_per_s": sampled / t_sample,
                            "update_s": m_update, "update_tokens": m_tokens, "update_tokens_per_s": m_tokens / m_update,
                            "mfu": update_flops(m_tokens, len(short), shape) / m_update / (args.peak_tflops * 1e12),
                            "peak_gib": max(sample_peak, m_peak)})
    report: dict[str, Any] = {"params": shape.params, "sampler": type(gen).__name__, "steps": steps,
                              "plan_update_gib": plan_update_gib(args, shape, device.type, args.response_tokens)}
    if matched:
        report["matched"] = matched
    report["peak_memory_gib" if device.type == "cuda" else "peak_rss_gib"] = max(
        max(s["sample_peak_gib"], s["update_peak_gib"]) for s in steps)
    return report  # model, optimizer and sampler go with this frame (the caller collects them)


def run_trl_side(args: argparse.Namespace, shape_cfg: dict[str, Any], device: Any, prompt: str) -> dict[str, Any]:
    """TRL's side on the same policy (same seed) and workload; adds MFU to its steps."""
    from acereason.models.tiny import build_char_tokenizer
    from acereason.rl.plan import shape_from_config
    from benchmarks.trl_side import run_trl

    tok = build_char_tokenizer()
    shape = shape_from_config({**shape_cfg, "model_type": "qwen2"})
    model = build_policy(shape_cfg, tok, device)
    # the Trainer prints its logs (dicts) on stdout, which carries our JSON: send them to stderr
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        rep = run_trl(model, tok, prompt, rows=args.rows, group=args.group, completion_tokens=args.sample_tokens,
                      micro_batch_size=args.micro_batch_size, steps=args.steps, device=device, out_dir=Path(tmp))
    for s in rep["steps"]:
        s["mfu"] = update_flops(s["update_tokens"], args.rows, shape) / max(s["update_s"], 1e-9) / (
            args.peak_tflops * 1e12)
    del model
    return rep


def ratios(ours: dict[str, Any], trl: dict[str, Any]) -> dict[str, float]:
    """Ours / TRL on the matched workload, last step: > 1 on tokens/s means we are faster; < 1 on s/step and
    peak memory means we take less."""
    o, t = ours["matched"][-1], trl["steps"][-1]
    peak_key = "peak_memory_gib" if "peak_memory_gib" in trl else "peak_rss_gib"
    return {"step_s": o["step_s"] / t["step_s"],
            "sample_tokens_per_s": o["sample_tokens_per_s"] / t["sample_tokens_per_s"],
            "update_tokens_per_s": o["update_tokens_per_s"] / t["update_tokens_per_s"],
            "peak_memory": max(m["peak_gib"] for m in ours["matched"]) / trl[peak_key]}


def _free(device: Any) -> None:
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from acereason.rl.plan import shape_from_config

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    shape_cfg = dict(TINY if args.tiny else QWEN25_15B)
    shape = shape_from_config({**shape_cfg, "model_type": "qwen2"})
    sampler = args.sampler if args.sampler != "auto" else ("static" if device.type == "cuda" else "hf")
    est = estimate_seconds(args, shape, device.type, sampler)
    if est:
        print(f"gpu_check: estimated {est:.0f} s (rough; H100/H200-class GPU)", file=sys.stderr, flush=True)
    prompt = make_prompt(args)
    t0 = time.perf_counter()
    ours = run_ours(args, shape_cfg, device, prompt)
    _free(device)
    report: dict[str, Any] = {"device": str(device), "model": "tiny" if args.tiny else "qwen2.5-1.5b-shape",
                              "params": ours["params"], "sampler": ours["sampler"], "rows": args.rows,
                              "group": args.group, "sample_tokens": args.sample_tokens,
                              "response_tokens": args.response_tokens, "micro_batch_size": args.micro_batch_size,
                              "steps": ours["steps"], "plan_update_gib": ours["plan_update_gib"]}
    for key in ("peak_memory_gib", "peak_rss_gib"):
        if key in ours:
            report[key] = ours[key]
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    report["ours_s"] = time.perf_counter() - t0
    if args.trl:
        t1 = time.perf_counter()
        report["ours_matched"] = ours["matched"]
        report["trl"] = run_trl_side(args, shape_cfg, device, prompt)
        report["trl_s"] = time.perf_counter() - t1
        report["ours_over_trl"] = ratios(ours, report["trl"])
        _free(device)
    report["estimate_s"] = est
    return report


def main(argv: list[str] | None = None) -> int:
    from benchmarks.trl_side import trl_version

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (CPU test)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--sampler", default="auto", choices=["auto", "hf", "static"])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--rows", type=int, default=16, help="responses per step")
    ap.add_argument("--group", type=int, default=8, help="responses per prompt")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--sample-tokens", type=int, default=1024, help="tokens sampled per response (TRL: exactly)")
    ap.add_argument("--response-tokens", type=int, default=8192, help="response length in our update")
    ap.add_argument("--micro-batch-size", type=int, default=1)
    ap.add_argument("--max-tokens-per-micro-batch", type=int, default=None)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak (H100/H200 SXM: 989)")
    ap.add_argument("--trl", action=argparse.BooleanOptionalAction, default=None,
                    help="also run TRL's GRPOTrainer on the same workload (default: when trl imports)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.trl is None:
        args.trl = trl_version() is not None
    elif args.trl and trl_version() is None:
        ap.error("--trl: trl does not import (install it, or carry its wheels: docs/training.md, 'GPU check')")
    if args.tiny:
        args.sample_tokens, args.response_tokens = min(args.sample_tokens, 16), min(args.response_tokens, 48)
        args.prompt_tokens = min(args.prompt_tokens, 24)
    report = run(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        from acereason.atomic import write_text

        write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
