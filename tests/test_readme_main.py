"""The README's main command as the README writes it: ``acereason demo`` with its default, relative
``--out runs/demo``, run from the root of a fresh copy of the repository (``--fast`` sizes).

A fresh copy, not this checkout: an earlier ``runs/demo`` here would be resumed instead of run, and the
bug this guards against (a relative run directory joined twice, ``runs/demo/runs/demo/sft``) only shows
with the default relative path. The copy holds the working tree's tracked and untracked-but-not-ignored
files, so it tests the code as it is now; ``python -m acereason`` imports the copy (the current directory
comes first on ``sys.path``). Also checks what the demo writes and that a rerun resumes.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _copy_repo(dst: Path) -> None:
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():  # a tracked file deleted in the working tree is not part of it
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)


def test_demo_fast_from_a_fresh_copy_with_the_default_out(tmp_path: Path) -> None:
    root = tmp_path / "acereason"
    _copy_repo(root)
    cmd = [sys.executable, "-m", "acereason", "demo", "--fast"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=root)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "held-out accuracy" in res.stdout and "run directory: runs/demo" in res.stdout
    out = root / "runs" / "demo"
    for f in ("summary.json", "report.md", "report.html", "metrics.jsonl", "phases.json", "recipe.json",
              "sft/config.json", "stages/00-math-short/config.json", "stages/02-code/config.json",
              "eval/02-code-rl/results.json"):
        assert (out / f).exists(), f
    assert not (out / "runs").exists()
    assert json.loads((out / "recipe.json").read_text())["base_dir"] == str(out.resolve())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for rec in records:
        assert all(math.isfinite(v) for v in rec.values() if isinstance(v, float)), rec
    assert {r["stage"] for r in records} == {"math-short", "math-long", "code"}
    summary = json.loads((out / "summary.json").read_text())
    assert [r["checkpoint"] for r in summary["table"]] == ["00-sft", "01-math-rl", "02-code-rl"]
    assert any("cross-domain" in n or "Math RL" in n for n in summary["notes"])
    # a rerun resumes: every phase is skipped and the numbers are unchanged
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=root)
    assert again.returncode == 0 and "[rl] done earlier, skipping" in again.stdout, again.stderr[-2000:]
    assert json.loads((out / "summary.json").read_text())["table"] == summary["table"]
