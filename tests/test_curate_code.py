"""Code test validation: golden solutions run, failing goldens drop, weak tests flagged by mutants."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from acereason.cli import app
from acereason.curate.code_tests import CodeTestValidation, golden_solutions, mutants
from acereason.curate.pipeline import PipelineContext
from acereason.schema import Problem, TestCase, read_problems

GOLDEN = "n = int(input())\nprint(n * 2 if n > 0 else -1)\n"


def stdin_problem(pid: str, tests: list[tuple[str, str]], **meta: object) -> Problem:
    return Problem(id=pid, domain="code", prompt="Read n and print 2n for positive n, else -1.", source="t",
                   tests=[TestCase(testtype="stdin", input=i, output=o) for i, o in tests], meta=dict(meta))


def test_mutants_change_one_site_and_compile() -> None:
    ms = mutants(GOLDEN, limit=3)
    assert len(ms) == 3 and len(set(ms)) == 3
    for m in ms:
        compile(m, "<mutant>", "exec")
        assert m != GOLDEN
    assert any(">=" in m for m in ms) and any("n * 3" in m or "n > 1" in m for m in ms)
    assert mutants("def f(:\n", 3) == []


def test_golden_solutions_unfence_and_limit() -> None:
    p = stdin_problem("a", [("1\n", "2\n")], solutions=["```python\nprint(2)\n```", "print(2)", "x", "y"])
    assert golden_solutions(p) == ["print(2)\n", "print(2)", "x"]
    assert golden_solutions(stdin_problem("b", [("1\n", "2\n")], completion="print(2)")) == ["print(2)"]


def test_golden_fails_drops_weak_tests_flag_and_strong_tests_pass() -> None:
    weak = stdin_problem("weak", [("3\n", "6\n")], solutions=[GOLDEN])  # n > 1 or n >= 0 would also pass
    strong = stdin_problem("strong", [("3\n", "6\n"), ("1\n", "2\n"), ("0\n", "-1\n"), ("-4\n", "-1\n")],
                           solutions=[GOLDEN])
    wrong = stdin_problem("wrong", [("3\n", "7\n")], solutions=[GOLDEN])
    provided = stdin_problem("provided", [("3\n", "6\n"), ("0\n", "-1\n"), ("1\n", "2\n")],
                             solutions=[GOLDEN], wrong_solutions=["n = int(input())\nprint(2 * n if n else -1)\n"])
    none = stdin_problem("none", [("3\n", "6\n")])
    ctx = PipelineContext()
    kept = {p.id: p for p in CodeTestValidation()(iter([weak, strong, wrong, provided, none]), ctx)}
    assert set(kept) == {"weak", "strong", "none"}
    assert kept["weak"].meta["weak_tests"] == "mutant" and "weak_tests" not in kept["strong"].meta
    assert kept["strong"].meta["golden_verified"] is True and "golden_verified" not in kept["none"].meta
    assert ctx.drops == {("t", "code_tests", "golden_fails"): 1, ("t", "code_tests", "weak_tests"): 1}
    assert ctx.flags == {("t", "weak_tests_mutant"): 1}
    ctx2 = PipelineContext()
    kept2 = [p.id for p in CodeTestValidation(require_golden=True, drop_weak_mutants=True)(iter([weak, none]), ctx2)]
    assert kept2 == [] and {r for (_, _, r) in ctx2.drops} == {"weak_tests", "no_golden"}


def test_curate_code_cli_runs_rules_dates_and_golden_checks(tmp_path: Path) -> None:
    rows = [
        {"question": "Read n and print 2n for positive n, else -1. Output one line.", "solutions": [GOLDEN],
         "input_output": {"inputs": ["3\n", "1\n", "0\n", "-4\n"], "outputs": ["6\n", "2\n", "-1\n", "-1\n"]}},
        {"question": "This is an interactive problem. Guess the number, flush the output after each query.",
         "input_output": {"inputs": ["1\n"], "outputs": ["1\n"]}},
        {"question": "Read n and print n squared. Output one line with the square.", "solutions": ["print(1)"],
         "input_output": {"inputs": ["3\n"], "outputs": ["9\n"]}},
        {"question": "Read a and b and print their product on a single line of output.",
         "input_output": {"inputs": ["2 3\n"], "outputs": ["6\n"]}, "contest_date": "2025-01-05"},
    ]
    src = tmp_path / "taco.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, rep = tmp_path / "code.jsonl", tmp_path / "r.json"
    res = CliRunner().invoke(app, ["curate", "code", str(src), "--out", str(out), "--no-validate", "--report",
                                   str(rep)])
    assert res.exit_code == 0, res.output
    assert [p.prompt[:12] for p in read_problems(out)] == ["Read n and p"]
    assert json.loads(rep.read_text())["drops_by_rule"] == {"interactive": 1, "after_cutoff_date": 1,
                                                            "golden_fails": 1}
