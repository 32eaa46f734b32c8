"""GPU check: two GRPO steps of a real-shaped policy (Qwen2.5-1.5B's config, random init) with our sampler and update.

Per step: sample ``--rows`` responses of ``--sample-tokens`` with the fast sampler (``static``: static KV cache,
CUDA-graph decode step; or ``hf``), then one update (bf16 autocast, gradient checkpointing, chunked head, AdamW)
on responses of ``--response-tokens`` (8K by default: the sampled tokens followed by random ones, so the
update sees the full length whatever the random policy samples). Reports sampling tokens/s, update tokens/s,
MFU (6 N tokens + attention FLOPs over the device's bf16 peak, ``--peak-tflops``) and the peak memory, as JSON
on stdout (and ``--out FILE``). The first step includes compilation; step 2 is the measurement.

On CPU ``--tiny`` runs the same code with tiny shapes (tests/test_gpu_check.py). On the GPU machine, from a
copy of the repo with pydantic carried as a wheel (see docs/training.md, "GPU check")::

    python3 scripts/gpu_check.py --out $OUT/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
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


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from acereason.generate.base import SamplingParams
    from acereason.generate.static_cache import policy_generator
    from acereason.models.tiny import build_char_tokenizer
    from acereason.rl.batch import Sample, train_step
    from acereason.rl.plan import shape_from_config

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    shape_cfg = dict(TINY if args.tiny else QWEN25_15B)
    tok = build_char_tokenizer()
    torch.manual_seed(0)
    config = Qwen2Config(**shape_cfg, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         attn_implementation="sdpa")
    model = Qwen2ForCausalLM(config).to(device)
    model.gradient_checkpointing_enable()
    shape = shape_from_config({**shape_cfg, "model_type": "qwen2"})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    gen = policy_generator(model, tok, device, args.rows, args.sampler, dtype=torch.bfloat16 if device.type == "cuda"
                           else None)
    prompt = "Solve: " + "1+1=? " * max(1, args.prompt_tokens // 6)
    params = SamplingParams(temperature=1.0, max_tokens=args.sample_tokens, seed=0)
    g = torch.Generator().manual_seed(0)
    steps: list[dict[str, float]] = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for step in range(args.steps):
        _sync(device)
        t0 = time.perf_counter()
        out = gen.generate([prompt] * (args.rows // args.group), args.group, params)
        _sync(device)
        t_sample = time.perf_counter() - t0
        sampled = sum(len(c.token_ids) for grp in out for c in grp)
        samples = []
        for k, c in enumerate(c for grp in out for c in grp):
            tail = torch.randint(3, min(shape.vocab, 100), (args.response_tokens - len(c.token_ids),), generator=g)
            response = (c.token_ids + tail.tolist())[: args.response_tokens]
            samples.append(Sample(list(c.prompt_token_ids or []), response, 1.0 if k % 2 else -1.0, True))
        tokens = sum(len(s.prompt_ids) + len(s.response_ids) for s in samples)
        t1 = time.perf_counter()
        stats = train_step(model, optimizer, samples, tok.pad_token_id, args.micro_batch_size,
                           autocast_dtype=torch.bfloat16 if device.type == "cuda" else None,
                           max_tokens_per_micro_batch=args.max_tokens_per_micro_batch)
        _sync(device)
        t_update = time.perf_counter() - t1
        # FLOPs: 6 N per token (forward + backward) + 2 N per token for the checkpointed recompute, attention
        # 12 L H S per token (causal half of QK^T and PV, forward + backward + recompute)
        seq = tokens / len(samples)
        flops = tokens * (8 * shape.params + 12 * shape.layers * shape.hidden * seq / 2)
        steps.append({"step": step + 1, "sample_s": t_sample, "sampled_tokens": sampled,
                      "sample_tokens_per_s": sampled / t_sample, "update_s": t_update, "update_tokens": tokens,
                      "update_tokens_per_s": tokens / t_update,
                      "mfu": flops / t_update / (args.peak_tflops * 1e12), "loss": stats.loss})
    report: dict[str, Any] = {"device": str(device), "model": "qwen2.5-1.5b-shape" if not args.tiny else "tiny",
                              "params": shape.params, "sampler": type(gen).__name__, "rows": args.rows,
                              "sample_tokens": args.sample_tokens, "response_tokens": args.response_tokens,
                              "steps": steps}
    if device.type == "cuda":
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        report["gpu"] = torch.cuda.get_device_name(device)
    else:
        import resource

        report["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (CPU test)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--sampler", default="auto", choices=["auto", "hf", "static"])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--rows", type=int, default=16, help="responses per step")
    ap.add_argument("--group", type=int, default=8, help="responses per prompt")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--sample-tokens", type=int, default=1024, help="tokens sampled per response")
    ap.add_argument("--response-tokens", type=int, default=8192, help="response length in the update")
    ap.add_argument("--micro-batch-size", type=int, default=1)
    ap.add_argument("--max-tokens-per-micro-batch", type=int, default=None)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak (H100/H200 SXM: 989)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
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
