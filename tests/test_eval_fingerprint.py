"""An eval output directory is bound to what made its samples: model, sampling settings, prompt, benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acereason.eval import fingerprint
from acereason.eval.benchmarks import benchmark_spec, load_benchmark
from acereason.eval.runner import EvalSettings, evaluate, read_samples
from acereason.schema import DataError, Problem, write_records
from tests.test_eval_runner import Scripted

ANSWERS = {f"What is {i}+{i}": [f"\\boxed{{{2 * i}}}", "\\boxed{-1}"] for i in range(5)}
MODEL_A = {"weights": "a" * 64, "config": "c" * 64}
MODEL_B = {"weights": "b" * 64, "config": "c" * 64}


def _suite(tmp: Path, n: int = 3, name: str = "toy_math", answer_shift: int = 0):
    ps = [Problem(id=f"m{i}", domain="math", prompt=f"What is {i}+{i}?", answer=str(2 * i + answer_shift),
                  source="toy") for i in range(n)]
    path = tmp / f"{name}.jsonl"
    write_records(path, ps, Problem)
    spec = benchmark_spec(f"file:{path}")
    return spec, load_benchmark(spec, path)


def _run(suites, out, model_id=MODEL_A, fresh=False, **settings):
    gen = Scripted(ANSWERS)
    res = evaluate(gen, suites, out, EvalSettings(**{"k": 2, **settings}), progress=False, model_id=model_id,
                   fresh=fresh)
    return gen, res


def test_another_model_or_other_settings_in_the_same_dir_are_refused_naming_what_differs(tmp_path):
    suite = [_suite(tmp_path)]
    out = tmp_path / "e"
    _run(suite, out)
    before = (out / "samples.jsonl").read_text()
    with pytest.raises(DataError, match=r"different model \(weights\); use another --out or --fresh"):
        _run(suite, out, model_id=MODEL_B)
    with pytest.raises(DataError, match=r"different temperature \(0.6 -> 1.0\), top-p \(0.95 -> 0.5\)"):
        _run(suite, out, temperature=1.0, top_p=0.5)
    with pytest.raises(DataError, match=r"different max-tokens \(32768 -> 100\), seed \(0 -> 3\)"):
        _run(suite, out, max_tokens=100, seed=3)
    with pytest.raises(DataError, match=r"different model \(weights\), temperature \(0.6 -> 1.0\)"):
        _run(suite, out, model_id=MODEL_B, temperature=1.0)
    with pytest.raises(DataError, match="different system prompt"):
        _run(suite, out, system_prompt="Be brief.")
    _run(suite, tmp_path / "srv", model_id=fingerprint.server_identity("http://h", "m"))
    with pytest.raises(DataError, match=r"model \('m' at http://h/v1 -> a local model directory\)"):
        _run(suite, tmp_path / "srv")
    assert (out / "samples.jsonl").read_text() == before  # nothing was added to the refused directory
    gen, res = _run(suite, out, model_id=MODEL_B, temperature=1.0, fresh=True)
    assert sum(gen.calls) == 6 and res["settings"]["generated_now"] == 6  # --fresh: all samples made anew
    assert len(read_samples(out / "samples.jsonl")) == 6
    assert json.loads((out / "fingerprint.json").read_text())["model"] == MODEL_B


def test_more_k_and_added_benchmarks_resume_but_changed_problems_do_not(tmp_path):
    math = _suite(tmp_path)
    out = tmp_path / "e"
    _run([math], out)
    gen, _ = _run([math], out, k=3)  # more samples per problem: only the third is made
    assert sum(gen.calls) == 3
    other = _suite(tmp_path, n=2, name="toy_two")
    gen, res = _run([math, other], out, k=3)  # an added benchmark: only its samples are made
    assert sum(gen.calls) == 6 and set(res["benchmarks"]) == {"toy_math", "toy_two"}
    gen, _ = _run([other], out, k=3)  # evaluating one of them alone still resumes
    assert gen.calls == []
    sub = tmp_path / "changed"
    sub.mkdir()
    changed = _suite(sub, answer_shift=1)  # same name, same ids, other answers: old verdicts are wrong
    with pytest.raises(DataError, match="different benchmark toy_math contents"):
        _run([changed], out, k=3)
    with pytest.raises(DataError, match=r"benchmark toy_math contents \(3 -> 4 problems\)"):
        _run([_suite(sub, n=4)], out, k=3)


def test_samples_without_a_fingerprint_are_not_trusted(tmp_path):
    suite = [_suite(tmp_path)]
    out = tmp_path / "e"
    _run(suite, out)
    (out / "fingerprint.json").unlink()
    with pytest.raises(DataError, match=r"has no fingerprint\.json"):
        _run(suite, out)


def test_limit_counts_the_first_n_problems_and_a_full_rerun_resumes_them(tmp_path):
    suite = [_suite(tmp_path, n=5)]
    out = tmp_path / "e"
    gen, res = _run(suite, out, limit=2)
    b = res["benchmarks"]["toy_math"]
    assert sum(gen.calls) == 4 and res["limit"] == 2 and b["n_problems"] == 2 and b["n_problems_total"] == 5
    assert {r.problem_id for r in read_samples(out / "samples.jsonl")} == {"m0", "m1"}
    assert json.loads((out / "fingerprint.json").read_text())["last_run"]["limit"] == 2
    gen, res = _run(suite, out)  # without --limit: same directory, only the 3 other problems are sampled
    assert sum(gen.calls) == 6 and res["limit"] is None and res["benchmarks"]["toy_math"]["n_problems"] == 5
    # rows of problems outside the evaluated set stay in the file but are never counted
    gen, res = _run(suite, out, limit=1)
    b = res["benchmarks"]["toy_math"]
    assert gen.calls == [] and b["n_problems"] == 1 and b["avg_at_k"] == 0.5 and sum(b["reasons"].values()) == 2


def test_weights_hash_follows_contents_and_ignores_training_state(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"\0" * 1000)
    (d / "config.json").write_text("{}")
    (d / "tokenizer.json").write_text("{}")
    first = fingerprint.model_dir_identity(d)
    (d / "optimizer.pt").write_bytes(b"state")
    (d / "stage.json").write_text('{"global_step": 3}')
    assert fingerprint.model_dir_identity(d) == first
    (d / "model.safetensors").write_bytes(b"\0" * 999 + b"\1")  # same size, one byte differs
    assert fingerprint.model_dir_identity(d)["weights"] != first["weights"]
    (d / "chat_template.jinja").write_text("{{ messages }}")
    assert fingerprint.model_dir_identity(d)["config"] != first["config"]
    (d / "model.safetensors").unlink()
    with pytest.raises(DataError, match="no weight files"):
        fingerprint.model_dir_identity(d)


def test_progress_prints_plain_lines_per_chunk_when_not_a_terminal(tmp_path, capsys):
    suite = [_suite(tmp_path, n=5)]
    evaluate(Scripted(ANSWERS), suite, tmp_path / "e", EvalSettings(k=2, chunk_prompts=2), progress=True,
             model_id=MODEL_A)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("[toy_math (k=2)]")]
    assert [x.split()[2] for x in lines] == ["4/10", "8/10", "10/10"]  # one line per chunk of 2 prompts
