"""TRL's GRPOTrainer on a given policy and workload, timed per step: the TRL side of ``scripts/gpu_check.py``.

The workload is fixed so that it can be matched by our trainer: ``rows`` completions per step
(``rows / group`` prompts x ``group``), each exactly ``completion_tokens`` long. TRL samples with
``transformers``' ``generate`` and trains on what it sampled, so its update length cannot be set apart from the
sampled one (as our ``gpu_check`` does with random tails); ``min_new_tokens = max_new_tokens`` keeps the EOS
logit at -inf until the last token, so every completion is exactly ``completion_tokens`` long whatever the random
policy would sample, and ``mask_truncated_completions=False`` keeps all of them in the loss.

The settings otherwise mirror ours (``acereason.rl.batch.train_step`` as gpu_check calls it): one optimizer step
per generation batch (``steps_per_generation = gradient_accumulation_steps = rows / micro_batch_size``, so TRL
skips its separate old-log-prob forward, as we do on-policy), token-level loss (``loss_type="dapo"``, ours
``token-mean``), no KL (``beta=0``), group-normalised advantages, temperature 1, top-p 1, no top-k,
``torch.optim.AdamW`` (``optim="adamw_torch"``, weight decay 0.01 as torch's default that we use), lr constant,
grad-norm clip 1.0, gradient checkpointing, bf16 autocast (``bf16=True``: accelerate's mixed precision) on CUDA.

Per step: ``step_s`` (``on_step_begin`` to ``on_step_end``), ``sample_s`` (time inside ``model.generate``, CUDA
synchronised), ``update_s = step_s - sample_s`` (TRL's forward/backward/optimizer plus its reward and
advantage bookkeeping) and the tokens each saw. Peak memory: ``torch.cuda.max_memory_allocated`` over the run
(CUDA), else the process's peak RSS so far.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def trl_version() -> str | None:
    """TRL's version, or None when it does not import."""
    try:
        import trl
    except ImportError:
        return None
    return str(trl.__version__)


def run_trl(model: torch.nn.Module, tokenizer: Any, prompt: str, *, rows: int, group: int, completion_tokens: int,
            micro_batch_size: int, steps: int, device: torch.device, out_dir: Path,
            lr: float = 1e-6) -> dict[str, Any]:
    """``steps`` GRPOTrainer steps of ``model`` (already built, any device) on ``prompt``; per-step timings.

    ``rows`` must be a multiple of ``group`` and of ``micro_batch_size``. Rewards alternate +1 / 0 over the
    completions of a group, so every group has a non-zero advantage (as gpu_check's +-1 for ours).
    """
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    if rows % group or rows % micro_batch_size:
        raise ValueError(f"rows {rows} must be a multiple of group {group} and micro-batch size {micro_batch_size}")
    accum = rows // micro_batch_size
    cuda = device.type == "cuda"

    def alternating(prompts: list[Any], completions: list[Any], **kw: Any) -> list[float]:
        return [float(i % 2) for i in range(len(completions))]

    timing: dict[str, Any] = {"gen_s": 0.0, "gen_tokens": 0, "prompt_width": 0}
    generate = model.generate

    def timed_generate(*a: Any, **kw: Any) -> Any:
        _sync(device)
        t0 = time.perf_counter()
        out = generate(*a, **kw)
        _sync(device)
        timing["gen_s"] += time.perf_counter() - t0
        width = kw["input_ids"].shape[1] if "input_ids" in kw else a[0].shape[1]
        timing["gen_tokens"] += int((out.shape[1] - width) * out.shape[0])
        timing["prompt_width"] = int(width)
        return out

    model.generate = timed_generate  # instance attribute: TRL calls unwrapped_model.generate, this very object

    steps_out: list[dict[str, Any]] = []

    class Timer(TrainerCallback):
        t0 = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            _sync(device)
            timing["gen_s"], timing["gen_tokens"] = 0.0, 0
            self.t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            _sync(device)
            step_s = time.perf_counter() - self.t0
            sampled, sample_s = timing["gen_tokens"], timing["gen_s"]
            update_tokens = rows * timing["prompt_width"] + sampled
            steps_out.append({"step": len(steps_out) + 1, "step_s": step_s, "sample_s": sample_s,
                              "sampled_tokens": sampled, "sample_tokens_per_s": sampled / max(sample_s, 1e-9),
                              "update_s": step_s - sample_s, "update_tokens": update_tokens,
                              "update_tokens_per_s": update_tokens / max(step_s - sample_s, 1e-9)})

    prompts = rows // group
    ds = Dataset.from_list([{"prompt": prompt} for _ in range(prompts * (steps + 1))])
    cfg = GRPOConfig(output_dir=str(out_dir), per_device_train_batch_size=micro_batch_size, num_generations=group,
                     gradient_accumulation_steps=accum, steps_per_generation=accum,
                     max_completion_length=completion_tokens,
                     generation_kwargs={"min_new_tokens": completion_tokens},
                     mask_truncated_completions=False, learning_rate=lr, beta=0.0, loss_type="dapo",
                     num_iterations=1, temperature=1.0, top_p=1.0, top_k=0, lr_scheduler_type="constant",
                     warmup_steps=0, optim="adamw_torch", weight_decay=0.01, max_grad_norm=1.0, max_steps=steps,
                     logging_steps=1, save_strategy="no", report_to=[], use_cpu=not cuda, bf16=cuda, seed=0,
                     gradient_checkpointing=True, scale_rewards="group", disable_tqdm=True)
    trainer = GRPOTrainer(model=model, reward_funcs=alternating, args=cfg, train_dataset=ds,
                          processing_class=tokenizer, callbacks=[Timer()])
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    trainer.train()
    report: dict[str, Any] = {"trl": trl_version(), "steps": steps_out, "completion_tokens": completion_tokens,
                              "prompt_tokens": timing["prompt_width"], "micro_batch_size": micro_batch_size,
                              "measured": "each completion exactly completion_tokens (min_new_tokens = "
                                          "max_new_tokens); update over prompt + completion; "
                                          "update_s = step_s - sample_s"}
    if cuda:
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        import resource

        report["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    del trainer
    return report
