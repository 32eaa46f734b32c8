"""Every problem file in ../shared/data converts to exactly the record count SOURCES.md gives."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acereason.cli import app
from acereason.schema import Problem, read_problems, write_records
from acereason.sources import read_source

from .conftest import SHARED_DATA

PROBLEM_SUFFIXES = (".json", ".jsonl", ".jsonl.gz", ".parquet")


def expected_counts(sources_md: Path) -> dict[str, int]:
    """``{relative path: records}`` from SOURCES.md; APPS problem directories are grouped by parent."""
    counts: dict[str, int] = {}
    apps: dict[str, set[str]] = defaultdict(set)
    for line in sources_md.read_text().splitlines():
        m = re.match(r"- `([^`]+)` \| [^|]+ \| [^|]+ \| [^|]+ \| ([^|]+) \|", line)
        if not m:
            continue
        rel, records = m.group(1), m.group(2).strip()
        parts = Path(rel).parts
        if len(parts) >= 3 and parts[0] == "coderl_apps":
            apps[str(Path(*parts[:-2]))].add(parts[-2])
        elif rel.endswith(PROBLEM_SUFFIXES) and records.isdigit():
            counts[rel] = int(records)
    counts.update({d: len(probs) for d, probs in apps.items()})
    return counts


CASES = sorted(expected_counts(SHARED_DATA / "SOURCES.md").items()) if (SHARED_DATA / "SOURCES.md").exists() else []


def test_sources_md_lists_the_files(shared_data: Path) -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("rel,count", CASES, ids=[c[0] for c in CASES])
def test_convert_matches_sources_md(shared_data: Path, tmp_path: Path, rel: str, count: int) -> None:
    out = tmp_path / "out.parquet"
    n = write_records(out, read_source(shared_data / rel), Problem)
    assert n == count
    problems = list(read_problems(out))
    assert len({p.id for p in problems}) == count
    for p in problems:
        if p.domain == "code":
            assert p.tests and all(t.input is not None for t in p.tests)
            assert p.fn_name or all(t.testtype == "stdin" for t in p.tests), p.id
        assert "<|im_start|>" not in p.prompt and not re.search(r"[\x07\x08\x0b\x0c]", p.prompt), p.id


def test_math_answers_are_clean(shared_data: Path) -> None:
    amc = list(read_source(shared_data / "qwen25math_amc23" / "test.jsonl"))
    assert all(not p.answer.endswith(".0") for p in amc) and amc[0].answer == "27"
    alt = list(read_source(shared_data / "aime25_alt" / "test.jsonl"))
    assert "\\frac{\\log_4" in alt[18].prompt and "\\triangle" in alt[19].prompt and "$\\frac{m}{n}" in alt[27].prompt
    sky = list(read_source(shared_data / "skywork_or1_eval" / "aime24.parquet"))
    assert any(p.answer.startswith("0") for p in sky)  # leading zeros are kept as the source gives them


def test_code_sources_have_expected_shapes(shared_data: Path) -> None:
    lcb = list(read_source(shared_data / "rllm_code" / "test" / "livecodebench.json"))
    functional = [p for p in lcb if p.tests[0].testtype == "functional"]
    assert functional and all(p.fn_name for p in functional)
    raw = list(read_source(shared_data / "lcb_raw_extracted" / "livecodebench_raw_records.jsonl"))
    kinds = sorted(sum(len(p.tests) for p in raw if p.tests[0].testtype == t) for t in ("functional", "stdin"))
    assert raw[1].fn_name == "minimumOperations" and len(raw[1].tests) == 3 + 12
    assert len(raw[0].tests) == 1 + 4 and kinds
    verl = list(read_source(shared_data / "rllm_verl" / "code" / "test_livecodebench.parquet"))
    assert sum(p.tests[0].testtype == "functional" for p in verl) == 381
    assert all(p.fn_name for p in verl if p.tests[0].testtype == "functional")
    assert not any(p.prompt.startswith("You are an expert") for p in verl)


@pytest.mark.parametrize("rel", ["math500/test.jsonl", "deepscaler/train/aime.json", "simplerl_verl/train.parquet",
                                 "rllm_code/test/codeforces.json", "prime_eval/leetcode/leetcode-test.json"])
def test_real_ids_depend_only_on_the_file_name(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              rel: str) -> None:
    absolute = [(p.id, p.source) for p in read_source(shared_data / rel)]
    monkeypatch.chdir(tmp_path)
    spelled = Path(os.path.relpath(shared_data, tmp_path)) / Path(rel).parts[0] / ".." / rel
    assert [(p.id, p.source) for p in read_source(spelled)] == absolute
    parent = Path(rel).parent.name
    assert not any(pid.startswith(f"{parent}_") for pid, _ in absolute)


def test_real_benchmarks_named_test_convert_together_with_distinct_ids(shared_data: Path, tmp_path: Path) -> None:
    rels = ["math500/test.jsonl", "qwen25math_aime24/test.jsonl", "aime2025/test.jsonl", "qwen25math_amc23/test.jsonl"]
    out = tmp_path / "eval.jsonl"
    res = CliRunner().invoke(app, ["data", "convert", *[str(shared_data / r) for r in rels], "--out", str(out)])
    assert res.exit_code == 0, res.output
    problems = list(read_problems(out))
    assert len({p.id for p in problems}) == len(problems) == 500 + 30 + 30 + 40
    assert [p.id for p in problems[:: len(problems) - 1]] == ["math500_test-0", "qwen25math_amc23_test-39"]
    assert {p.source for p in problems} >= {"math500_test", "aime2025_test"}
