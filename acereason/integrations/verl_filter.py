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

from acereason.atomic import write_json
from acereason.cli_util import OptionError
from acereason.integrations.verl import problem_from_row
from acereason.integrations.verl_export import write_rows
from acereason.schema import DataError


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
            raise DataError(None, None, f"the filter's samples hold no sample of problem {pid!r}")
        if lo <= rates[pid] <= hi:
            kept.append({**row, "extra_info": {**row["extra_info"], "index": len(kept)}})
    return kept


def run_filter_spec(stage_dir: Path, run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stage's ``stage.json`` and the entry of run ``run_dir``; raise a one-line error when the
    directory is not an exported stage or the run has no filter."""
    path = Path(stage_dir) / "stage.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, None, "no such file: not a stage directory of `acereason export verl`") from None
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(path, None, f"cannot read: {err}") from None
    run = next((r for r in info.get("runs", []) if Path(r["dir"]).resolve() == Path(run_dir).resolve()), None)
    if run is None or not run.get("filter"):
        raise OptionError("--run", f"{path} has no filter for run {run_dir}")
    return info, run


def filter_run(stage_dir: Path, run_dir: Path, generator: Any, seed: int = 0, progress: bool = True,
               model_id: dict[str, str] | None = None, fresh: bool = False) -> dict[str, Any]:
    """Apply the run's filter: sample, verify, write ``RUN/train.parquet`` and ``RUN/filter_report.json``.

    ``model_id`` (:func:`acereason.eval.fingerprint.model_identity`) binds the filter's samples to the
    entering policy, so a rerun with another policy never reuses the first one's pass rates (``fresh``
    discards them instead of refusing)."""
    from acereason.eval.benchmarks import Benchmark
    from acereason.eval.runner import EvalSettings, evaluate

    info, run = run_filter_spec(stage_dir, run_dir)
    spec = run["filter"]
    src, dst = Path(spec["input"]), Path(spec["output"])
    if src.name == "candidates.parquet" and not src.exists() and dst.exists():
        # first filter of a stage: the exported train.parquet holds the candidates
        os.replace(dst, src)
    if not src.exists():
        raise DataError(src, None, "no such file: the candidates are written by the export (without "
                                   "--no-check-files) or by the previous epoch's filter")
    rows = pq.read_table(src).to_pylist()
    problems = [problem_from_row(r) for r in rows]
    settings = EvalSettings(temperature=spec["temperature"], top_p=spec["top_p"], max_tokens=spec["max_tokens"],
                            k=spec["samples"], seed=seed, math_instruction=info["math_instruction"],
                            code_instruction=info["code_instruction"], system_prompt=info["system_prompt"])
    bench = Benchmark(name=f"filter-{run_dir.name}", domain=info["domain"], description="stage-entry filter",
                      candidates=(), k=spec["samples"])
    work = run_dir / "filter"
    evaluate(generator, [(bench, problems)], work, settings, label=bench.name, progress=progress, model_id=model_id,
             fresh=fresh)
    ids = {p.id for p in problems}
    rates = {pid: r for pid, r in pass_rates(work / "samples.jsonl").items() if pid in ids}
    kept = keep_rows(rows, rates, spec["min_pass_rate"], spec["max_pass_rate"])
    if not kept:
        raise DataError(src, None, f"the filter kept no problem of {len(rows)} (pass rates outside "
                         f"[{spec['min_pass_rate']}, {spec['max_pass_rate']}])")
    write_rows(kept, dst)
    report = {"input": str(src), "output": str(dst), "spec": spec, "candidates": len(rows), "kept": len(kept),
              "dropped_above_max": sum(r > spec["max_pass_rate"] for r in rates.values()),
              "dropped_below_min": sum(r < spec["min_pass_rate"] for r in rates.values()),
              "mean_pass_rate": sum(rates.values()) / max(len(rates), 1)}
    write_json(run_dir / "filter_report.json", report, indent=1)
    return report
