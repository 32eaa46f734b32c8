"""Our GRPO trainer vs TRL's GRPOTrainer on the same CPU work, side by side in one process.

Two workloads, both on a char-level Qwen2 of 4 layers x width 256 (identical initial weights on both sides),
16 prompts x G = 8 rollouts per step (128 completions), temperature 1.0, top-p 1, no top-k, lr 3e-3 constant,
AdamW (0.9, 0.999), no weight decay, grad-norm clip 1.0, no KL (beta = 0), token-level loss over the batch
(TRL ``loss_type="dapo"``, ours ``token-mean``), std-normalised group advantages, one optimizer update per
rollout batch (TRL ``num_iterations=1``, ``steps_per_generation=1``), torch threads 2:

- ``fixed``: every response is exactly 64 new tokens (the issue's "realistic small workload");
- ``varying``: response lengths drawn from a lognormal (median 64, sigma 0.75, capped at 256 new tokens).

How both samplers get the same lengths, without favouring either: the response length is imposed through the
policy's own next-token distribution, identically on both sides. A forward hook on the model, active only when
gradients are off (sampling; neither trainer's training forward is touched), rewrites the EOS logit at the last
position so that P(EOS) is exactly the length distribution's hazard at that response index (0 for ``fixed`` until
the cap; the discretised lognormal's for ``varying``); the other tokens keep their relative probabilities. All
prompts tokenize to the same length, so the response index is ``position - prompt_len + 1`` from the
``position_ids`` the model is called with (both our decode loop and ``generate`` pass real positions). The lengths
are then i.i.d. draws from the same distribution on both sides whatever the policy learns, and the reward
(response starts with a digit) does not depend on them. The mean response length of each side is reported.

Measurement: ``--rounds`` rounds, each one run of TRL and one of ours (order alternating), ``--steps`` steps each,
fresh trainers from the same weights; the first step of every run is dropped (lazy imports, allocator warm-up)
and the medians over the rest are compared, so a load change on the shared machine hits both alike.

TRL is not a dependency of the package: it is imported from ``$TRL_PATH`` (default ``/tmp/trlpkgs``), e.g.
``.venv/bin/pip install --target /tmp/trlpkgs --no-deps trl==1.16.0 accelerate datasets multiprocess pandas dill
xxhash``.

Run: ``.venv/bin/python benchmarks/trainer_vs_trl.py [--workloads fixed varying] [--rounds 2] [--steps 4]
[--write]`` (``--write`` updates the "Trainer vs TRL" section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.results` when run as a script
sys.path.append(os.environ.get("TRL_PATH", "/tmp/trlpkgs"))  # after the venv: TRL's own packages only

PROMPTS, GROUP, LR = 16, 8, 3e-3
LAYERS, HIDDEN = 4, 256


@dataclass(frozen=True)
class Workload:
    name: str
    max_tokens: int
    median: float | None  # lognormal median of the response length (tokens, EOS included); None: always max_tokens
    sigma: float = 0.0

    def hazard(self) -> list[float]:
        """P(response ends at index k | it reached k), k = 0..max_tokens-1 (at the last index: the cap)."""
        if self.median is None:
            return [0.0] * self.max_tokens
        mu = math.log(self.median)

        def cdf(x: float) -> float:  # P(L <= x) for the continuous lognormal
            return 0.5 * (1 + math.erf((math.log(x) - mu) / (self.sigma * math.sqrt(2)))) if x > 0 else 0.0

        # length n (1-based) gets the mass of (n - 1, n]; everything above the cap ends at the cap (truncated)
        out = []
        for k in range(self.max_tokens):
            survive = 1 - cdf(k)
            out.append(min(1.0, (cdf(k + 1) - cdf(k)) / survive) if survive > 0 else 1.0)
        return out

    def describe(self) -> str:
        if self.median is None:
            return f"every response {self.max_tokens} new tokens (EOS suppressed)"
        return (f"response lengths lognormal (median {self.median:g}, sigma {self.sigma:g}) capped at "
                f"{self.max_tokens} new tokens")


WORKLOADS = {"fixed": Workload("fixed", 64, None), "varying": Workload("varying", 256, 64.0, 0.75)}


class LengthSchedule:
    """Forward hook that sets P(EOS) at the last position to the workload's hazard (sampling only)."""

    def __init__(self, workload: Workload, prompt_len: int, eos_id: int) -> None:
        self.h = torch.tensor(workload.hazard(), dtype=torch.float64)
        self.prompt_len, self.eos = prompt_len, eos_id

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict, out: Any) -> Any:
        if torch.is_grad_enabled():
            return out  # a training forward: untouched on both sides
        pos = kwargs.get("position_ids")
        if pos is None:
            raise RuntimeError("the length schedule needs position_ids")
        logits = out.logits
        k = (pos[:, -1] - self.prompt_len + 1).clamp(0, len(self.h) - 1).cpu()
        h = self.h[k].to(logits.device, torch.float32)
        last = logits[:, -1, :].float()
        last[:, self.eos] = float("-inf")
        rest = torch.logsumexp(last, dim=-1)
        eos_logit = torch.where(h <= 0, torch.full_like(h, float("-inf")),
                                rest + torch.log(h) - torch.log1p(-h.clamp(max=1 - 1e-7)))
        last[:, self.eos] = eos_logit
        last[h >= 1] = float("-inf")
        last[h >= 1, self.eos] = 0.0
        logits[:, -1, :] = last.to(logits.dtype)
        return out


