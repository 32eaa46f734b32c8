"""``acereason verify code``: contract in/out, exit 2 with file:line on bad input, atomic output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from acereason.cli import app

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "data" / "code_cli_input.jsonl"


def test_cli_judges_fixture(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["verify", "code", str(FIXTURE), "--out", str(out), "--workers", "2"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["sum-ok", "sum-wrong", "two-sum", "check-ok", "loop", "no-code"]
    assert [r["status"] for r in rows] == ["accepted", "wrong_answer", "accepted", "accepted", "time_limit",
                                           "no_code"]
    assert [r["passed"] for r in rows] == [True, False, True, True, False, False]
    assert rows[0]["tests_passed"] == rows[0]["tests_total"] == 2
    assert set(rows[0]) == {"id", "passed", "status", "tests_passed", "tests_total", "wall_s", "detail"}
    assert all(isinstance(r["wall_s"], float) for r in rows)
    # Why a submission failed: the first failing test's index and a short reason.
    assert rows[0]["detail"] is None
    assert rows[1]["detail"] == "test 0: wrong output: expected '3\\n', got '-1\\n'"
    assert rows[4]["detail"].startswith("test 0: ") and "limit" in rows[4]["detail"]


def test_cli_functional_record_without_fn_name_is_its_own_sandbox_error(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines()
    bad = '{"id": "no-fn", "code": "def f(x):\\n    return x", "tests": [{"testtype": "functional", "input": "1", ' \
          '"output": "1"}]}'
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([lines[0], bad, lines[1]]) + "\n")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["verify", "code", str(src), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in rows] == [("sum-ok", "accepted"), ("no-fn", "sandbox_error"),
                                                      ("sum-wrong", "wrong_answer")]
    assert "fn_name" in rows[1]["detail"]


def test_cli_bad_input_exits_2_naming_the_line(tmp_path: Path) -> None:
    good = FIXTURE.read_text().splitlines()[0]
    cases = {
        '{"id": "x", "code": "print(1)", "tests": [{"testtype": "nope", "input": ""}]}': "testtype",
        '{"id": "x", "tests": [{"testtype": "stdin", "input": "", "output": ""}]}': "response",
        '{"id": "x", "code": "1", "fn_name": 3, "tests": [{"testtype": "stdin", "input": "", "output": ""}]}':
            "fn_name",
        '{"id": "x", "code": "1", "tests": []}': "tests",
        "not json": "invalid JSON",
    }
    for bad, word in cases.items():
        src = tmp_path / "in.jsonl"
        src.write_text(good + "\n" + bad + "\n")
        out = tmp_path / "out.jsonl"
        res = CliRunner().invoke(app, ["verify", "code", str(src), "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert f"{src}:2" in res.output and word in res.output
        assert not out.exists()


def test_cli_entry_point_leaves_no_worker_behind(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "acereason", "verify", "code", str(FIXTURE), "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "judged 6: 3 accepted" in err
    # Every sandbox process carries the judge's pid in its command line; none may outlive the CLI.
    marker = f'"judge_pid": {proc.pid},'
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                left.append(entry.name)
        except OSError:
            continue
    assert not left


def test_cli_out_equal_to_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(FIXTURE.read_bytes())
    res = CliRunner().invoke(app, ["verify", "code", str(src), "--out", str(src)])
    assert res.exit_code == 2 and f"--out: {src} is also an input" in res.output
    assert src.read_bytes() == FIXTURE.read_bytes()


def test_cli_prints_plain_progress_and_names_the_bad_test(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(FIXTURE.read_text().splitlines()[0] + "\n")
    res = CliRunner().invoke(app, ["verify", "code", str(src), "--out", str(tmp_path / "o.jsonl"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert any(line.startswith("[verify code] 1/1 programs") for line in res.stderr.splitlines()), res.stderr
    src.write_text('{"id": "x", "code": "1", "tests": [{"testtype": "stdin", "input": "", "output": ""}, '
                   '{"testtype": "stdin", "input": 5}]}\n')
    res = CliRunner().invoke(app, ["verify", "code", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and res.stderr.strip() == (
        f"error: {src}:1: field 'tests.1.input': expected a string, got integer")
