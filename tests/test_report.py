"""Unit tests for acereason/report on synthetic run directories (no GPU, no browser)."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from acereason.cli import app
from acereason.report import build_report
from acereason.report.figures import eval_accuracy_figure, pass_at_k_figure, rolling_mean, training_figure
from acereason.report.load import load_metrics, load_run, split_stages
from acereason.report.render import png_size
from acereason.report.tables import edge_window, fmt_num

STAGES = [("math-8k", 12), ("math-16k", 8), ("code-24k", 7)]


def step_record(step: int, stage: str, stage_index: int, stage_step: int) -> dict:
    """One trainer line with every metric prefix the trainer writes; values are simple functions of step."""
    return {
        "step": step, "stage": stage, "stage_index": stage_index, "stage_step": stage_step, "epoch": 0,
        "reward/mean": round(0.1 + 0.02 * step, 4), "reward/pass_at_group": 0.5,
        "groups/zero_variance_frac": 0.25, "groups/mixed_frac": 0.75, "groups/resampled_prompts": 0,
        "response/length_mean": 100.0 + step, "response/length_max": 200 + step,
        "response/truncation_ratio": 0.1, "policy/entropy": 1.0 - 0.01 * step, "policy/grad_norm": 0.5,
        "policy/kl": 0.0, "policy/loss": -0.01, "policy/lr": 1e-6, "policy/temperature": 0.6,
        "policy/group_size": 8, "policy/trained_tokens": 1000, "prompts/active": 64, "prompts/filtered": 0,
        "verify/timeouts": 0, "verify/errors": 0,
        "time/generate": 2.0, "time/verify": 1.0, "time/train": 1.0, "time/step": 4.0, "perf/tokens_per_s": 250.0,
    }


def benchmark(domain: str, avg: float, ci: tuple[float, float], passes: dict[str, float], **extra) -> dict:
    return {"domain": domain, "n_problems": 50, "k": 4, "avg_at_k": avg, "se": 0.02, "ci95": list(ci),
            "pass_at_k": passes, "by_difficulty": {}, "by_month": {}, "truncated_frac": 0.05,
            "mean_response_tokens": 812.0, **extra}


def make_run(root: Path, *, metrics: bool = True, evals: bool = True, summary: bool = True) -> Path:
    """A three-stage run dir: 27 steps, a NaN entropy, an infinite length, a killed last line, two eval
    points (a benchmark missing at the first), per-month buckets and a summary.json."""
    run = root / "run"
    run.mkdir()
    if metrics:
        lines, step = [], 0
        for stage_index, (stage, n) in enumerate(STAGES):
            for stage_step in range(1, n + 1):
                step += 1
                lines.append(step_record(step, stage, stage_index, stage_step))
        lines[4]["policy/entropy"] = float("nan")
        lines[15]["response/length_mean"] = float("inf")
        text = "".join(json.dumps(rec) + "\n" for rec in lines)  # json writes NaN/Infinity, as the trainer does
        text += json.dumps(step_record(28, "code-24k", 2, 8))[:57]  # kill -9 mid-line
        (run / "metrics.jsonl").write_text(text)
    if evals:
        points = {
            "00-sft": {"math500": benchmark("math", 0.5, (0.45, 0.56), {"1": 0.5, "2": 0.6, "4": 0.7}),
                       "lcb_v5": benchmark("code", 0.2, (0.15, 0.25), {"1": 0.2, "2": 0.3, "4": 0.35},
                                           by_month={"2024-09": {"n": 20, "avg_at_k": 0.25},
                                                     "2024-08": {"n": 30, "avg_at_k": 0.1667}})},
            "01-math-rl": {"math500": benchmark("math", 0.625, (0.6, 0.65), {"1": 0.625, "2": 0.7, "4": 0.8}),
                           "aime24": benchmark("math", 0.1, (0.05, 0.15), {"1": 0.1, "2": 0.15, "4": 0.2}),
                           "lcb_v5": benchmark("code", 0.3, (0.2, 0.4), {"1": 0.3, "2": 0.4, "4": 0.5},
                                               by_month={"2024-08": {"n": 30, "avg_at_k": 0.3}})},
        }
        for label, benches in points.items():
            (run / "eval" / label).mkdir(parents=True)
            doc = {"label": label, "model": f"ckpt/{label}", "created": "2026-11-25T04:00:00Z",
                   "settings": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 1024, "k": 4, "backend": "hf"},
                   "benchmarks": benches}
            (run / "eval" / label / "results.json").write_text(json.dumps(doc))
    if summary:
        (run / "summary.json").write_text(json.dumps({
            "table": [{"stage": "math-rl", "math": 62.5, "code": 30.0}, {"stage": "sft", "math": 50.0}],
            "notes": ["math RL lifted math500 by 12.5 points", "code moved within its interval"]}))
    return run


def md_table(md: str, first_header: str) -> list[list[str]]:
    """The rows (header first) of the first Markdown table whose header starts with ``first_header``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if not line.startswith("|-"):
            rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def test_load_metrics_skips_killed_line_and_keeps_nan(tmp_path: Path) -> None:
    run = make_run(tmp_path, evals=False, summary=False)
    steps, skipped = load_metrics(run / "metrics.jsonl")
    assert skipped == 1
    assert [s["step"] for s in steps] == list(range(1, 28))
    assert math.isnan(steps[4]["policy/entropy"])
    stages = split_stages(steps)
    assert [(s.name, s.index, len(s)) for s in stages] == [("math-8k", 0, 12), ("math-16k", 1, 8), ("code-24k", 2, 7)]


