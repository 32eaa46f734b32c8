"""scripts/gpu_check.py runs on CPU with tiny shapes and reports what the GPU run will report, for our trainer
and (when trl imports) for TRL's GRPOTrainer on the same workload."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "g.json"
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--tiny", "--device", "cpu",
                          "--rows", "4", "--group", "2", "--sampler", "static", "--out", str(out), *extra],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report == json.loads(res.stdout)
    return report


def test_gpu_check_tiny_on_cpu(tmp_path: Path) -> None:
    report = _run(tmp_path, "--no-trl")
    assert report["sampler"] == "StaticCacheGenerator" and report["params"] > 0
    assert [s["step"] for s in report["steps"]] == [1, 2]
    for s in report["steps"]:
        assert s["sampled_tokens"] > 0 and s["update_tokens"] == 4 * (s["update_tokens"] // 4)
        assert s["update_tokens"] > 4 * report["response_tokens"]  # prompt + the full response length
        assert s["sample_tokens_per_s"] > 0 and s["update_tokens_per_s"] > 0 and 0 < s["mfu"] < 1
    assert report["peak_rss_gib"] > 0 and 0 < report["plan_update_gib"] < report["peak_rss_gib"]
    assert "trl" not in report and "ours_matched" not in report and "ours_over_trl" not in report


@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="trl is not installed")
def test_gpu_check_tiny_with_trl_on_the_same_workload(tmp_path: Path) -> None:
    report = _run(tmp_path, "--trl")
    trl, matched = report["trl"], report["ours_matched"]
    assert trl["trl"] and trl["completion_tokens"] == report["sample_tokens"] == 16
    assert [s["step"] for s in trl["steps"]] == [s["step"] for s in matched] == [1, 2]
    for t, o in zip(trl["steps"], matched, strict=True):
        # TRL samples exactly sample_tokens per completion (EOS held off), so both updates see the same tokens
        assert t["sampled_tokens"] == 4 * report["sample_tokens"]
        assert t["update_tokens"] == o["update_tokens"] == 4 * (trl["prompt_tokens"] + report["sample_tokens"])
        assert t["step_s"] >= t["sample_s"] > 0 and t["update_s"] > 0 and 0 < t["mfu"] < 1
        assert o["step_s"] >= o["update_s"] > 0 and o["peak_gib"] > 0
    # our 48-token update is the headline; the matched one is shorter
    assert all(o["update_tokens"] < s["update_tokens"] for o, s in zip(matched, report["steps"], strict=True))
    assert trl["peak_rss_gib"] >= report["peak_rss_gib"] > 0  # RSS is the process's peak so far: TRL ran second
    last_t, last_o = trl["steps"][-1], matched[-1]
    ratio = report["ours_over_trl"]
    assert ratio["update_tokens_per_s"] == pytest.approx(last_o["update_tokens_per_s"] / last_t["update_tokens_per_s"])
    assert ratio["sample_tokens_per_s"] == pytest.approx(last_o["sample_tokens_per_s"] / last_t["sample_tokens_per_s"])
    assert ratio["step_s"] == pytest.approx(last_o["step_s"] / last_t["step_s"]) and ratio["peak_memory"] > 0
