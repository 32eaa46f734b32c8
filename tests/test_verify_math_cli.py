"""``acereason verify math IN.jsonl --out OUT.jsonl``: the contract's input, output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from acereason.cli import app

RUNNER = CliRunner()


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_grades_each_line_in_order(tmp_path: Path) -> None:
    inp = _write(tmp_path / "in.jsonl", [
        {"id": "a", "response": "<think>x</think> \\boxed{\\dfrac{1}{2}}", "answer": "0.5"},
        {"id": "b", "response": "<think>never closed \\boxed{3}", "answer": "3"},
        {"id": "c", "response": "so \\boxed{27}", "answer": 27.0},
        {"id": "d", "response": "so \\boxed{26}", "answer": "27"},
    ])
    out = tmp_path / "out.jsonl"
    res = RUNNER.invoke(app, ["verify", "math", str(inp), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    assert all(set(r) == {"id", "correct", "extracted", "reason"} for r in rows)
    assert [(r["correct"], r["reason"]) for r in rows] == [
        (True, "match_numeric"), (False, "no_answer"), (True, "match_exact"), (False, "mismatch")]  # 27.0 is "27"
    assert rows[0]["extracted"] == "\\dfrac{1}{2}" and rows[1]["extracted"] is None


def test_bad_input_exits_2_naming_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    cases = {
        "missing field": [{"id": "a", "response": "\\boxed{1}", "answer": "1"}, {"id": "b", "response": "x"}],
        "bad json": [{"id": "a", "response": "\\boxed{1}", "answer": "1"}, "{not json"],
        "wrong type": [{"id": "a", "response": "\\boxed{1}", "answer": "1"}, {"id": "b", "response": 5, "answer": "1"}],
    }
    for name, rows in cases.items():
        inp = _write(tmp_path / "in.jsonl", rows)
        res = RUNNER.invoke(app, ["verify", "math", str(inp), "--out", str(out)])
        assert res.exit_code == 2, name
        assert f"{inp}:2" in res.output, (name, res.output)
        assert not out.exists(), name


def test_missing_input_file_exits_2(tmp_path: Path) -> None:
    res = RUNNER.invoke(app, ["verify", "math", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2
    assert "nope.jsonl" in res.output


def test_out_equal_to_input_is_refused_and_input_kept(tmp_path: Path) -> None:
    inp = _write(tmp_path / "in.jsonl", [{"id": "a", "response": "\\boxed{1}", "answer": "1"}])
    before = inp.read_bytes()
    for out in (inp, tmp_path / "sub" / ".." / "in.jsonl"):
        res = RUNNER.invoke(app, ["verify", "math", str(inp), "--out", str(out)])
        assert res.exit_code == 2 and f"--out: {out} is also an input" in res.output
    assert inp.read_bytes() == before


def test_plain_progress_line_per_batch_and_numbers_read_as_written(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "response": "\\\\boxed{0.001}", "answer": 1e-3}\n'
                   '{"id": "b", "response": "\\\\boxed{0.50}", "answer": 0.50}\n')
    out = tmp_path / "out.jsonl"
    res = RUNNER.invoke(app, ["verify", "math", str(inp), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert [line.split()[:3] for line in res.stderr.splitlines() if line.startswith("[verify math]")] == [
        ["[verify", "math]", "2/2"]]
    assert [json.loads(line)["correct"] for line in out.read_text().splitlines()] == [True, True]
