"""scripts/gpu_check.py runs on CPU with tiny shapes and reports what the GPU run will report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--tiny", "--device", "cpu",
                          "--rows", "4", "--group", "2", "--sampler", "static", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report == json.loads(res.stdout)
    assert report["sampler"] == "StaticCacheGenerator" and report["params"] > 0
    assert [s["step"] for s in report["steps"]] == [1, 2]
    for s in report["steps"]:
        assert s["sampled_tokens"] > 0 and s["update_tokens"] == 4 * (s["update_tokens"] // 4)
        assert s["sample_tokens_per_s"] > 0 and s["update_tokens_per_s"] > 0 and 0 < s["mfu"] < 1
    assert report["peak_rss_gib"] > 0
