"""Procedural tasks for the CPU demo: small math with ``\\boxed{}`` answers, and "write f" programs.

The code tasks need the same arithmetic as the math ones (read two input/output pairs of a linear
function, find slope and intercept, write ``f``), which is what lets math RL help code in miniature,
as it does in the paper. Every problem is keyed by its statement; splits are disjoint by key.
A solution trace is a short ``<think>`` with the intermediate steps, then the answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from acereason.schema import Problem, TestCase

MATH_INSTRUCTION = "Give the answer in \\boxed{}."
CODE_INSTRUCTION = "Answer with a ```python block."


@dataclass(frozen=True)
class Task:
    """A problem with the reference reasoning trace a "teacher" would give (used only for SFT)."""

    problem: Problem
    trace: str


def _arith(rng: random.Random) -> tuple[str, str, int]:
    a, b, c = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 9)
    op1, op2 = rng.choice("+-*"), rng.choice("+-")
    if op1 == "*":
        first = a * b
        steps = [f"{a}*{b}={first}"]
    else:
        first = a + b if op1 == "+" else a - b
        steps = [f"{a}{op1}{b}={first}"]
    result = first + c if op2 == "+" else first - c
    steps.append(f"{first}{op2}{c}={result}")
    return f"Compute {a}{op1}{b}{op2}{c}.", " ".join(steps), result


def _linear(rng: random.Random) -> tuple[str, str, int]:
    a, x, b = rng.randint(2, 3), rng.randint(0, 9), rng.randint(1, 9)
    c = a * x + b
    bs = f"+{b}" if b >= 0 else str(b)
    rhs = c - b
    return f"Solve {a}x{bs}={c}.", f"{c}-({b})={rhs} {rhs}/{a}={x}", x


def math_task(rng: random.Random) -> Task:
    statement, steps, answer = (_arith if rng.random() < 0.5 else _linear)(rng)
    p = Problem(id="draft", domain="math", prompt=statement, answer=str(answer), source="demo-math")
    return Task(p, f"<think>{steps}</think>\\boxed{{{answer}}}")


def code_task(rng: random.Random) -> Task:
    m, q = rng.randint(1, 9), rng.randint(-9, 9)
    x1 = rng.randint(0, 6)
    x2 = x1 + rng.randint(1, 3)
    y1, y2 = m * x1 + q, m * x2 + q
    statement = f"Write f(x) with f({x1})={y1} and f({x2})={y2}. f is linear."
    dy, dx = y2 - y1, x2 - x1
    body = f"{m}*x+{q}" if q >= 0 else f"{m}*x-{-q}"
    # every step is one the math traces also take (``c-(b)=``, ``r/a=``, ``a*b=``): finding f is the
    # math skill, so math RL can carry over; a one-shot ``y1-m*x1`` was too much for the tiny model
    steps = [f"{y2}-({y1})={dy}"] + ([] if dx == 1 else [f"{dy}/{dx}={m}"]) + [f"{m}*{x1}={m * x1}",
                                                                               f"{y1}-({m * x1})={q}"]
    trace = f"<think>{' '.join(steps)}</think>```python\ndef f(x):\n    return {body}\n```"
    xs = sorted({x1, x2, -3, 7, 10, x2 + 5})
    tests = [TestCase(testtype="functional", input=str(x), output=str(m * x + q)) for x in xs]
    p = Problem(id="draft", domain="code", prompt=statement, source="demo-code", tests=tests, fn_name="f",
                time_limit_s=2.0, memory_mb=256)
    return Task(p, trace)


def make_split(kind: str, n: int, seed: int, exclude: set[str]) -> list[Task]:
    """``n`` distinct tasks whose statements are not in ``exclude`` (which is updated in place)."""
    rng = random.Random(seed)
    make = math_task if kind == "math" else code_task
    out: list[Task] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n + 1000:
            raise RuntimeError(f"cannot draw {n} distinct {kind} tasks")
        t = make(rng)
        if t.problem.prompt in exclude:
            continue
        exclude.add(t.problem.prompt)
        pid = f"{kind}-{seed}-{len(out)}"
        out.append(Task(t.problem.model_copy(update={"id": pid}), t.trace))
    return out
