"""Read a run directory's inputs for the report: ``metrics.jsonl``, ``eval/<label>/results.json`` and
``summary.json``. Every reader is lenient: a missing or damaged file becomes a note in the report, never
an exception, because a report on a killed or half-finished run is exactly when people need one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Stage:
    """A contiguous run of training steps with the same stage; ``start``/``stop`` index ``RunData.steps``."""

    name: str
    index: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass
class BenchmarkResult:
    """One benchmark at one evaluation point (see docs/report.md for the file format)."""

    name: str
    domain: str
    n_problems: int | None
    k: int | None
    avg_at_k: float
    se: float
    ci95: tuple[float, float] | None
    pass_at_k: dict[int, float]
    by_difficulty: dict[str, tuple[int | None, float]]
    by_month: dict[str, tuple[int | None, float]]
    truncated_frac: float
    mean_response_tokens: float


@dataclass
class EvalPoint:
    """One ``eval/<label>/results.json``: a model evaluated at one point of the pipeline."""

    label: str
    model: str
    created: str
    settings: dict[str, Any]
    benchmarks: dict[str, BenchmarkResult]


@dataclass
class RunData:
    """Everything the report shows about one run directory, plus notes on what was missing or damaged."""

    run_dir: Path
    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    metrics_found: bool = False
    metrics_skipped: int = 0
    evals: list[EvalPoint] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def to_float(value: Any) -> float:
    """``value`` as a float; NaN for anything that is not a number (None, strings, bools, dicts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def load_metrics(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Step records of ``metrics.jsonl`` sorted by global ``step``, and the number of lines skipped.

    Undecodable lines (a line cut by ``kill -9``) and non-object lines are skipped and counted. When a
    step appears twice (a resume that did not truncate), the later line wins: it is the recomputed one.
    Records without a ``step`` get their line position so a hand-written file still plots.
    """
    by_step: dict[float, dict[str, Any]] = {}
    skipped = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for position, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if not isinstance(record, dict):
                skipped += 1
                continue
            step = to_float(record.get("step"))
            if not math.isfinite(step):
                step = float(position)
                record["step"] = position
            by_step[step] = record
    return [by_step[s] for s in sorted(by_step)], skipped


def split_stages(steps: list[dict[str, Any]]) -> list[Stage]:
    """Contiguous runs of steps that share ``(stage_index, stage)``; a file without stage keys is one stage."""
    stages: list[Stage] = []
    for i, record in enumerate(steps):
        name = str(record.get("stage", "train"))
        index = _to_int(record.get("stage_index"))
        if index is None:  # no stage_index written: a new name starts a new stage
            index = stages[-1].index if stages and stages[-1].name == name else len(stages)
        if stages and stages[-1].name == name and stages[-1].index == index:
            stages[-1].stop = i + 1
        else:
            stages.append(Stage(name=name, index=index, start=i, stop=i + 1))
    return stages


def _buckets(raw: Any) -> dict[str, tuple[int | None, float]]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, tuple[int | None, float]] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and "avg_at_k" in value:
            out[str(key)] = (_to_int(value.get("n")), to_float(value.get("avg_at_k")))
    return out


def _benchmark(name: str, raw: dict[str, Any]) -> BenchmarkResult:
    ci = raw.get("ci95")
    ci95 = None
    if isinstance(ci, list | tuple) and len(ci) == 2:
        lo, hi = to_float(ci[0]), to_float(ci[1])
        if math.isfinite(lo) and math.isfinite(hi):
            ci95 = (lo, hi)
    pass_at_k: dict[int, float] = {}
    if isinstance(raw.get("pass_at_k"), dict):
        for key, value in raw["pass_at_k"].items():
            try:
                k = int(key)
            except (TypeError, ValueError):
                continue
            if k >= 1:
                pass_at_k[k] = to_float(value)
    return BenchmarkResult(
        name=name,
        domain=str(raw.get("domain") or "other"),
        n_problems=_to_int(raw.get("n_problems")),
        k=_to_int(raw.get("k")),
        avg_at_k=to_float(raw.get("avg_at_k")),
        se=to_float(raw.get("se")),
        ci95=ci95,
        pass_at_k=dict(sorted(pass_at_k.items())),
        by_difficulty=_buckets(raw.get("by_difficulty")),
        by_month=_buckets(raw.get("by_month")),
        truncated_frac=to_float(raw.get("truncated_frac")),
        mean_response_tokens=to_float(raw.get("mean_response_tokens")),
    )


def load_eval_point(path: Path) -> EvalPoint:
    """Parse one ``results.json``; raises ``ValueError`` with a reason when it is not usable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), dict):
        raise ValueError("no 'benchmarks' object")
    benchmarks = {
        str(name): _benchmark(str(name), value)
        for name, value in raw["benchmarks"].items()
        if isinstance(value, dict)
    }
    settings = raw.get("settings") if isinstance(raw.get("settings"), dict) else {}
    return EvalPoint(
        label=str(raw.get("label") or path.parent.name),
        model=str(raw.get("model") or ""),
        created=str(raw.get("created") or ""),
        settings=settings,
        benchmarks=benchmarks,
    )


def load_run(run_dir: Path) -> RunData:
    """Everything in ``run_dir`` the report can use; what is missing or damaged is recorded in ``notes``."""
    run = RunData(run_dir=run_dir, name=run_dir.resolve().name)
    try:
        recipe = json.loads((run_dir / "recipe.json").read_text(encoding="utf-8"))
        if isinstance(recipe, dict) and isinstance(recipe.get("name"), str):
            run.name = recipe["name"]
    except (OSError, json.JSONDecodeError):
        pass  # the directory name is a fine title

    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        run.metrics_found = True
        run.steps, run.metrics_skipped = load_metrics(metrics_path)
        run.stages = split_stages(run.steps)
        if run.metrics_skipped:
            run.notes.append(f"metrics.jsonl: skipped {run.metrics_skipped} undecodable line(s) "
                             "(a run killed mid-write leaves one).")

    eval_dir = run_dir / "eval"
    if eval_dir.is_dir():
        # Labels are named to sort in pipeline order (00-sft, 01-math-rl, ...), so plain sorting is the order.
        for label_dir in sorted(p for p in eval_dir.iterdir() if p.is_dir()):
            results = label_dir / "results.json"
            if not results.is_file():
                run.notes.append(f"eval/{label_dir.name}: no results.json (evaluation unfinished?).")
                continue
            try:
                point = load_eval_point(results)
            except (OSError, ValueError) as err:
                run.notes.append(f"eval/{label_dir.name}/results.json skipped: {err}.")
                continue
            point.label = label_dir.name  # the directory name fixes the order, so it is the label shown
            run.evals.append(point)

    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            run.notes.append(f"summary.json skipped: {err}.")
        else:
            if isinstance(summary, dict):
                run.summary = summary
            else:
                run.notes.append("summary.json skipped: not a JSON object.")
    return run
