"""Sampler vs trainer log-probs of the same sampled tokens: does "ratio = 1" hold (issue 18)?

Each sampler the trainer can use (``hf``: :class:`acereason.generate.hf.HFGenerator`, our KV-cache decode
loop, the default on CPU; ``static``: :class:`acereason.generate.static_cache.StaticCacheGenerator`, the
static-cache loop chosen on CUDA, run here on CPU without graph compilation) samples G responses per
prompt at temperature T; the trainer's forward (:func:`acereason.rl.batch.rollout_logprobs`,
the same code path as the update) scores the same tokens. Per token ``log r = log pi_train - log pi_sampler``,
summarised as in the trainer's ``mismatch/*`` metrics (docs/training.md). Configurations, all on CPU:

- ``fp32``: sampler and trainer in float32;
- ``bf16``: sampler and trainer both under bf16 autocast (what ``model.bf16_autocast`` does in a run);
- ``fp32, trainer at T=1``: the loss as it was before issue 18 (log-probs of the raw logits) against a
  sampler at T, the exact mismatch the fix removes.

Model: ``--model DIR`` (a saved HF model, e.g. the demo's SFT policy ``RUN/sft``) or, by default, the tiny
char-level Qwen2 with random weights. Run: ``.venv/bin/python benchmarks/logprob_mismatch.py [--model DIR]
[--write]`` (``--write`` updates the "Sampler vs trainer log-probs" section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.results` when run as a script

PROMPTS = [f"What is {a} + {b}?" for a, b in [(2, 3), (17, 25), (101, 9), (7, 7), (48, 52), (13, 29), (6, 91), (30, 4)]]


def _load(model_dir: str | None):  # -> (model, tokenizer, label)
    if model_dir is None:
        from acereason.models import build_char_tokenizer, build_tiny_model

        tok = build_char_tokenizer()
        return build_tiny_model(tok, seed=0), tok, "tiny char-level Qwen2, random init (2 layers, width 128)"
    from transformers import AutoModelForCausalLM

    from acereason.generate.hf import load_tokenizer

    tok = load_tokenizer(model_dir)
    where = f"`{Path(model_dir).parent.name}/{Path(model_dir).name}`, a saved HF model directory"
    label = f"the CPU demo's SFT policy ({where})" if Path(model_dir).name == "sft" else where
    return AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True), tok, label


def measure(model, tok, temperature: float, bf16: bool, trainer_temperature: float | None = None,
            group: int = 8, max_tokens: int = 48, seed: int = 0, sampler: str = "hf") -> dict[str, float]:
    from acereason.generate.base import SamplingParams
    from acereason.generate.hf import HFGenerator
    from acereason.generate.static_cache import StaticCacheGenerator
    from acereason.rl.batch import Sample, mismatch_stats, rollout_logprobs

    dtype = torch.bfloat16 if bf16 else None
    cls = {"hf": HFGenerator, "static": StaticCacheGenerator}[sampler]
    gen = cls(model, tok, device=torch.device("cpu"), batch_size=64, dtype=dtype)
    messages = [[{"role": "user", "content": p}] for p in PROMPTS]
    outs = gen.generate(messages, group, SamplingParams(temperature=temperature, top_p=1.0, max_tokens=max_tokens,
                                                        seed=seed))
    samples = [Sample(list(c.prompt_token_ids or []), list(c.token_ids), 1.0, True, list(c.logprobs or []))
               for g in outs for c in g]
    t = temperature if trainer_temperature is None else trainer_temperature
    trained = rollout_logprobs(model, samples, tok.pad_token_id, 64, temperature=t, autocast_dtype=dtype)
    log_r = torch.cat([a - torch.tensor(s.sampler_logprobs) for a, s in zip(trained, samples, strict=True)])
    stats = mismatch_stats(log_r)
    stats["max_abs"] = float(log_r.abs().max())
    return stats


def render(rows: list[tuple[str, float, dict[str, float]]], label: str, model_arg: str | None) -> str:
    lines = [f"Model: {label}. {len(PROMPTS)} prompts x G=8, up to 48 new tokens, top_p 1, CPU, "
             "each sampler (`hf`: the HF decode loop, CPU default; `static`: the static-cache loop, CUDA default, "
             "here on CPU) vs the trainer's forward (`rollout_logprobs`, the update's code path).", "",
             "| configuration | T | tokens | mean abs log r | p99 abs log r | max abs log r | r > 1.1 | r < 0.9 "
             "| ratio = 1? |", "|---|---|---|---|---|---|---|---|---|"]
    for name, t, m in rows:
        holds = "yes (to fp32 precision)" if m["max_abs"] <= 1e-4 else "no"
        lines.append(f"| {name} | {t} | {int(m['mismatch/tokens'])} | {m['mismatch/mean_abs_log_ratio']:.2e} | "
                     f"{m['mismatch/p99_abs_log_ratio']:.2e} | {m['max_abs']:.2e} | "
                     f"{m['mismatch/ratio_above_1.1']:.2%} | {m['mismatch/ratio_below_0.9']:.2%} | {holds} |")
    lines += ["", "bf16 here is CPU autocast: the sampler decodes one token at a time from a KV cache, the trainer "
              "runs the whole sequence at once, and bf16 rounds the two differently; the sampler's log-probs are "
              "float32 softmaxes of those bf16 logits in both. `train.tis_cap` corrects for such a mismatch. The "
              "`static` loop's smaller bf16 mismatch is its cache: keys leave RoPE in float32 and are cached so, "
              "while the `hf` loop's cache holds what its bf16 forward returns. A GPU (CUDA kernels, bf16 "
              "weights) was not measured: no device machine was lent to this work.", "",
              "r = pi_train / pi_sampler per sampled token; \"ratio = 1\" holds when every token's "
              "|log r| <= 1e-4. The same numbers are logged per step as `mismatch/*` in `metrics.jsonl` "
              "(docs/training.md).", "",
              "Command: `.venv/bin/python benchmarks/logprob_mismatch.py "
              + ("--model RUN/sft " if model_arg else "") + "--write`"
              + (" (RUN: an `acereason demo` run directory)" if model_arg else "")]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, tok, label = _load(args.model)
    rows = []
    for sampler in ("hf", "static"):
        for t in (0.6, 1.0):
            rows.append((f"`{sampler}`, CPU fp32", t, measure(model, tok, t, bf16=False, sampler=sampler)))
            rows.append((f"`{sampler}`, CPU bf16 autocast (sampler and trainer)", t,
                         measure(model, tok, t, bf16=True, sampler=sampler)))
    rows.append(("`hf`, CPU fp32, trainer at T=1 (the loss before issue 18)", 0.6,
                 measure(model, tok, 0.6, bf16=False, trainer_temperature=1.0)))
    text = render(rows, label, args.model)
    print(text)
    if args.write:
        from benchmarks.results import write_section

        write_section("Sampler vs trainer log-probs", text)


if __name__ == "__main__":
    main()
