"""Peak memory of one training step versus response length, at Qwen2's 151,936-token vocabulary (issue 16).

A 1-layer, 64-wide Qwen2 (weights 37 MiB, nearly all of it the tied embedding / LM head), micro-batch 1: one
``train_step`` on a 16-token prompt and an L-token response, each (implementation, L) in its own subprocess,
reporting the process's peak RSS. The growth from L = 256 to L = 4,096 is the loss path's memory per token.
"old" is ``acereason/rl/batch.py`` as of commit de69fc0 (plain head: full fp32 logits, log-softmax, its
gradient, a second softmax for the entropy), read from git and run as is; "new" is the current package
(chunked head, :mod:`acereason.rl.head`).

Run: ``.venv/bin/python benchmarks/head_memory.py [--lengths 256 4096] [--write]`` (``--write`` updates the
"Loss head memory" section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `benchmarks.results` and the package when run as a script
OLD_COMMIT = "de69fc0"
VOCAB, HIDDEN = 151_936, 64


def _model():  # -> Qwen2ForCausalLM
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=40_000,
                      tie_word_embeddings=True, attn_implementation="sdpa")
    return Qwen2ForCausalLM(cfg)


def _batch_module(impl: str):  # -> module with Sample and train_step
    if impl == "new":
        from acereason.rl import batch

        return batch
    src = subprocess.run(["git", "show", f"{OLD_COMMIT}:acereason/rl/batch.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_batch.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_batch", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_batch"] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def child(impl: str, length: int, temperature: float) -> dict[str, float]:
    """One step in this process; returns its peak RSS (MiB) and the step's loss."""
    import torch

    torch.set_num_threads(2)
    mod = _batch_module(impl)
    model = _model()
    g = torch.Generator().manual_seed(length)
    prompt = torch.randint(0, VOCAB, (16,), generator=g).tolist()
    response = torch.randint(0, VOCAB, (length,), generator=g).tolist()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats = mod.train_step(model, opt, [mod.Sample(prompt, response, 1.0, True)], 0, 1, temperature=temperature)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"peak_mib": peak, "before_mib": before, "loss": stats.loss}


def measure(lengths: list[int]) -> dict[str, dict[int, dict[str, float]]]:
    out: dict[str, dict[int, dict[str, float]]] = {}
    for impl in ("old", "new"):
        for n in lengths:
            res = subprocess.run([sys.executable, __file__, "--child", impl, str(n)], cwd=ROOT, check=True,
                                 capture_output=True, text=True)
            out.setdefault(impl, {})[n] = json.loads(res.stdout.strip().splitlines()[-1])
            print(impl, n, out[impl][n], file=sys.stderr)
    return out


def render(res: dict[str, dict[int, dict[str, float]]], lengths: list[int]) -> str:
    lo, hi = lengths[0], lengths[-1]
    rows = ["| head | " + " | ".join(f"peak RSS at {n:,} tokens" for n in lengths)
            + f" | growth {lo:,} -> {hi:,} |", "|---|" + "---|" * (len(lengths) + 1)]
    for impl, label in (("old", f"plain (commit {OLD_COMMIT})"), ("new", "chunked (acereason.rl.head)")):
        peaks = [res[impl][n]["peak_mib"] for n in lengths]
        rows.append(f"| {label} | " + " | ".join(f"{p / 1024:.2f} GiB" for p in peaks)
                    + f" | **{(peaks[-1] - peaks[0]) / 1024:+.2f} GiB** |")
    return "\n".join([
        f"Setup: Qwen2 with the {VOCAB:,}-token vocabulary, 1 layer, width {HIDDEN} (weights 37 MiB, tied head), "
        "one `train_step` at micro-batch 1 on a 16-token prompt and an N-token response (temperature 1), each "
        "(head, N) in a fresh subprocess; peak RSS of that process (`ru_maxrss`), CPU, fp32.", "", *rows, "",
        "Acceptance (issue 16): growth <= 2 GiB from 256 to 4,096 tokens. A 32,768-token response trains on CPU in "
        "`tests/test_rl_head_slow.py` (marked slow).", "",
        "Command: `.venv/bin/python benchmarks/head_memory.py --write`"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=2, metavar=("IMPL", "LENGTH"), help=argparse.SUPPRESS)
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 4096])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), 1.0)))
        return
    res = measure(args.lengths)
    text = render(res, args.lengths)
    print(text)
    if args.write:
        from benchmarks.results import write_section

        write_section("Loss head memory", text)


if __name__ == "__main__":
    main()
