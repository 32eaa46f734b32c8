"""Supervised fine-tuning on reasoning traces: the "distilled SFT model" the paper starts RL from.

The demo trains on a **fixed, limited** set of traces and stops on a dev-set signal (an optional target
greedy accuracy, or no improvement for ``patience`` evaluations) or a step cap, and keeps the best dev
checkpoint; the probe in DESIGN.md found fixed-time SFT fragile. The same function continues SFT for a
wall-time budget (the equal-compute control for an RL stage).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from acereason.demo.tasks import Task
from acereason.rl.prompts import build_messages


@dataclass
class SFTConfig:
    lr: float = 1e-3
    batch_size: int = 64
    max_steps: int = 2000
    eval_every: int = 50
    target_accuracy: float | None = 0.5
    """Stop when the mean dev accuracy (math and code) reaches this."""
    patience: int = 4
    """Stop after this many evaluations without a new best dev accuracy."""
    min_steps: int = 0
    """No plateau stop before this step: a tiny model's dev accuracy sits near zero for hundreds of steps
    before it rises, and noise there looks like a plateau."""
    time_budget_s: float | None = None
    """Stop after this much wall time (the equal-compute control); None = no time limit."""
    seed: int = 0
    weight_decay: float = 0.0


@dataclass
class SFTResult:
    steps: int
    wall_s: float
    stopped: str
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    """The step whose weights were kept (the best dev evaluation); 0 when no dev evaluation ran."""


def encode_task(tokenizer, task: Task, math_instruction: str, code_instruction: str) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) for one trace: the chat-rendered prompt, then trace + eos."""
    messages = build_messages(task.problem, math_instruction, code_instruction)
    prompt = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    if isinstance(prompt, dict) or hasattr(prompt, "input_ids"):
        prompt = prompt["input_ids"]
    response = tokenizer(task.trace, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return list(prompt), response


def _batch(pairs: list[tuple[list[int], list[int]]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(p) + len(r) for p, r in pairs)
    ids = torch.full((len(pairs), width), pad, dtype=torch.long)
    attn = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (p, r) in enumerate(pairs):
        seq = p + r
        ids[i, : len(seq)] = torch.tensor(seq)
        attn[i, : len(seq)] = 1
        labels[i, len(p): len(seq)] = torch.tensor(r)
    return ids, attn, labels


def sft_train(model, tokenizer, tasks: list[Task], cfg: SFTConfig, math_instruction: str, code_instruction: str,
              dev_eval: Callable[[], dict[str, float]] | None = None, log: Callable[[str], None] = print) -> SFTResult:
    """Train ``model`` in place on ``tasks`` (cycling through shuffled epochs) until a stop rule fires."""
    device = next(model.parameters()).device
    pairs = [encode_task(tokenizer, t, math_instruction, code_instruction) for t in tasks]
    rng = random.Random(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    order: list[int] = []
    best, since_best, best_step = -1.0, 0, 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict] = []
    t0 = time.perf_counter()
    stopped = "max_steps"
    step = 0
    while step < cfg.max_steps:
        if cfg.time_budget_s is not None and time.perf_counter() - t0 >= cfg.time_budget_s:
            stopped = "time_budget"
            break
        if len(order) < cfg.batch_size:
            perm = list(range(len(pairs)))
            rng.shuffle(perm)
            order += perm
        idx, order = order[: cfg.batch_size], order[cfg.batch_size:]
        ids, attn, labels = _batch([pairs[i] for i in idx], tokenizer.pad_token_id)
        model.train()
        out = model(input_ids=ids.to(device), attention_mask=attn.to(device), labels=labels.to(device))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if dev_eval is not None and step % cfg.eval_every == 0:
            acc = dev_eval()
            mean = sum(acc.values()) / len(acc)
            history.append({"step": step, "loss": out.loss.item(), "wall_s": time.perf_counter() - t0, **acc})
            dev_txt = " ".join(f"{k} {v:.2f}" for k, v in acc.items())
            log(f"  sft step {step}: loss {out.loss.item():.3f} dev {dev_txt}")
            if mean > best + 1e-9:
                best, since_best, best_step = mean, 0, step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
            if cfg.target_accuracy is not None and mean >= cfg.target_accuracy:
                stopped = "dev_target"
                break
            if since_best >= cfg.patience and step >= cfg.min_steps:
                stopped = "dev_plateau"
                break
    if best_state is not None and best_step != step:
        # early stopping keeps the best dev checkpoint, not the last (limited traces overfit)
        model.load_state_dict(best_state)
        log(f"  sft: kept the best dev checkpoint (step {best_step}, mean dev {best:.2f})")
    model.eval()
    return SFTResult(steps=step, wall_s=time.perf_counter() - t0, stopped=stopped, history=history,
                     best_step=best_step)