def test_duplicate_step_keeps_later_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "reward/mean": 0.1}\n{"step": 2, "reward/mean": 0.2}\n'
                    '{"step": 2, "reward/mean": 0.9}\n[1, 2]\n')
    steps, skipped = load_metrics(path)
    assert skipped == 1  # the JSON array line is not a step record
    assert [(s["step"], s["reward/mean"]) for s in steps] == [(1, 0.1), (2, 0.9)]
    assert [s.name for s in split_stages(steps)] == ["train"]


def test_rolling_mean_matches_loop_reference() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        values = rng.normal(size=n)
        values[rng.random(n) < 0.2] = np.nan
        window = int(rng.integers(1, 12))
        expected = []
        for i in range(n):
            lo, hi = max(0, i - (window - 1) // 2), min(n, i + window // 2 + 1)
            kept = [v for v in values[lo:hi] if np.isfinite(v)]
            expected.append(sum(kept) / len(kept) if kept else np.nan)
        np.testing.assert_allclose(rolling_mean(values, window), expected, equal_nan=True)


def test_fmt_num() -> None:
    assert fmt_num(14310.06) == "14,310"
    assert fmt_num(0.03125) == "0.0312"
    assert fmt_num(8.0) == "8"
    assert fmt_num(float("nan")) == "—"
    assert fmt_num(float("-inf")) == "—"


def test_full_report_tables(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    md_path, html_path = build_report(run)
    md = md_path.read_text()

    stages = md_table(md, "stage | steps")
    assert stages[0][:4] == ["stage", "steps", "global steps", "reward first"]
    assert [r[0] for r in stages[1:]] == ["0: math-8k", "1: math-16k", "2: code-24k", "all stages"]
    assert [r[1] for r in stages[1:]] == ["12", "8", "7", "27"]
    assert stages[2][2] == "13–20"
    # math-8k: 12 steps -> edge window 1; reward = 0.1 + 0.02 * step -> first 0.12 (step 1), last 0.34 (step 12).
    assert edge_window(12) == 1
    assert stages[1][3:5] == ["0.120", "0.340"]
    # math-16k: mean length over steps 13..20 with step 16 infinite -> mean of the 7 finite values.
    finite_lengths = [100.0 + s for s in range(13, 21) if s != 16]
    assert stages[2][5] == fmt_num(sum(finite_lengths) / 7)
    # time split 2/1/1 of 4 s per step; code-24k: 7 steps x 4 s.
    assert stages[3][9:13] == ["28.0 s", "50%", "25%", "25%"]
    assert stages[3][13] == "250"

    acc = md_table(md, "benchmark")
    header, rows = acc[0], {r[0]: r for r in acc[1:]}
    assert header == ["benchmark", "domain", "problems", "metric", "00-sft", "01-math-rl", "Δ last−first"]
    assert list(rows) == ["math500", "aime24", "lcb_v5"]  # math before code, first-seen order within
    assert rows["math500"][3:] == ["avg@4", "50.0 ± 5.5", "62.5 ± 2.5", "+12.5"]
    assert rows["aime24"][4:] == ["—", "10.0 ± 5.0", "—"]
    assert rows["lcb_v5"][4:] == ["20.0 ± 5.0", "30.0 ± 10.0", "+10.0"]

    passes = md_table(md, "benchmark | label")
    assert passes[0] == ["benchmark", "label", "pass@1", "pass@2", "pass@4", "mean tokens", "truncated %"]
    assert ["math500", "01-math-rl", "62.5", "70.0", "80.0", "812", "5.0"] in passes

    month = md_table(md, "month")
    assert month == [["month", "00-sft", "01-math-rl"], ["2024-08", "16.7 (n=30)", "30.0 (n=30)"],
                     ["2024-09", "25.0 (n=20)", "—"]]

    assert md_table(md, "stage") == [["stage", "math", "code"], ["math-rl", "62.5", "30"], ["sft", "50", "—"]]
    assert "- math RL lifted math500 by 12.5 points" in md
    assert "skipped 1 undecodable line" in md
    assert "policy/entropy ×1" in md and "response/length_mean ×1" in md

    # Figures: saved as PNGs and linked relatively from the Markdown; the same PNGs inline in the HTML.
    links = re.findall(r"!\[[^\]]*\]\((report_files/[^)]+\.png)\)", md)
    assert links == ["report_files/training_curves.png", "report_files/eval_accuracy.png", "report_files/pass_at_k.png"]
    html = html_path.read_text()
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) == 3
    for link, uri in zip(links, uris, strict=True):
        assert base64.b64decode(uri) == (run / link).read_bytes()
        assert png_size(base64.b64decode(uri))[0] >= 600
    # Self-contained and script-free: no external URL, no script, no link/stylesheet reference.
    assert not re.search(r"(src|href)=\"(https?:|//|file:)", html)
    assert "<script" not in html and "<link" not in html
    assert "<td class=\"num\">62.5 ± 2.5</td>" in html


def test_figures_mark_stages_and_order_labels(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path))
    fig = training_figure(run)
    assert fig is not None
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible][:2] == ["Reward (mean over rollouts)", "Response length (tokens)"]
    assert len(visible) == 6
    for ax in visible:
        assert [t.get_text() for t in ax.texts] == ["math-8k", "math-16k", "code-24k"]
        dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert sorted(line.get_xdata()[0] for line in dashed) == [12.5, 20.5]  # between stages

    acc = eval_accuracy_figure(run)
    assert acc is not None
    math_ax, code_ax = acc.axes
    assert [t.get_text() for t in math_ax.get_xticklabels()] == ["00-sft", "01-math-rl"]
    assert math_ax.get_title() == "math benchmarks" and code_ax.get_title() == "code benchmarks"
    assert [t.get_text() for t in math_ax.get_legend().get_texts()] == ["math500 (avg@4)", "aime24 (avg@4)"]

    curves = pass_at_k_figure(run)
    assert curves is not None
    first = curves.axes[0]
    assert first.get_xscale() == "log" and first.get_title() == "math500"
    assert [list(line.get_xdata()) for line in first.lines] == [[1, 2, 4], [1, 2, 4]]


