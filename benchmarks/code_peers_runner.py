"""Run one peer harness, unchanged, on a submission file; run by a side venv's python, not ours.

``python code_peers_runner.py {lcb,prime} REPO SUBS.json OUT.json [--workers 2]``

* ``lcb``: LiveCodeBench's ``lcb_runner.evaluation.codegen_metrics`` (REPO = a LiveCodeBench checkout), called
  as its own runner calls it (one generation per sample, ``num_process_evaluate=workers``, ``timeout=6``);
  accepted = every entry of the result is ``True``.
* ``prime``: veRL's ``verl/utils/reward_score/prime_code`` (REPO = a veRL checkout; the package is imported
  from ``REPO/verl/utils/reward_score`` so that veRL's heavy ``__init__`` is not needed), called as veRL's
  ``default_compute_score`` calls it (``compute_score(code, tests, continuous=True)``) in a process pool of
  ``workers``; accepted = score 1.0 (veRL's reward).

Writes ``{"verdicts": {id: bool}, "seconds": {batch: s}, "commit": ...}``; submissions are timed per batch
(the ``batch`` field) so that one run yields per-family throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor


def _lcb(subs: list[dict], workers: int) -> dict[str, bool]:
    from lcb_runner.evaluation.compute_code_generation_metrics import codegen_metrics

    samples = [{"input_output": json.dumps({"inputs": s["inputs"], "outputs": s["outputs"],
                                            "fn_name": s["fn_name"]})} for s in subs]
    # stdout/stderr stay real files: the harness calls faulthandler.enable(), which needs a file descriptor
    _, results, _ = codegen_metrics(samples, [[s["code"]] for s in subs], k_list=[1],
                                    num_process_evaluate=workers, timeout=6)
    return {s["id"]: all(r is True for r in results[i][0]) for i, s in enumerate(subs)}


def _prime_one(sub: dict) -> bool:
    import prime_code

    tests = {"inputs": sub["inputs"], "outputs": sub["outputs"]}
    if sub["fn_name"]:
        tests["fn_name"] = sub["fn_name"]
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        try:
            score, _ = prime_code.compute_score(sub["code"], json.dumps(tests), continuous=True)
        except Exception:
            return False
    return float(score) == 1.0


def _prime(subs: list[dict], workers: int) -> dict[str, bool]:
    with ProcessPoolExecutor(workers) as ex:
        return {s["id"]: ok for s, ok in zip(subs, ex.map(_prime_one, subs, chunksize=1), strict=True)}


def time_batches(subs: list[dict], run: Callable[[list[dict]], dict[str, bool]], label: str) -> dict:
    """``{"verdicts": {id: bool}, "seconds": {batch: s}}``: ``run`` on each batch (the ``batch`` field) in turn,
    timed alone; also the harness runner of benchmarks/code_peers_floor.py."""
    batches: dict[str, list[dict]] = {}
    for s in subs:
        batches.setdefault(s["batch"], []).append(s)
    verdicts: dict[str, bool] = {}
    seconds: dict[str, float] = {}
    for name, items in batches.items():
        t0 = time.perf_counter()
        verdicts.update(run(items))
        seconds[name] = time.perf_counter() - t0
        print(f"{label} {name}: {len(items)} in {seconds[name]:.1f} s", file=sys.stderr, flush=True)
    return {"verdicts": verdicts, "seconds": seconds}


def write_result(path: str, result: dict) -> None:
    """Write the runner's JSON through a temporary file, so a killed run leaves no half-written result."""
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("peer", choices=["lcb", "prime"])
    ap.add_argument("repo")
    ap.add_argument("subs")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    repo = os.path.abspath(args.repo)
    sys.path.insert(0, repo if args.peer == "lcb" else os.path.join(repo, "verl", "utils", "reward_score"))
    run = _lcb if args.peer == "lcb" else _prime
    with open(args.subs) as fh:
        subs = json.load(fh)
    result = time_batches(subs, lambda items: run(items, args.workers), args.peer)
    write_result(args.out, result | {"python": sys.version.split()[0]})

if __name__ == "__main__":
    main()
