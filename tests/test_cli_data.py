"""`acereason data convert|stats|formats` through the real entry point: exit codes, messages, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from acereason.cli import app
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


def test_same_input_twice_fails(fixtures: Path, tmp_path: Path) -> None:
    f = fixtures / "sources" / "codeforces.json"
    res = run("data", "convert", f, f, "--out", tmp_path / "o.jsonl")
    assert res.returncode == 2 and f"{f}: given twice" in res.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_formats_lists_readers() -> None:
    res = run("data", "formats")
    assert res.returncode == 0 and "leetcodedataset" in res.stdout and "verl" in res.stdout


def convert(*args: str | Path) -> Result:
    """`data convert` in-process (stderr is not a terminal here, as in a batch job)."""
    return CliRunner().invoke(app, ["data", "convert", *map(str, args)])


@pytest.mark.parametrize("name,content,message", [
    ("empty.jsonl", b"", "empty file"),
    ("cut.json", b'[{"problem": "a", "answer": "1"},\n {"problem": "b"', "invalid JSON at line 2 col 17: Expecting "
     "',' delimiter (truncated?)"),
    ("fake.jsonl.gz", b'{"problem": "a", "answer": "1"}\n', "not a gzip file (the name ends in .gz but the content "
     "is not gzip)"),
    ("list.jsonl", b'{"problem": ["a list"], "answer": "1"}\n', "1: field 'problem': expected a string, got list"),
    ("bool.jsonl", b'{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": true}\n',
     "2: field 'answer': expected text, a number or a list of them, got boolean"),
])
def test_convert_says_why_in_one_line(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    src = tmp_path / name
    src.write_bytes(content)
    res = convert(src, "--out", tmp_path / "out.jsonl")
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [f"error: {src}{':' if message[0].isdigit() else ': '}{message}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_convert_detects_a_file_whose_first_answer_is_null(tmp_path: Path) -> None:
    src = tmp_path / "nulls.jsonl"
    src.write_text('{"problem": "a", "answer": null}\n{"problem": "b", "answer": 2.50}\n')
    res = convert(src, "--out", tmp_path / "out.jsonl")
    assert res.exit_code == 0, res.output
    assert f"first: {src} id 'nulls-0', field 'answer'" in res.stderr
    assert [(p.id, p.answer) for p in read_problems(tmp_path / "out.jsonl")] == [("nulls-0", None), ("nulls-1", "2.50")]


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink"])
def test_out_equal_to_an_input_is_refused(fixtures: Path, tmp_path: Path, spelling: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes((fixtures / "sources" / "amc_floats.jsonl").read_bytes())
    before = src.read_bytes()
    out = {"same": src, "dotdot": tmp_path / "x" / ".." / "in.jsonl", "symlink": tmp_path / "link.jsonl"}[spelling]
    if spelling == "symlink":
        out.symlink_to(src)
    res = convert(fixtures / "sources" / "taco.jsonl", src, "--out", out)
    assert res.exit_code == 2 and res.stderr.startswith(f"error: --out: {out} is also an input")
    assert src.read_bytes() == before


def test_inputs_with_the_same_name_get_distinct_ids(fixtures: Path, tmp_path: Path) -> None:
    (tmp_path / "test" / "x").mkdir(parents=True)
    (tmp_path / "train").mkdir()
    for d in ("train", "test"):
        (tmp_path / d / "aime.json").write_bytes((fixtures / "sources" / "deepscaler_like.json").read_bytes())
    out = tmp_path / "o.jsonl"
    res = convert(tmp_path / "train" / "aime.json", tmp_path / "test" / "x" / ".." / "aime.json", "--out", out)
    assert res.exit_code == 0, res.output
    ids = [(p.id, p.source) for p in read_problems(out)]
    assert ids[0] == ("train_aime-0", "train_aime") and ("test_aime-0", "test_aime") in ids
    assert len({i for i, _ in ids}) == len(ids) == 10
    res = convert(tmp_path / "test" / "aime.json", tmp_path / "train" / "aime.json", "--out", out)
    assert res.exit_code == 0 and sorted(p.id for p in read_problems(out)) == sorted(i for i, _ in ids)
    res = convert(tmp_path / "test" / "aime.json", tmp_path / "test" / "x" / ".." / "aime.json", "--out", out)
    assert res.exit_code == 2 and res.stderr.splitlines() == [
        f"error: {tmp_path}/test/x/../aime.json: given twice (also as {tmp_path}/test/aime.json); list each input once"]


def test_convert_prints_one_progress_line_per_1000_records(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    src.write_text("".join(json.dumps({"problem": f"p{i}", "answer": str(i)}) + "\n" for i in range(2500)))
    res = convert(src, "--out", tmp_path / "out.jsonl")
    assert res.exit_code == 0, res.output
    progress = [line for line in res.stderr.splitlines() if line.startswith("[convert]")]
    assert [line.split()[1] for line in progress] == ["1000", "2000", "2500"]