def test_empty_run_dir_says_what_is_missing(tmp_path: Path) -> None:
    run = tmp_path / "empty"
    run.mkdir()
    (run / "report_files").mkdir()
    (run / "report_files" / "eval_accuracy.png").write_bytes(b"old")  # from an earlier report
    md_path, html_path = build_report(run)
    md = md_path.read_text()
    assert "metrics.jsonl: not found" in md
    assert "No training metrics" in md and "No evaluation results" in md
    assert "summary.json: not found" in md
    assert "<img" not in html_path.read_text()
    assert not (run / "report_files" / "eval_accuracy.png").exists()
    assert sorted(p.name for p in run.iterdir()) == ["report.html", "report.md", "report_files"]  # no temp files


def test_single_step_only_nan_and_broken_eval(tmp_path: Path) -> None:
    run = tmp_path / "one"
    (run / "eval" / "00-base").mkdir(parents=True)
    (run / "eval" / "00-base" / "results.json").write_text('{"benchmarks": ')
    (run / "eval" / "01-half").mkdir()
    record = {"step": 1, "stage": "only", "reward/mean": float("nan"), "response/length_mean": 5.0,
              "response/length_max": float("inf"), "time/step": 1.5}
    (run / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    md = build_report(run)[0].read_text()
    row = md_table(md, "stage | steps")[1]
    assert row[:8] == ["0: only", "1", "1–1", "—", "—", "5", "—", "—"]
    assert row[9] == "1.5 s" and row[10:13] == ["—", "—", "—"]
    assert "eval/00-base/results.json skipped: not valid JSON" in md
    assert "eval/01-half: no results.json" in md
    assert "No evaluation results" in md
    assert md.count("![") == 1  # training curves still drawn from the one finite metric
    assert "reward/mean ×1" in md


def test_rerun_replaces_report(tmp_path: Path) -> None:
    run = make_run(tmp_path, evals=False)
    build_report(run)
    (run / "metrics.jsonl").unlink()
    md_path, _ = build_report(run)
    assert "metrics.jsonl: not found" in md_path.read_text()
    assert list((run / "report_files").iterdir()) == []


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "run directory not found" in missing.output and missing.output.count("\n") == 1
    run = make_run(tmp_path, evals=False, summary=False)
    ok = runner.invoke(app, ["report", str(run)])
    assert ok.exit_code == 0, ok.output
    assert (run / "report.md").is_file() and (run / "report.html").is_file()
    assert (run / "report_files" / "training_curves.png").is_file()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_eval_with_non_finite_accuracy(tmp_path: Path, value: float) -> None:
    run = make_run(tmp_path, metrics=False, summary=False)
    path = run / "eval" / "00-sft" / "results.json"
    doc = json.loads(path.read_text())
    doc["benchmarks"]["math500"]["avg_at_k"] = value
    doc["benchmarks"]["math500"]["ci95"] = [value, value]
    path.write_text(json.dumps(doc))
    md = build_report(run)[0].read_text()
    rows = {r[0]: r for r in md_table(md, "benchmark")[1:]}
    assert rows["math500"][4:] == ["—", "62.5 ± 2.5", "—"]
