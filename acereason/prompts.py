"""The prompt format: chat messages for a problem, the paper's instructions appended to the bare statement.

It lives below both training (``acereason.rl``) and evaluation (``acereason.eval``), so the trainer, the
evaluator and the veRL exporter ask the same question, and evaluation can judge any model (trained here
or not) without importing the trainer.
"""

from __future__ import annotations

from acereason.schema import Problem

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""The paper's math instruction (AceReason-Nemotron, arXiv 2505.16400)."""
CODE_INSTRUCTION = ("Write a Python program that solves the problem. Reason first, then give the final "
                    "solution in a single ```python code block.")
"""Ours: the code instruction (the paper's App. A.1 asks for the same: reasoning, then one python block)."""


def build_messages(problem: Problem, math_instruction: str, code_instruction: str,
                   system_prompt: str | None = None) -> list[dict[str, str]]:
    """User turn = statement + instruction (math: the paper's ``\\boxed{}`` instruction; code: the
    statement, the starter code when there is one, and the code instruction)."""
    if problem.domain == "math":
        content = f"{problem.prompt}\n{math_instruction}"
    else:
        parts = [problem.prompt]
        if problem.starter_code:
            parts.append(f"Use this starter code:\n```python\n{problem.starter_code.rstrip()}\n```")
        parts.append(code_instruction)
        content = "\n\n".join(parts)
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*messages, {"role": "user", "content": content}]
