"""``acereason curate`` / ``decontaminate`` as a user runs them: progress on stderr, reruns that follow edited
inputs, outputs that may not replace inputs, and bad input as exit 2 with one line."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acereason.cli import app
from acereason.schema import read_problems

WORDS = ["apple", "river", "stone", "cloud", "seven", "garden", "lamp", "orange", "window", "tiger", "copper",
         "marble", "violin", "desert", "ladder", "candle", "meadow", "silver", "harbor", "pencil", "forest"]


def math_rows(n: int, seed: int = 0) -> list[dict]:
    """``n`` distinct ordinary math problems (random words, so neither dedupe step merges them)."""
    rng = random.Random(seed)
    return [{"problem": f"Problem {i}: " + " ".join(rng.choice(WORDS) for _ in range(14)) + f" What is {i} plus 1?",
             "answer": str(i + 1)} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_curate_prints_a_progress_line_per_1000_problems_and_per_batch(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "raw.jsonl", math_rows(2100))
    res = invoke("curate", "math", str(src), "--out", str(tmp_path / "o.jsonl"), "--no-validate")
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("[curate ")]
    filt = [ln for ln in lines if ln.startswith("[curate 10-filter]")]
    assert [re.match(r"\[curate 10-filter\] (\d+)", ln).group(1) for ln in filt] == ["1000", "2000", "2100"]
    assert any(ln.startswith("[curate 20-dedupe] 2100/2100 problems") and "kept 2100" in ln for ln in lines)
    # code: the test-validation step reports once per batch of 32 problems
    code = write_jsonl(tmp_path / "code.jsonl", [
        {"question": f"Read n and print n plus {i}. " + " ".join(random.Random(i).choices(WORDS, k=12)),
         "input_output": {"inputs": ["1\n"], "outputs": [f"{i + 1}\n"]}} for i in range(40)])
    res = invoke("curate", "code", str(code), "--out", str(tmp_path / "c.jsonl"), "--no-validate")
    assert res.exit_code == 0, res.output
    tests = [ln for ln in res.stderr.splitlines() if ln.startswith("[curate 30-tests]")]
    assert [ln.split()[2] for ln in tests] == ["32/40", "40/40"]


def test_editing_a_benchmark_in_place_applies_on_rerun(tmp_path: Path) -> None:
    rows = math_rows(5)
    src = write_jsonl(tmp_path / "raw.jsonl", rows)
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"problem": "An unrelated benchmark item about seventeen "
                                                               "purple elephants marching in a line.", "answer": "1"}])
    out = tmp_path / "o.jsonl"
    args = ("curate", "math", str(src), "--out", str(out), "--no-validate", "--benchmarks", str(bench))
    assert invoke(*args).exit_code == 0 and len(list(read_problems(out))) == 5
    # the same file now holds a training problem: the filter stage must run again and drop it
    write_jsonl(bench, [{"problem": rows[2]["problem"] + " Give the answer as a decimal number.", "answer": "3"}])
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    kept = [p.prompt for p in read_problems(out)]
    assert len(kept) == 4 and rows[2]["problem"] not in kept
    # options count too: with n above the item's length, the item must appear whole, and it does not (the
    # short-item matcher, which would catch this near-copy by its word pairs, is off here)
    res = invoke(*args, "--n", "60", "--short-item-words", "0")
    assert res.exit_code == 0 and len(list(read_problems(out))) == 5


def test_inputs_sharing_a_file_name_keep_distinct_ids(tmp_path: Path) -> None:
    """Ids come from file names; two ``test.jsonl`` inputs must not collide (and drop as duplicate ids)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_jsonl(tmp_path / "a" / "test.jsonl", math_rows(3, seed=1))
    b = write_jsonl(tmp_path / "b" / "test.jsonl", math_rows(3, seed=2))
    out = tmp_path / "o.jsonl"
    res = invoke("curate", "math", str(a), str(b), "--out", str(out), "--no-validate", "--workers", "2",
                 "--shards", "2")
    assert res.exit_code == 0, res.output
    ids = sorted(p.id for p in read_problems(out))
    assert len(ids) == 6 == len(set(ids)) and {i.split("-")[0] for i in ids} == {"a_test", "b_test"}


def test_out_or_report_equal_to_an_input_is_refused(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "raw.jsonl", math_rows(3))
    bench = write_jsonl(tmp_path / "bench.jsonl", math_rows(1, seed=9))
    before = src.read_text(), bench.read_text()
    for extra in (["--out", str(src)], ["--out", str(tmp_path / "." / "bench.jsonl"), "--benchmarks", str(bench)],
                  ["--out", str(tmp_path / "o.jsonl"), "--report", str(src)]):
        res = invoke("curate", "math", str(src), "--no-validate", *extra)
        assert res.exit_code == 2 and "is also an input" in res.output, res.output
    for extra in (["--out", str(src)], ["--out", str(bench)], ["--out", str(tmp_path / "k.jsonl"), "--dropped",
                                                                str(src)]):
        res = invoke("decontaminate", str(src), "--benchmarks", str(bench), *extra)
        assert res.exit_code == 2 and "is also an input" in res.output, res.output
    assert (src.read_text(), bench.read_text()) == before


@pytest.mark.parametrize(("args", "name"), [
    (["--n", "0"], "--n"), (["--shards", "0"], "--shards"), (["--near-threshold", "1.5"], "--near-threshold"),
    (["--validator", "tpu:x"], "--validator"),
])
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], name: str) -> None:
    src = write_jsonl(tmp_path / "raw.jsonl", math_rows(2))
    flags = [] if "--validator" in args else ["--no-validate"]
    res = invoke("curate", "math", str(src), "--out", str(tmp_path / "o.jsonl"), *flags, *args)
    assert res.exit_code == 2 and res.output.startswith(f"error: {name}") and len(res.output.splitlines()) == 1
    assert not (tmp_path / "o.jsonl.work").exists()  # refused before any work


def test_bad_cutoff_and_bad_row_in_a_worker_exit_2_with_one_line(tmp_path: Path) -> None:
    code = write_jsonl(tmp_path / "code.jsonl", [{"question": "Read n, print it.", "input_output": {
        "inputs": ["1\n"], "outputs": ["1\n"]}}])
    res = invoke("curate", "code", str(code), "--out", str(tmp_path / "c.jsonl"), "--no-validate", "--cutoff", "soon")
    assert res.exit_code == 2 and res.output.startswith("error: --cutoff")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in math_rows(30)) + '{"problem": 5}\n')
    res = invoke("curate", "math", str(bad), "--out", str(tmp_path / "o.jsonl"), "--no-validate", "--shards", "2",
                 "--workers", "2")
    assert res.exit_code == 2 and "bad.jsonl:31" in res.output and "Traceback" not in res.output
