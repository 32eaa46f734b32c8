"""End-to-end evaluation of a tiny local model: samples, tables, resume without regeneration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from acereason.eval import fingerprint
from acereason.eval.benchmarks import BENCHMARKS, benchmark_spec, load_benchmark
from acereason.eval.runner import EvalSettings, evaluate, read_samples
from acereason.generate.base import Completion
from acereason.schema import DataError, EvalRecord, Problem, write_records

REPO = Path(__file__).resolve().parents[1]


def _problems(tmp: Path) -> Path:
    ps = [Problem(id=f"m{i}", domain="math", prompt=f"What is {i}+{i}?", answer=str(2 * i), source="toy",
                  meta={"level": 1 + i % 2}) for i in range(3)]
    path = tmp / "toy_math.jsonl"
    write_records(path, ps, Problem)
    return path


class Scripted:
    """A generator that answers from a script and counts what it was asked for."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[int] = []

    def generate(self, prompts, n, params):
        self.calls.append(len(prompts) * n)
        out = []
        for msgs in prompts:
            text = msgs[-1]["content"]
            key = text.split("?")[0]
            out.append([Completion(text=self.answers[key][i % len(self.answers[key])], token_ids=[1, 2, 3],
                                   finish_reason="stop") for i in range(n)])
        return out


def test_avg_at_k_on_a_fixed_sample_file_equals_hand_computation(tmp_path: Path) -> None:
    path = _problems(tmp_path)
    spec = benchmark_spec(f"file:{path}")
    out = tmp_path / "eval"
    suite = [(spec, load_benchmark(spec, path))]
    fingerprint.bind(out, fingerprint.build(None, EvalSettings(k=4), suite))  # the samples below are "ours"
    outcomes = {"m0": [True, True, False, False], "m1": [False] * 4, "m2": [True, False, False, False]}
    with open(out / "samples.jsonl", "w") as fh:
        for pid, row in outcomes.items():
            for i, ok in enumerate(row):
                fh.write(EvalRecord(benchmark=spec.name, problem_id=pid, sample_index=i, response="x",
                                    correct=ok, reason="match_exact" if ok else "mismatch").model_dump_json() + "\n")
        fh.write('{"benchmark": "toy_math", "problem_id": "m2", "sam')  # a line cut by a crash
    gen = Scripted({})
    res = evaluate(gen, suite, out, EvalSettings(k=4), progress=False)
    b = res["benchmarks"]["toy_math"]
    assert gen.calls == []  # nothing regenerated
    assert b["avg_at_k"] == pytest.approx((0.5 + 0 + 0.25) / 3)
    assert b["pass_at_k"]["4"] == pytest.approx(2 / 3)
    assert b["pass_at_k"]["2"] == pytest.approx((1 - 1 / 6 + 0 + 0.5) / 3)  # 1 - C(2,2)/C(4,2) = 5/6; C(3,2)/C(4,2)
    assert b["by_difficulty"] == {"1": {"n": 2, "avg_at_k": pytest.approx(0.375)}, "2": {"n": 1, "avg_at_k": 0.0}}


def test_eval_resumes_and_only_fills_missing_samples(tmp_path: Path) -> None:
    path = _problems(tmp_path)
    spec = benchmark_spec(f"file:{path}")
    suite = [(spec, load_benchmark(spec, path))]
    answers = {f"What is {i}+{i}": [f"\\boxed{{{2 * i}}}", "\\boxed{-1}"] for i in range(3)}
    gen = Scripted(answers)
    res = evaluate(gen, suite, tmp_path / "e", EvalSettings(k=2), progress=False)
    assert sum(gen.calls) == 6 and res["benchmarks"]["toy_math"]["avg_at_k"] == pytest.approx(0.5)
    again = Scripted(answers)
    evaluate(again, suite, tmp_path / "e", EvalSettings(k=2), progress=False)
    assert again.calls == []
    more = Scripted(answers)
    res = evaluate(more, suite, tmp_path / "e", EvalSettings(k=4), progress=False)
    assert sum(more.calls) == 6  # only samples 2 and 3 of each problem
    assert len(read_samples(tmp_path / "e" / "samples.jsonl")) == 12
    assert json.loads((tmp_path / "e" / "results.json").read_text())["benchmarks"]["toy_math"]["k"] == 4


def test_eval_cli_end_to_end_with_a_tiny_model(tmp_path: Path) -> None:
    from acereason.models import build_char_tokenizer, build_tiny_model, save_tiny

    tok = build_char_tokenizer()
    save_tiny(build_tiny_model(tok), tok, tmp_path / "model")
    path = _problems(tmp_path)
    cmd = [sys.executable, "-m", "acereason", "eval", "--model", str(tmp_path / "model"), "--benchmarks",
           f"file:{path}", "--k", "2", "--max-tokens", "12", "--out", str(tmp_path / "ev"), "--device", "cpu"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert first.returncode == 0, first.stderr
    assert "toy_math" in first.stdout
    recs = read_samples(tmp_path / "ev" / "samples.jsonl")
    assert len(recs) == 6 and all(r.reason for r in recs)
    before = (tmp_path / "ev" / "samples.jsonl").read_text()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert second.returncode == 0 and (tmp_path / "ev" / "samples.jsonl").read_text() == before


def test_registry_windows_and_errors(tmp_path: Path, shared_data: Path) -> None:
    assert BENCHMARKS["lcb_v5"].window == ("2024-08-01", "2025-02-01")
    spec = benchmark_spec("aime24")
    from acereason.eval.benchmarks import find_file

    assert len(load_benchmark(spec, find_file(spec, shared_data))) == 30
    lcb = benchmark_spec("lcb_v5")
    with pytest.raises(DataError, match="no lcb_v5 problems"):  # the 2 raw rows are from 2023
        load_benchmark(lcb, find_file(lcb, shared_data))
    with pytest.raises(DataError, match="no contest_date"):
        load_benchmark(lcb, shared_data / "rllm_code" / "test" / "livecodebench.json")
    with pytest.raises(DataError, match="unknown benchmark"):
        benchmark_spec("gsm9k")


def test_eval_list_shows_expected_files() -> None:
    res = subprocess.run([sys.executable, "-m", "acereason", "eval", "--list"], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert res.returncode == 0 and "lcb_v5" in res.stdout and "aime24" in res.stdout
