"""Our code judge side by side with the peers' harnesses, run unchanged, on the same submissions and cores.

Peers (public repositories, run from a checkout in a side venv, never copied into the package):

* LiveCodeBench ``lcb_runner/evaluation/testing_util.py`` through its ``codegen_metrics`` (the lineage of the
  paper's checker and DeepCoder's), 2 processes;
* veRL ``verl/utils/reward_score/prime_code`` through ``compute_score(..., continuous=True)`` as veRL's
  ``default_compute_score`` calls it, in a 2-process pool.

Beside them, the no-isolation floor (benchmarks/code_peers_floor.py, ``--no-floor`` skips it): the programs run
in the workers themselves, the least any Python judge can spend, so a peer's time over the floor's is the
largest ratio any judge could reach over that peer on the same submissions.

Submissions (benchmarks/code_peers_set.py): every reference solution of ../shared/data's code sets (APPS,
SYNTHETIC verify, DeepCoder LeetCode train+test, LeetCodeDataset), one seeded constant/operator mutation of
each, and the hand-made families of benchmarks/code_peers_families.py (floats, True vs 1, many tests, loops,
huge outputs, exceptions after partial output, stdin idioms). LeetCode ``check`` tests are rewritten into
call-based tests so that all three judges see the same tests; our judge also runs the whole reference
corpus in its native form (the acceptance count).

Setup (once; PyPI is the only network needed besides the two repositories)::

    git clone https://github.com/LiveCodeBench/LiveCodeBench /tmp/peers/LiveCodeBench
    git clone https://github.com/volcengine/verl /tmp/peers/verl
    python3.11 -m venv /tmp/peers/venv && /tmp/peers/venv/bin/pip install numpy tqdm sortedcontainers
    python3.10 -m venv /tmp/peers/venv310 && /tmp/peers/venv310/bin/pip install numpy tqdm pyext sortedcontainers

(prime_code imports ``pyext``, whose setup.py needs ``inspect.getargspec``, gone in Python 3.11: veRL's
harness runs on 3.10; LiveCodeBench's on 3.11 like ours. ``sortedcontainers`` is there because LeetCode
references import ``SortedList``, which our judge offers: without it 31 references fail in the peers for the
environment's sake alone.)

Run::

    PYTHONPATH=. .venv/bin/python benchmarks/code_peers.py --lcb-repo /tmp/peers/LiveCodeBench \\
        --verl-repo /tmp/peers/verl [--write]              # full run (~15 min on 2 cores), --write: RESULTS.md
    PYTHONPATH=. .venv/bin/python benchmarks/code_peers.py --limit 5 --families references,families  # ~1 min

``--lcb-repo``/``--verl-repo`` default to $ACEREASON_LCB_REPO / $ACEREASON_VERL_REPO; the side pythons to
$ACEREASON_LCB_PYTHON / $ACEREASON_PRIME_PYTHON (or /tmp/peers/venv*/bin/python). A peer whose repo is
absent is skipped. Per-submission verdicts go to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from acereason.atomic import write_json  # noqa: E402
from acereason.verify.code import JudgePool, judge_batch  # noqa: E402
from benchmarks.code_peers_report import breakdown, report, write_section  # noqa: E402
from benchmarks.code_peers_set import build, iter_tests  # noqa: E402

SHARED = Path(os.environ.get("ACEREASON_SHARED_DATA", REPO.parent / "shared" / "data"))
RUNNER = Path(__file__).with_name("code_peers_runner.py")
FLOOR = Path(__file__).with_name("code_peers_floor.py")


def batch_of(sub: dict) -> str:
    return "families" if sub["group"].startswith("family:") else "variants" if "~mut" in sub["group"] \
        else "references"


HEAVY_S = 1.0  # a submission whose run took our judge this long is "heavy": its own CPU, not a harness's, sets its time


def heavy_ids(ours: dict[str, dict]) -> set[str]:
    """Submissions that looped (time_limit) or ran >= HEAVY_S in our judge: the same split for every judge."""
    return {i for i, v in ours.items() if v["reason"] == "time_limit" or v["wall_s"] >= HEAVY_S}


def run_ours(subs: list[dict], pool: JudgePool, native: bool = False,
             batch: Callable[[dict], str] | None = None) -> tuple[dict[str, dict], dict[str, float]]:
    """Our verdicts (accepted, reason, detail, wall) per id and seconds per batch."""
    out: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    batches: dict[str, list[dict]] = {}
    for s in subs:
        batches.setdefault("native" if native else (batch or batch_of)(s), []).append(s)
    for name, items in batches.items():
        jobs = [{"code": s["code"], "fn_name": s["fn_name"],
                 "tests": s["native"] if native and s["native"] else list(iter_tests(s))} for s in items]
        t0 = time.perf_counter()
        verdicts = judge_batch(jobs, pool=pool)
        seconds[name] = time.perf_counter() - t0
        for s, v in zip(items, verdicts, strict=True):
            out[s["id"]] = {"accepted": v.correct, "reason": v.reason, "detail": (v.detail or "")[:300],
                            "wall_s": v.wall_s, "tests": v.tests_total}
        print(f"ours {name}: {len(items)} in {seconds[name]:.1f} s", flush=True)
    return out, seconds


def _write_subs(path: Path, subs: list[dict], heavy: set[str] | frozenset[str]) -> None:
    """The submissions as a harness runner reads them, each batch split into its quick and heavy part."""
    path.write_text(json.dumps([{k: s[k] for k in ("id", "code", "fn_name", "inputs", "outputs")}
                                | {"batch": batch_of(s) + ("/heavy" if s["id"] in heavy else "/quick")}
                                for s in subs]))


def _run_harness(label: str, cmd: list[str], subs: list[dict], heavy: set[str] | frozenset[str],
                 env: dict[str, str] | None = None) -> dict:
    """Run a harness runner (``cmd`` + SUBS OUT --workers N) in its own interpreter; its JSON result."""
    with tempfile.TemporaryDirectory(prefix=f"peer-{label}-") as tmp:
        src, dst = Path(tmp, "subs.json"), Path(tmp, "out.json")
        _write_subs(src, subs, heavy)
        proc = subprocess.run([*cmd, str(src), str(dst)], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        sys.stderr.write("".join(ln + "\n" for ln in proc.stderr.splitlines() if ln.startswith(label)))
        if proc.returncode != 0 or not dst.exists():
            raise SystemExit(f"{label} harness failed (rc {proc.returncode}): {proc.stderr[-2000:]}")
        return json.loads(dst.read_text())


def run_peer(peer: str, python: str, repo: Path, subs: list[dict], workers: int,
             heavy: set[str] | frozenset[str] = frozenset()) -> dict:
    """Run a peer harness in its own interpreter (side venv) on ``subs``; its verdicts and batch seconds
    (each batch timed in two parts: the quick submissions and the ``heavy`` ones)."""
    result = _run_harness(peer, [python, str(RUNNER), peer, str(repo), "--workers", str(workers)], subs, heavy)
    commit = repo / "COMMIT"
    result["commit"] = commit.read_text().strip() if commit.exists() else _git_head(repo)
    return result


def run_floor(subs: list[dict], workers: int, heavy: set[str] | frozenset[str] = frozenset()) -> dict:
    """The no-isolation floor (benchmarks/code_peers_floor.py) on ``subs``, timed like a peer."""
    return _run_harness("floor", [sys.executable, str(FLOOR), "--workers", str(workers)], subs, heavy,
                        env=dict(os.environ, PYTHONPATH=str(REPO)))


def _git_head(path: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def judge_source() -> str:
    """The measured judge's commit: this checkout's HEAD, ``+dirty`` when acereason/verify/code has uncommitted
    edits (the sandbox workers import the installed package, so the working tree is what runs)."""
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "acereason/verify/code"],
                           capture_output=True, text=True).stdout.strip()
    return _git_head(REPO) + ("+dirty" if dirty else "")


def _peer_args(args: argparse.Namespace) -> dict[str, tuple[str, Path]]:
    peers = {}
    for peer, repo, py in (("lcb", args.lcb_repo, args.lcb_python), ("prime", args.verl_repo, args.prime_python)):
        if repo and Path(repo).is_dir() and Path(py).exists():
            peers[peer] = (py, Path(repo))
        else:
            print(f"skipping {peer}: repo {repo!r} or python {py!r} missing", flush=True)
    return peers


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--lcb-repo", default=os.environ.get("ACEREASON_LCB_REPO", "/tmp/peers/LiveCodeBench"))
    ap.add_argument("--verl-repo", default=os.environ.get("ACEREASON_VERL_REPO", "/tmp/peers/verl"))
    ap.add_argument("--lcb-python", default=os.environ.get("ACEREASON_LCB_PYTHON", "/tmp/peers/venv/bin/python"))
    ap.add_argument("--prime-python",
                    default=os.environ.get("ACEREASON_PRIME_PYTHON", "/tmp/peers/venv310/bin/python"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="references per group (seeded sample)")
    ap.add_argument("--families", default=None,
                    help="comma list: references, variants, families, a group (apps, ...) or a family (family:idiom)")
    ap.add_argument("--no-peers", action="store_true", help="run only our side")
    ap.add_argument("--no-floor", action="store_true", help="skip the no-isolation floor")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "code_peers.json")
    ap.add_argument("--resume", action="store_true", help="reuse the stages an earlier run with this --out kept")
    ap.add_argument("--write", action="store_true", help="replace our section of benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    groups = set(args.families.split(",")) if args.families else None
    corpus, subs, check_only = build(args.shared, args.seed, args.limit, groups)
    print(f"reference corpus {len(corpus)}; peer set {len(subs)} (check-only references {check_only})", flush=True)
    parts = args.out.with_suffix(".parts")  # each finished stage is kept, so --resume survives a killed run
    parts.mkdir(parents=True, exist_ok=True)

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        path = parts / f"{name}.json"
        if args.resume and path.exists():
            print(f"{name}: reused {path}", flush=True)
            return json.loads(path.read_text())
        value = fn()
        write_json(path, value)
        return value

    with JudgePool(args.workers) as pool:
        native, native_s = stage("native", lambda: run_ours(corpus, pool, native=True) if corpus else ({}, {}))
        ours, ours_s = stage("ours", lambda: run_ours(subs, pool))
        heavy = heavy_ids(ours)
        # The quick part again, alone: its seconds against the peers' on the same submissions.
        _, quick_s = stage("ours_quick", lambda: run_ours([s for s in subs if s["id"] not in heavy], pool,
                                                          batch=lambda s: batch_of(s) + "/quick"))
        judged_at = stage("judge_commit", lambda: f"{judge_source()} at {time.strftime('%H:%M UTC', time.gmtime())}")
        split = stage("breakdown", lambda: breakdown(pool, subs, ours))
    peers = {} if args.no_peers else {
        p: stage(p, lambda p=p, py=py, repo=repo: run_peer(p, py, repo, subs, args.workers, heavy))
        for p, (py, repo) in _peer_args(args).items()}
    floor = None if args.no_floor else stage("floor", lambda: run_floor(subs, args.workers, heavy))
    env = {"machine": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
           "workers": args.workers, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": judged_at, "load": os.getloadavg()[0], "argv": argv if argv is not None else sys.argv[1:]}
    result = {"env": env, "check_only": check_only, "native": native, "native_seconds": native_s, "ours": ours,
              "ours_seconds": ours_s, "ours_quick_seconds": quick_s, "heavy": sorted(heavy), "breakdown": split,
              "peers": peers, "floor": floor,
              "subs": {s["id"]: {k: s.get(k) for k in ("group", "intended", "why", "mutation", "fn_name")}
                       | {"tests": len(s["inputs"])} for s in subs}}
    text = report(result, corpus)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    if args.write:
        write_section(text)
    return result


if __name__ == "__main__":
    main()
