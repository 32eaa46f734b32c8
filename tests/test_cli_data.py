"""`acereason data convert|stats|formats` through the real entry point: exit codes, messages, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from acereason.schema import read_problems


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "acereason", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_convert_to_parquet_and_back(fixtures: Path, tmp_path: Path) -> None:
    src = fixtures / "sources"
    out = tmp_path / "all.parquet"
    res = run("data", "convert", src / "amc_floats.jsonl", src / "taco.jsonl", src / "codecontests.json", "--out", out)
    assert res.returncode == 0, res.stderr
    assert "wrote 6 problems" in res.stdout
    back = tmp_path / "back.jsonl"
    assert run("data", "convert", out, "--out", back).returncode == 0
    assert [p.id for p in read_problems(back)] == [p.id for p in read_problems(out)]
    stats = run("data", "stats", back)
    assert stats.returncode == 0 and "functional" in stats.stdout and "stdin" in stats.stdout


@pytest.mark.parametrize("content,where", [
    ('{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": \n', ":2: invalid JSON"),
    ('{"problem": "a", "answer": "1"}\n{"answer": "2"}\n', ":2: field 'problem': missing"),
    ('{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": {"x": 1}}\n', ":2: field 'answer': expected"),
])
def test_malformed_input_exits_2_with_one_line_and_no_output(tmp_path: Path, content: str, where: str) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(content)
    out = tmp_path / "out.jsonl"
    res = run("data", "convert", src, "--out", out, "--format", "math_jsonl")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(src) + where in lines[0], res.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    src = tmp_path / "odd.jsonl"
    src.write_text(json.dumps({"hello": "world"}) + "\n")
    res = run("data", "convert", src, "--out", tmp_path / "o.jsonl")
    assert res.returncode == 2 and "odd.jsonl: unknown format" in res.stderr
    res = run("data", "convert", src, "--out", tmp_path / "o.jsonl", "--format", "nope")
    assert res.returncode == 2 and "unknown format 'nope'" in res.stderr
    res = run("data", "convert", tmp_path / "missing.json", "--out", tmp_path / "o.jsonl")
    assert res.returncode == 2 and "missing.json: no such file" in res.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_duplicate_ids_across_inputs_fail(fixtures: Path, tmp_path: Path) -> None:
    f = fixtures / "sources" / "codeforces.json"
    res = run("data", "convert", f, f, "--out", tmp_path / "o.jsonl")
    assert res.returncode == 2 and "duplicate problem id" in res.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_formats_lists_readers() -> None:
    res = run("data", "formats")
    assert res.returncode == 0 and "leetcodedataset" in res.stdout and "verl" in res.stdout
