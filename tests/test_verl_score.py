"""compute_score (veRL's reward entry point) gives exactly acereason.verify.reward, through a parquet round trip."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from acereason.demo.tasks import code_task, math_task
from acereason.integrations.verl import compute_score
from acereason.integrations.verl_export import problem_row, write_rows
from acereason.rl.recipe import CODE_INSTRUCTION, MATH_INSTRUCTION
from acereason.schema import Problem, TestCase
from acereason.verify import reward

from .conftest import SHARED_DATA

SHARED = SHARED_DATA


def _math_samples(rng: random.Random, n: int) -> list[tuple[Problem, str]]:
    out = []
    for i in range(n):
        task = math_task(rng)
        p = task.problem.model_copy(update={"id": f"m{i}"})
        ans = int(p.answer or 0)
        out += [(p, task.trace),                                          # correct
                (p, task.trace.replace(f"\\boxed{{{ans}}}", f"\\boxed{{{ans + 1}}}")),  # wrong answer
                (p, task.trace.split("</think>")[0] + f"</think>The answer is {ans}.")]  # no \boxed
    return out


def _code_samples(rng: random.Random, n: int) -> list[tuple[Problem, str]]:
    out = []
    for i in range(n):
        task = code_task(rng)
        p = task.problem.model_copy(update={"id": f"c{i}"})
        out += [(p, task.trace),                                                   # correct
                (p, task.trace.replace("return ", "return 1 + ")),                 # wrong answer
                (p, task.trace.replace("def f(x):", "def f(x)"))]                  # syntax error
    stdin = Problem(id="sum", domain="code", prompt="Print a+b.", source="hand", time_limit_s=2.0, memory_mb=256,
                    tests=[TestCase(testtype="stdin", input="1 2\n", output="3\n"),
                           TestCase(testtype="stdin", input="5 7\n", output="12\n")])
    check = Problem(id="chk", domain="code", prompt="Write add(a, b).", source="hand", fn_name="add",
                    tests=[TestCase(testtype="check", input="def check(c):\n    assert c(2, 3) == 5\n")])
    good = "</think>```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    out += [(stdin, good), (stdin, good.replace("a + b", "a * b")), (stdin, "no code at all"),
            (check, "</think>```python\ndef add(a, b):\n    return a + b\n```"),
            (check, "</think>```python\ndef add(a, b):\n    return a - b\n```")]
    return out


def _benchmark_samples() -> list[tuple[Problem, str]]:
    """Real MATH-500 / AIME gold answers (veRL parquet from rLLM) as responses, and a wrong one each."""
    out = []
    for name in ("math.parquet", "aime.parquet"):
        path = SHARED / "rllm_verl" / name
        if not path.exists():
            continue
        for k, row in enumerate(pq.read_table(path).to_pylist()[:40]):
            gt = row["reward_model"]["ground_truth"]
            p = Problem(id=f"{name}-{k}", domain="math", prompt="(benchmark)", answer=gt, source="rllm")
            out += [(p, f"<think>...</think>So the answer is $\\boxed{{{gt}}}$."),
                    (p, "<think>...</think>$\\boxed{\\frac{7}{13}}$")]
    return out


def test_compute_score_equals_reward(tmp_path: Path) -> None:
    rng = random.Random(7)
    samples = _math_samples(rng, 70) + _code_samples(rng, 20) + _benchmark_samples()
    assert len(samples) >= 250
    rows = [problem_row(p, i, math_instruction=MATH_INSTRUCTION, code_instruction=CODE_INSTRUCTION)
            for i, (p, _) in enumerate(samples)]
    # through parquet, as veRL reads it (struct columns come back as dicts, nulls as None)
    write_rows(rows, tmp_path / "train.parquet")
    back = pq.read_table(tmp_path / "train.parquet").to_pylist()
    got, want = [], []
    for row, (problem, response) in zip(back, samples, strict=True):
        extra = dict(row["extra_info"], num_turns=None, rollout_reward_scores={})  # keys veRL adds
        res = compute_score(row["data_source"], response, row["reward_model"]["ground_truth"], extra)
        assert set(res) == {"score", "acc", "verifier_failed", "code_tests_frac"}
        assert res["verifier_failed"] == 0.0
        got.append(res["score"])
        want.append(reward(problem, response))
    assert got == want
    # both outcomes in both domains, so equality is not trivially all zeros
    by = {(p.domain, w) for (p, _), w in zip(samples, want, strict=True)}
    assert by == {("math", 1.0), ("math", 0.0), ("code", 1.0), ("code", 0.0)}


def test_compute_score_reads_rllm_livecodebench_rows() -> None:
    """Foreign veRL code rows (rLLM's ``{"tests": "<json>"}`` ground truth, no extra_info tests) score too."""
    path = SHARED / "rllm_verl" / "code" / "test_livecodebench.parquet"
    if not path.exists():
        pytest.skip("shared rLLM LiveCodeBench parquet absent")
    row = pq.read_table(path).slice(0, 1).to_pylist()[0]
    tests = json.loads(json.loads(row["reward_model"]["ground_truth"])["tests"])
    assert tests[0]["testtype"] == "stdin"
    # a program that prints exactly the first test's expected output passes that test and no other
    prog = f"</think>```python\nprint({tests[0]['output']!r}, end='')\n```"
    res = compute_score(row["data_source"], prog, row["reward_model"]["ground_truth"], dict(row["extra_info"]))
    want = 1.0 if all(t["output"] == tests[0]["output"] for t in tests) else 0.0
    assert res["score"] == want
    assert res["code_tests_frac"] > 0


def test_bad_code_row_scores_zero_with_reason() -> None:
    res = compute_score("x", "</think>```python\nprint(1)\n```", json.dumps({"tests": "[]"}), {"domain": "code"})
    assert res["score"] == 0.0


def test_loads_by_file_path_and_imports_no_torch() -> None:
    """Older veRL loads the reward by file path under another module name; importing it pulls in no torch."""
    import subprocess
    import sys

    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('custom_module_x', sys.argv[1])\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "r = mod.compute_score('demo', '</think>\\\\boxed{12}', '12', {'domain': 'math', 'num_turns': None})\n"
        "assert r['score'] == 1.0, r\n"
        "assert mod.compute_score('demo', '</think>\\\\boxed{13}', '12', None)['score'] == 0.0\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    path = Path(__file__).resolve().parents[1] / "acereason" / "integrations" / "verl.py"
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         cwd="/")
    assert res.returncode == 0, res.stderr


def returns_a_float(problems, responses):
    """A reward function with the wrong return type (floats instead of Verdicts)."""
    return [1.0 for _ in responses]


def test_custom_compute_score_scores_bad_rows_zero_and_rejects_a_wrong_return_type() -> None:
    from acereason.integrations.verl import custom_compute_score

    res = custom_compute_score("tests.test_verl_score:returns_a_float", "x", "</think>```python\nprint(1)\n```",
                               json.dumps({"tests": "[]"}), {"domain": "code"})
    assert res["score"] == 0.0  # the row has no tests: bad_row, the function is never called
    with pytest.raises(TypeError, match="one Verdict per response"):
        custom_compute_score("tests.test_verl_score:returns_a_float", "x", "</think>\\boxed{1}", "1",
                             {"domain": "math", "question": "1?"})
