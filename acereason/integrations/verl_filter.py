"""``acereason export verl-filter``: the stage-entry prompt filters between veRL runs.

veRL trains on a fixed parquet, so the recipe's filters that depend on the policy run between runs, with
our evaluator (:func:`acereason.eval.runner.evaluate`: same prompts, same verifiers, resumable samples):
each candidate problem is sampled ``samples`` times with the entering policy (the previous run's merged
``hf/`` model) and kept when its pass rate lies in ``[min_pass_rate, max_pass_rate]`` — the paper's
``<= 6/16`` at the 24K/32K math stages, "not solved every time" for epoch-wise removal of solved problems.
The spec comes from the run's entry in ``stage.json`` (written by ``acereason export verl``).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from acereason.integrations.verl import problem_from_row
from acereason.integrations.verl_export import write_rows


def pass_rates(samples_path: Path) -> dict[str, float]:
    """Per problem id: the fraction of its evaluation samples that verified."""
    from acereason.eval.runner import read_samples

    got: dict[str, list[bool]] = defaultdict(list)
    for rec in read_samples(samples_path):
        got[rec.problem_id].append(rec.correct)
    return {pid: sum(v) / len(v) for pid, v in got.items()}


def keep_rows(rows: list[dict[str, Any]], rates: dict[str, float], lo: float, hi: float) -> list[dict[str, Any]]:
    """Rows whose problem's pass rate lies in [lo, hi], re-indexed; a problem without samples is an error."""
    kept = []
    for row in rows:
        pid = str(row["extra_info"]["problem_id"])
        if pid not in rates:
            raise ValueError(f"no samples for problem {pid!r}")
        if lo <= rates[pid] <= hi:
            kept.append({**row, "extra_info": {**row["extra_info"], "index": len(kept)}})
    return kept


def filter_run(stage_dir: Path, run_dir: Path, generator: Any, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Apply the run's filter: sample, verify, write ``RUN/train.parquet`` and ``RUN/filter_report.json``."""
    from acereason.eval.benchmarks import Benchmark
    from acereason.eval.runner import EvalSettings, evaluate

    info = json.loads((stage_dir / "stage.json").read_text(encoding="utf-8"))
    run = next((r for r in info["runs"] if Path(r["dir"]).resolve() == run_dir.resolve()), None)
    if run is None or not run.get("filter"):
        raise ValueError(f"{stage_dir / 'stage.json'} has no filter for run {run_dir}")
    spec = run["filter"]
    src, dst = Path(spec["input"]), Path(spec["output"])
    if src.name == "candidates.parquet" and not src.exists():
        # first filter of a stage: the exported train.parquet holds the candidates
        os.replace(dst, src)
    rows = pq.read_table(src).to_pylist()
    problems = [problem_from_row(r) for r in rows]
    settings = EvalSettings(temperature=spec["temperature"], top_p=spec["top_p"], max_tokens=spec["max_tokens"],
                            k=spec["samples"], seed=seed, math_instruction=info["math_instruction"],
                            code_instruction=info["code_instruction"], system_prompt=info["system_prompt"])
    bench = Benchmark(name=f"filter-{run_dir.name}", domain=info["domain"], description="stage-entry filter",
                      candidates=(), k=spec["samples"])
    work = run_dir / "filter"
    evaluate(generator, [(bench, problems)], work, settings, label=bench.name, progress=progress)
    rates = pass_rates(work / "samples.jsonl")
    kept = keep_rows(rows, rates, spec["min_pass_rate"], spec["max_pass_rate"])
    if not kept:
        raise ValueError(f"the filter kept no problem of {len(rows)} (pass rates outside "
                         f"[{spec['min_pass_rate']}, {spec['max_pass_rate']}])")
    write_rows(kept, dst)
    report = {"input": str(src), "output": str(dst), "spec": spec, "candidates": len(rows), "kept": len(kept),
              "dropped_above_max": sum(r > spec["max_pass_rate"] for r in rates.values()),
              "dropped_below_min": sum(r < spec["min_pass_rate"] for r in rates.values()),
              "mean_pass_rate": sum(rates.values()) / max(len(rates), 1)}
    tmp = run_dir / ".filter_report.json.tmp"
    tmp.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / "filter_report.json")
    return report
