"""Throughput of ``HFGenerator``'s decode loop vs ``model.generate`` on the tiny model (CPU by default).

    python -m acereason.generate.bench --prompts 32 --n 1 --max-tokens 128 --repeats 3

Both sample at temperature 1, top-p 1, no top-k. Two settings:
- ``fixed``: eos is ignored by both (``min_new_tokens`` for ``generate``), so every row makes exactly
  ``max_tokens`` tokens: the pure per-step cost.
- ``eos``: both stop rows at eos as in real use. ``generate`` keeps computing finished rows until the
  longest one ends; our loop drops them. Tokens/s counts generated tokens only (up to and including eos).
Reported: the best of ``--repeats`` rounds after one warm-up, in generated tokens per second; within a round
the four runs alternate, so on a shared machine they see the same load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from acereason.generate.base import SamplingParams
from acereason.generate.hf import HFGenerator
from acereason.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model


def _best_rates(runs: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Best tokens/s of each ``run`` (which returns the tokens it generated) over ``repeats`` rounds.

    The runs alternate within each round, so on a shared machine every contender sees the same load.
    """
    for run in runs.values():
        run()  # warm-up: first-call allocations and lazy initialisation
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            tokens = run()
            best[name] = max(best[name], tokens / (time.perf_counter() - start))
    return best


def benchmark(prompts: int = 32, n: int = 1, max_tokens: int = 128, repeats: int = 3,
              batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Tokens/s of our loop and of ``model.generate`` in the ``fixed`` and ``eos`` settings."""
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, TinyModelConfig(), seed=seed).eval()
    texts = [f"Problem {i}: what is {i} * {i + 7}? Answer:" + " think" * (i % 5) for i in range(prompts)]
    params = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=max_tokens, seed=seed)
    eos = tok.eos_token_id
    ours = HFGenerator(model, tok, batch_size=batch_size)
    no_eos = HFGenerator(model, tok, batch_size=batch_size)
    no_eos.eos_ids = frozenset({-1})  # benchmark only: a token id that never occurs, so rows run to max_tokens

    def run_ours(gen: HFGenerator) -> int:
        return sum(len(c.token_ids) for cs in gen.generate(texts, n, params) for c in cs)

    enc = tok(texts, return_tensors="pt", padding=True)

    def run_hf(fixed: bool) -> int:
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=max_tokens,
                                 min_new_tokens=max_tokens if fixed else 0, num_return_sequences=n)
        new = out[:, enc["input_ids"].shape[1]:]
        if fixed:
            return new.numel()
        # count up to and including the first eos of each row (generate pads finished rows after it)
        is_eos = new == eos
        first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, torch.full_like(is_eos[:, 0], new.shape[1],
                                                                                        dtype=torch.long))
        return int(first.sum())

    torch.manual_seed(seed)  # generate samples from the global RNG
    return _best_rates({
        "fixed/ours": lambda: run_ours(no_eos),
        "fixed/model.generate": lambda: run_hf(True),
        "eos/ours": lambda: run_ours(ours),
        "eos/model.generate": lambda: run_hf(False),
    }, repeats)


def main() -> None:
    """Parse arguments, run the benchmark, print one line per measurement."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--n", type=int, default=1, help="samples per prompt")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rates = benchmark(args.prompts, args.n, args.max_tokens, args.repeats, args.batch_size)
    print(f"tiny model, {args.prompts} prompts x n={args.n}, max_tokens={args.max_tokens}, "
          f"batch_size={args.batch_size}, torch threads={torch.get_num_threads()}")
    for name, rate in rates.items():
        print(f"{name:22s} {rate:10.0f} tok/s")
    for setting in ("fixed", "eos"):
        ratio = rates[f"{setting}/ours"] / rates[f"{setting}/model.generate"]
        print(f"{setting}: ours / model.generate = {ratio:.2f}x")


if __name__ == "__main__":
    main()