def _write_data(d: Path, n: int = 256) -> Path:
    with open(d / "toy.jsonl", "w") as f:
        for i in range(n):  # same digit count for all: every prompt tokenizes to the same length
            f.write(json.dumps({"id": f"t{i}", "domain": "math", "prompt": f"Say {i:04d}", "answer": str(i),
                                "source": "toy"}) + "\n")
    return d / "toy.jsonl"


def _prompt_len(d: Path) -> int:
    from acereason.generate.base import encode_prompt
    from acereason.models import build_char_tokenizer
    from acereason.rl.prompts import build_messages
    from acereason.rl.recipe import CODE_INSTRUCTION, MATH_INSTRUCTION
    from acereason.schema import read_problems

    tok = build_char_tokenizer()
    lens = {len(encode_prompt(tok, build_messages(p, MATH_INSTRUCTION, CODE_INSTRUCTION)))
            for p in read_problems(d / "toy.jsonl")}
    if len(lens) != 1:
        raise RuntimeError(f"prompts tokenize to different lengths {sorted(lens)}; the length schedule needs one")
    return lens.pop()


class _Probe:
    """Seconds spent in parts of our update (patched in for our runs only)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.steps = 0

    def add(self, key: str, dt: float) -> None:
        self.t[key] = self.t.get(key, 0.0) + dt

    def timed(self, key: str, fn: Callable) -> Callable:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.add(key, time.perf_counter() - t0)
        return wrapper

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import torch.optim.optimizer as _opt

        from acereason.rl import batch, head

        saved = (batch.flat_logprobs, batch.chunked_head_logprobs, torch.Tensor.backward,
                 head.ChunkedHeadLogprobs.__dict__["backward"], batch.shared_prefix_logprobs)
        starts: dict[int, float] = {}
        batch.flat_logprobs = self.timed("forward", batch.flat_logprobs)
        batch.shared_prefix_logprobs = self.timed("forward", batch.shared_prefix_logprobs)
        batch.chunked_head_logprobs = self.timed("head forward", batch.chunked_head_logprobs)
        torch.Tensor.backward = self.timed("backward", torch.Tensor.backward)
        head.ChunkedHeadLogprobs.backward = staticmethod(self.timed("head backward", saved[3].__func__))
        pre = _opt.register_optimizer_step_pre_hook(
            lambda opt, a, kw: starts.__setitem__(id(opt), time.perf_counter()))
        def after_step(opt: Any, a: Any, kw: Any) -> None:
            self.add("optimizer", time.perf_counter() - starts.pop(id(opt)))
            self.steps += 1
            if self.steps == 1:  # the first step is warm-up (as in the s/step medians): count from the second
                self.t = {}

        post = _opt.register_optimizer_step_post_hook(after_step)
        try:
            yield
        finally:
            batch.flat_logprobs, batch.chunked_head_logprobs, torch.Tensor.backward = saved[:3]
            head.ChunkedHeadLogprobs.backward = saved[3]
            batch.shared_prefix_logprobs = saved[4]
            pre.remove()
            post.remove()


def _hooked(model: torch.nn.Module, wl: Workload, prompt_len: int, eos: int) -> torch.nn.Module:
    model.register_forward_hook(LengthSchedule(wl, prompt_len, eos), with_kwargs=True)
    return model


def run_ours(d: Path, wl: Workload, steps: int, tag: str) -> dict[str, Any]:
    import yaml

    from acereason.rl import trainer as trainer_mod
    from acereason.rl.logging import read_metrics
    from acereason.rl.recipe import load_recipe
    from acereason.rl.trainer import Trainer
    from acereason.schema import Verdict

    recipe = {"name": "bench", "model": {"tiny": True, "tiny_layers": LAYERS, "tiny_hidden": HIDDEN},
              "train": {"seed": 0, "micro_batch_size": PROMPTS * GROUP, "checkpoint_every": 10_000,
                        "generation_batch_size": PROMPTS * GROUP, "grad_clip": 1.0},
              "stages": [{"name": "s", "domain": "math", "data": ["toy.jsonl"], "max_response_tokens": wl.max_tokens,
                          "rollouts_per_prompt": GROUP, "prompts_per_step": PROMPTS, "temperature": 1.0, "lr": LR,
                          "steps": steps}]}
    (d / "recipe.yaml").write_text(yaml.safe_dump(recipe))

    def starts_with_digit(problems, responses):
        return [Verdict(correct=bool(r) and r[0].isdigit(), reason="toy") for r in responses]

    prompt_len = _prompt_len(d)
    load = trainer_mod.load_policy

    def load_hooked(recipe: Any, device: torch.device) -> tuple[torch.nn.Module, Any]:
        model, tok = load(recipe, device)
        return _hooked(model, wl, prompt_len, tok.eos_token_id), tok

    probe = _Probe()
    trainer_mod.load_policy = load_hooked
    try:
        tr = Trainer(load_recipe(d / "recipe.yaml"), d / f"ours-{tag}", reward_fn=starts_with_digit, progress=False)
        with probe.installed():
            tr.run()
    finally:
        trainer_mod.load_policy = load
    ms = read_metrics(d / f"ours-{tag}" / "metrics.jsonl")
    return {"times": [m["time/step"] for m in ms], "reward": [m["reward/mean"] for m in ms],
            "length": [m["response/length_mean"] for m in ms],
            "parts": {"sample": [m["time/generate"] for m in ms], "score": [m["time/verify"] for m in ms],
                      "update": [m["time/train"] for m in ms]},
            "update_parts": probe.t, "steps": len(ms)}


def run_trl(d: Path, wl: Workload, steps: int, tag: str) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from acereason.models import TinyModelConfig, build_char_tokenizer, build_tiny_model
    from acereason.rl.prompts import build_messages
    from acereason.rl.recipe import CODE_INSTRUCTION, MATH_INSTRUCTION
    from acereason.schema import read_problems

    tok = build_char_tokenizer()
    model = _hooked(build_tiny_model(tok, TinyModelConfig(layers=LAYERS, hidden=HIDDEN), seed=0), wl,
                    _prompt_len(d), tok.eos_token_id)
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

    cfg = GRPOConfig(output_dir=str(d / f"trl-{tag}"), per_device_train_batch_size=PROMPTS * GROUP,
                     num_generations=GROUP, gradient_accumulation_steps=1, steps_per_generation=1,
                     max_completion_length=wl.max_tokens, learning_rate=LR, beta=0.0, loss_type="dapo",
                     num_iterations=1, temperature=1.0, top_p=1.0, top_k=0, lr_scheduler_type="constant",
                     warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, max_steps=steps, logging_steps=1,
                     save_strategy="no", report_to=[], use_cpu=True, bf16=False, seed=0, shuffle_dataset=True,
                     scale_rewards="group", disable_tqdm=True)
    timer = Timer()
    trainer = GRPOTrainer(model=model, reward_funcs=starts_with_digit, args=cfg, train_dataset=ds,
                          processing_class=tok, callbacks=[timer])
    timer.t = time.perf_counter()
    trainer.train()
    logs = [h for h in trainer.state.log_history if "reward" in h]
    return {"times": timer.times, "reward": [h["reward"] for h in logs],
            "length": [h.get("completions/mean_length", float("nan")) for h in logs], "steps": len(timer.times)}


def _median_after_warmup(runs: list[dict[str, Any]], key: Callable[[dict[str, Any]], list[float]]) -> float:
    return statistics.median(x for r in runs for x in key(r)[1:])


def bench(wl: Workload, rounds: int, steps: int) -> str:
    ours: list[dict[str, Any]] = []
    trl: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _write_data(d)
        for r in range(rounds):
            order = [("trl", run_trl, trl), ("ours", run_ours, ours)]
            for name, fn, acc in order if r % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                acc.append(fn(d, wl, steps, f"{wl.name}-{r}"))
                print(f"[{wl.name}] round {r} {name}: {time.perf_counter() - t0:.1f} s, steps "
                      + " ".join(f"{t:.2f}" for t in acc[-1]["times"]), flush=True)
    o_s = _median_after_warmup(ours, lambda r: r["times"])
    t_s = _median_after_warmup(trl, lambda r: r["times"])
    parts = {k: _median_after_warmup(ours, lambda r, k=k: r["parts"][k]) for k in ("sample", "score", "update")}
    n_steps = sum(r["steps"] - 1 for r in ours)
    up = {k: sum(r["update_parts"].get(k, 0.0) for r in ours) / n_steps
          for k in ("forward", "head forward", "backward", "head backward", "optimizer")}
    o_len = _median_after_warmup(ours, lambda r: r["length"])
    t_len = _median_after_warmup(trl, lambda r: r["length"])
    o_r = " ".join(f"{r['reward'][-1]:.2f}" for r in ours)
    t_r = " ".join(f"{r['reward'][-1]:.2f}" for r in trl)
    lines = [
        f"**{wl.name}** ({wl.describe()}): {rounds} rounds x {steps} steps per trainer, alternating, medians over "
        f"steps 2..{steps} of each run.",
        "",
        "| trainer | median s/step | mean response tokens (median over steps) | reward, last step of each run |",
        "|---|---|---|---|",
        f"| acereason | {o_s:.2f} | {o_len:.1f} | {o_r} |",
        f"| TRL 1.16 GRPOTrainer | {t_s:.2f} | {t_len:.1f} | {t_r} |",
        "",
        f"Speed-up (TRL s/step / ours): **{t_s / o_s:.2f}x**",
        "",
        f"Our step (medians, s): sample {parts['sample']:.2f}, score {parts['score']:.3f}, update "
        f"{parts['update']:.2f}; within the update (means, s/step): forward {up['forward']:.2f} (of which head "
        f"{up['head forward']:.2f}), backward {up['backward']:.2f} (of which head {up['head backward']:.2f}), "
        f"optimizer {up['optimizer']:.3f} (update parts: steps after the first of each run).",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=["fixed", "varying"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.steps < 2:
        ap.error("--steps must be >= 2 (the first step of each run is warm-up)")
    torch.set_num_threads(args.threads)
    head = (f"Setup: char-level Qwen2 ({LAYERS} layers, width {HIDDEN}), {PROMPTS} prompts x G={GROUP}, temperature "
            f"1.0, lr {LR} constant, no KL, token-level loss, 1 update per batch, torch threads {args.threads}, "
            "CPU, one process. Reward: response starts with a digit. Response lengths are imposed on both samplers "
            "by the same EOS schedule (see the script's docstring).")
    text = "\n\n".join([head] + [bench(WORKLOADS[w], args.rounds, args.steps) for w in args.workloads])
    print(text)
    if args.write:
        from benchmarks.results import write_section

        write_section("Trainer vs TRL", text + "\n\nCommand: `.venv/bin/python benchmarks/trainer_vs_trl.py --write`")


if __name__ == "__main__":
    main()
