"""Our GRPO trainer vs TRL's GRPOTrainer on the same CPU work, side by side in one process.

Same tiny char-level Qwen2 (identical initial weights), same prompts, same reward (response starts with
a digit: ~10% of a random policy's samples, so groups are mixed from the first step), same
hyperparameters: G = 8 rollouts for each of 8 prompts per step (64 completions), lr 3e-3 constant,
AdamW (0.9, 0.999), no weight decay, grad-norm clip 1.0, up to 8 new tokens at temperature 1.0,
no KL (beta = 0), token-level loss over the batch (TRL ``loss_type="dapo"``, ours ``token-mean``),
std-normalised group advantages, one optimizer update per rollout batch.

Run: ``.venv/bin/python benchmarks/trainer_vs_trl.py [--steps 30] [--write]`` (``--write`` updates the
"Trainer vs TRL" section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.results` when run as a script

STEPS_DEFAULT = 30
PROMPTS, GROUP, LR, MAX_TOKENS = 8, 8, 3e-3, 8


def _write_data(d: Path, n: int = 64) -> Path:
    with open(d / "toy.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"t{i}", "domain": "math", "prompt": f"Say {i}", "answer": str(i),
                                "source": "toy"}) + "\n")
    return d / "toy.jsonl"


def run_ours(d: Path, steps: int, threads: int) -> tuple[list[float], list[float]]:
    import yaml

    from acereason.rl.logging import read_metrics
    from acereason.rl.recipe import load_recipe
    from acereason.rl.trainer import Trainer

    torch.set_num_threads(threads)
    recipe = {"name": "bench", "model": {"tiny": True},
              "train": {"seed": 0, "micro_batch_size": PROMPTS * GROUP, "checkpoint_every": 10_000,
                        "generation_batch_size": PROMPTS * GROUP, "grad_clip": 1.0},
              "stages": [{"name": "s", "domain": "math", "data": ["toy.jsonl"], "max_response_tokens": MAX_TOKENS,
                          "rollouts_per_prompt": GROUP, "prompts_per_step": PROMPTS, "temperature": 1.0, "lr": LR,
                          "steps": steps}]}
    (d / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    from acereason.schema import Verdict

    def starts_with_digit(problems, responses):
        return [Verdict(correct=bool(r) and r[0].isdigit(), reason="toy") for r in responses]

    Trainer(load_recipe(d / "recipe.yaml"), d / "ours", reward_fn=starts_with_digit, progress=False).run()
    ms = read_metrics(d / "ours" / "metrics.jsonl")
    return [m["time/step"] for m in ms], [m["reward/mean"] for m in ms]


def run_trl(d: Path, steps: int, threads: int) -> tuple[list[float], list[float]]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from acereason.models import build_char_tokenizer, build_tiny_model
    from acereason.rl.prompts import build_messages
    from acereason.rl.recipe import CODE_INSTRUCTION, MATH_INSTRUCTION
    from acereason.schema import read_problems

    torch.set_num_threads(threads)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, seed=0)
    problems = list(read_problems(d / "toy.jsonl"))
    ds = Dataset.from_list([{"prompt": build_messages(p, MATH_INSTRUCTION, CODE_INSTRUCTION)} for p in problems])

    def starts_with_digit(prompts, completions, **kw):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [1.0 if t and t[0].isdigit() else 0.0 for t in texts]

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.t = time.perf_counter()
            self.times: list[float] = []

        def on_step_end(self, args, state, control, **kw):
            now = time.perf_counter()
            self.times.append(now - self.t)
            self.t = now

    cfg = GRPOConfig(output_dir=str(d / "trl"), per_device_train_batch_size=PROMPTS * GROUP, num_generations=GROUP,
                     gradient_accumulation_steps=1, max_completion_length=MAX_TOKENS, learning_rate=LR, beta=0.0,
                     loss_type="dapo", num_iterations=1, temperature=1.0, top_p=1.0, lr_scheduler_type="constant",
                     warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, max_steps=steps, logging_steps=1,
                     save_strategy="no", report_to=[], use_cpu=True, bf16=False, seed=0, shuffle_dataset=True,
                     scale_rewards="group", disable_tqdm=True)
    timer = Timer()
    trainer = GRPOTrainer(model=model, reward_funcs=starts_with_digit, args=cfg, train_dataset=ds,
                          processing_class=tok, callbacks=[timer])
    timer.t = time.perf_counter()
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    return timer.times, rewards


def _mean(xs: list[float], lo: int, hi: int | None = None) -> float:
    part = xs[lo:hi]
    return sum(part) / max(len(part), 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=STEPS_DEFAULT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _write_data(d)
        trl_t, trl_r = run_trl(d, args.steps, args.threads)
        ours_t, ours_r = run_ours(d, args.steps, args.threads)
    skip = 2  # first steps include lazy imports and allocator warm-up in both
    ours_s, trl_s = statistics.median(ours_t[skip:]), statistics.median(trl_t[skip:])
    lines = [
        f"Setup: tiny char-level Qwen2 (2 layers, width 128), {PROMPTS} prompts x G={GROUP}, {MAX_TOKENS} new tokens, "
        f"lr {LR} constant, no KL, token-level loss, 1 update per batch, {args.steps} steps, "
        f"torch threads {args.threads}, CPU. Reward: response starts with a digit.",
        "",
        "| trainer | median s/step | first 5 steps reward | last 5 steps reward |",
        "|---|---|---|---|",
        f"| acereason | {ours_s:.3f} | {_mean(ours_r, 0, 5):.3f} | {_mean(ours_r, -5):.3f} |",
        f"| TRL GRPOTrainer | {trl_s:.3f} | {_mean(trl_r, 0, 5):.3f} | {_mean(trl_r, -5):.3f} |",
        "",
        f"Speed-up (TRL s/step / ours): **{trl_s / ours_s:.2f}x**",
        "",
        "Reward per step (ours): " + " ".join(f"{r:.2f}" for r in ours_r),
        "",
        "Reward per step (TRL): " + " ".join(f"{r:.2f}" for r in trl_r),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        from benchmarks.results import write_section

        write_section("Trainer vs TRL", text + "\n\nCommand: `.venv/bin/python benchmarks/trainer_vs_trl.py --write`")


if __name__ == "__main__":
    main()
