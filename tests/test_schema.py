"""Schema validation, streaming I/O, atomic writes and the JSONL <-> Parquet round trip."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acereason.schema import (
    DataError,
    EvalRecord,
    Problem,
    Rollout,
    TestCase,
    Verdict,
    read_problems,
    read_records,
    write_records,
)


def _math(**kw) -> dict:
    return {"id": "m1", "domain": "math", "prompt": "1+1?", "answer": "2", "source": "t"} | kw


def test_problem_defaults_match_contract() -> None:
    p = Problem(**_math())
    assert p.time_limit_s == 6.0 and p.memory_mb == 1024 and p.difficulty is None and p.meta == {}


@pytest.mark.parametrize("row,field", [
    ({"domain": "math", "prompt": "x", "answer": "1", "source": "s"}, "id"),
    (_math(domain="physics"), "domain"),
    (_math(difficulty=1.5), "difficulty"),
    (_math(answer="   "), None),
    (_math(extra_field=1), "extra_field"),
    ({"id": "c", "domain": "code", "prompt": "x", "source": "s", "tests": []}, None),
    ({"id": "c", "domain": "code", "prompt": "x", "source": "s",
      "tests": [{"testtype": "functional", "input": "1", "output": "1"}]}, None),
    ({"id": "c", "domain": "code", "prompt": "x", "source": "s", "tests": [{"testtype": "exotic", "input": "1"}]},
     "tests.0.testtype"),
    ({"id": "c", "domain": "code", "prompt": "x", "source": "s", "tests": [{"testtype": "check", "input": "x",
                                                                             "output": "y"}]}, "tests.0"),
])
def test_bad_rows_name_file_line_and_field(tmp_path: Path, row: dict, field: str | None) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_math()) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError) as info:
        list(read_problems(path))
    msg = str(info.value)
    assert msg.startswith(f"{path}:3: ") and "\n" not in msg
    if field:
        assert f"field '{field}'" in msg


def test_broken_json_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_math()) + "\n{not json\n")
    with pytest.raises(DataError, match=r"p.jsonl:2: invalid JSON"):
        list(read_problems(path))


def test_wrong_type_message_names_type(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_math(time_limit_s="fast")) + "\n")
    with pytest.raises(DataError, match=r"p.jsonl:1: field 'time_limit_s'"):
        list(read_problems(path))


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"

    def rows():
        for i in range(2000):
            if i == 1500:
                raise DataError("in.jsonl", 1501, "boom")
            yield Problem(**_math(id=f"m{i}"))

    with pytest.raises(DataError):
        write_records(out, rows(), Problem)
    assert list(tmp_path.iterdir()) == []
    write_records(out, [Problem(**_math())], Problem)
    with pytest.raises(DataError):
        write_records(out, rows(), Problem)
    assert [p.id for p in read_problems(out)] == ["m1"]  # the earlier complete file survives
    assert sorted(x.name for x in tmp_path.iterdir()) == [out.name]


def test_empty_parquet_has_schema(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    assert write_records(out, [], Problem) == 0
    assert list(read_problems(out)) == []


def test_other_record_types_round_trip(tmp_path: Path) -> None:
    v = Verdict(correct=True, reason="accepted", tests_passed=3, tests_total=3, wall_s=0.1)
    r = Rollout(problem_id="p", sample_index=0, prompt="q", response="a", token_ids=[1, 2], finish_reason="length",
                reward=0.0, verdict=v)
    e = EvalRecord(benchmark="aime24", problem_id="p", sample_index=3, response="x", correct=False, reason="mismatch")
    for model, rec in [(Rollout, r), (EvalRecord, e), (Verdict, v)]:
        for suffix in (".jsonl", ".parquet"):
            path = tmp_path / f"{model.__name__}{suffix}"
            write_records(path, [rec], model)
            assert list(read_records(path, model)) == [rec]


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_json = st.recursive(st.none() | st.booleans() | st.integers(-(2**62), 2**62) | _text
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)
_test = st.builds(TestCase, testtype=st.sampled_from(["stdin", "functional"]), input=_text, output=_text) | st.builds(
    TestCase, testtype=st.just("check"), input=_text, output=st.just(""))


@st.composite
def problems(draw) -> Problem:
    domain = draw(st.sampled_from(["math", "code"]))
    common = {
        "id": draw(st.text(min_size=1, max_size=20)), "domain": domain,
        "prompt": draw(st.text(min_size=1, max_size=80)), "source": draw(_text),
        "difficulty": draw(st.none() | st.floats(0, 1)), "meta": draw(st.dictionaries(_text, _json, max_size=4)),
        "time_limit_s": draw(st.floats(0.01, 100)), "memory_mb": draw(st.integers(1, 65536)),
    }
    if domain == "math":
        return Problem(**common, answer=draw(st.none() | _text.filter(lambda s: s.strip() != "")))
    tests = draw(st.lists(_test, min_size=1, max_size=4))
    return Problem(**common, tests=tests, fn_name=draw(st.text(min_size=1, max_size=10)),
                   starter_code=draw(st.none() | _text))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(problems(), max_size=6))
def test_jsonl_parquet_jsonl_round_trip_is_lossless(tmp_path: Path, batch: list[Problem]) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.parquet", tmp_path / "c.jsonl"
    write_records(a, batch, Problem)
    write_records(b, read_problems(a), Problem)
    write_records(c, read_problems(b), Problem)
    assert list(read_problems(c)) == batch
    assert a.read_bytes() == c.read_bytes()


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_umask_mode(tmp_path: Path, suffix: str, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        write_records(tmp_path / f"out{suffix}", [Problem(**_math())], Problem)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / f"out{suffix}").stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]


def test_wrong_json_type_is_named_not_called_missing(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_math(prompt=["a list"])) + "\n" + json.dumps(_math(answer=True)) + "\n")
    with pytest.raises(DataError) as info:
        list(read_problems(path))
    assert str(info.value) == f"{path}:1: field 'prompt': expected a string, got list"
    path.write_text(json.dumps(_math(answer=True)) + "\n")
    with pytest.raises(DataError, match=r"p.jsonl:1: field 'answer': expected a string, got boolean$"):
        list(read_problems(path))


@pytest.mark.parametrize("content,message", [
    (b"plain text, not gzip\n", "not a gzip file"),
    (gzip.compress((json.dumps(_math()) + "\n").encode() * 200)[:-12], "truncated gzip file"),
])
def test_bad_gzip_is_one_line_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p.jsonl.gz"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        list(read_problems(path))
    assert str(info.value).startswith(f"{path}: {message}")


def test_truncated_jsonl_line_says_so(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_math()) + '\n{"id": "m2", "prompt": "x')
    with pytest.raises(DataError, match=r"p.jsonl:2: invalid JSON at col 24: Unterminated string \(truncated\?\)$"):
        list(read_problems(path))
