"""The CPU demo's RL recipe, in code so that it ships with the package (``configs/demo.yaml`` is the same
recipe as a file to read and copy; a test keeps the two equal).

The paper's schedule in miniature: math RL with a two-step length curriculum, then code RL with
epoch-wise removal of solved prompts and 25% math replay. ``model.path`` and the data files are relative
to the demo's run directory, which the demo passes as ``base_dir``. Sizes were chosen for 2 CPU cores
(see docs/demo.md); ``--fast`` scales the step counts down.
"""

from __future__ import annotations

import copy
from typing import Any

_STAGE = {"domain": "math", "data": ["data/rl_math.jsonl"], "rollouts_per_prompt": 8, "prompts_per_step": 32,
          "temperature": 1.0, "lr": 3.0e-4}

DEMO_RECIPE: dict[str, Any] = {
    "name": "demo",
    "model": {"path": "sft"},
    "train": {"seed": 0, "device": "cpu", "deterministic": True, "micro_batch_size": 256,
              "generation_batch_size": 256, "grad_clip": 1.0, "reward_timeout_s": 10, "checkpoint_every": 5,
              "keep_checkpoints": 1, "math_instruction": "Give the answer in \\boxed{}.",
              "code_instruction": "Answer with a ```python block."},
    "stages": [
        {"name": "math-short", **_STAGE, "max_response_tokens": 40, "steps": 15, "overlong_filtering": True},
        {"name": "math-long", **_STAGE, "max_response_tokens": 64, "steps": 15},
        {"name": "code", **_STAGE, "domain": "code", "data": ["data/rl_code.jsonl"], "max_response_tokens": 96,
         "epochs": 2, "remove_solved_each_epoch": True, "replay_data": ["data/rl_math.jsonl"],
         "replay_fraction": 0.25},
    ],
}


def demo_recipe() -> dict[str, Any]:
    """A fresh copy of :data:`DEMO_RECIPE` (callers fill in ``base_dir`` and may change it)."""
    return copy.deepcopy(DEMO_RECIPE)
