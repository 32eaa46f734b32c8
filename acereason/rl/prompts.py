"""Chat messages for a problem: the paper's instructions appended to the bare statement.

Shared by the trainer, the evaluator and the veRL exporter so that all three ask the same question.
"""

from __future__ import annotations

from acereason.schema import Problem


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
