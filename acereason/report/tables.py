"""The report's tables: per-stage training summary, evaluation points, accuracy, pass@k, breakdowns, summary.json.

Cells are formatted strings; a metric with no finite value is shown as "—" and never breaks a row.
Accuracies are percentages with one decimal, as papers print them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from acereason.report.document import Table
from acereason.report.load import BenchmarkResult, EvalPoint, RunData, Stage, to_float

MISSING = "—"


def fmt_num(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits (integers in full); "—" when it is NaN or infinite."""
    if not math.isfinite(x):
        return MISSING
    if x == int(x) and abs(x) < 1e15:  # counts, steps, token maxima: no spurious ".00"
        return f"{int(x):,}"
    if abs(x) >= 10 ** (digits + 3) or abs(x) < 10 ** -(digits + 1):
        return f"{x:.{digits}g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def fmt_pct(x: float, decimals: int = 1) -> str:
    """A fraction as a percentage (0.71 -> "71.0"); "—" when not finite."""
    return f"{100 * x:.{decimals}f}" if math.isfinite(x) else MISSING


def fmt_duration(seconds: float) -> str:
    """Seconds as "12.3 s", "4.5 min" or "1.23 h"; "—" when not finite."""
    if not math.isfinite(seconds):
        return MISSING
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def finite(values: Iterable[float]) -> list[float]:
    """The finite values of ``values``."""
    return [v for v in values if math.isfinite(v)]


def _mean(values: Iterable[float]) -> float:
    kept = finite(values)
    return sum(kept) / len(kept) if kept else math.nan


def _column(run: RunData, stage: Stage | None, key: str) -> list[float]:
    steps = run.steps if stage is None else run.steps[stage.start:stage.stop]
    return [to_float(s.get(key)) for s in steps]


def edge_window(n_steps: int) -> int:
    """How many steps "first" and "last" reward average over: 10% of the stage, 1 to 50 steps."""
    return max(1, min(50, n_steps // 10))


def _stage_row(run: RunData, stage: Stage | None, name: str) -> list[str]:
    steps = run.steps if stage is None else run.steps[stage.start:stage.stop]
    col = lambda key: _column(run, stage, key)  # noqa: E731 - a local shorthand keeps the row readable
    w = edge_window(len(steps))
    reward = col("reward/mean")
    first_step, last_step = to_float(steps[0].get("step")), to_float(steps[-1].get("step"))
    times = {part: sum(finite(col(f"time/{part}"))) for part in ("generate", "verify", "train")}
    total = sum(finite(col("time/step"))) or sum(times.values())
    split = [fmt_pct(t / total, 0) + "%" if total > 0 and finite(col(f"time/{p}")) else MISSING
             for p, t in times.items()]
    max_len = finite(col("response/length_max"))
    return [
        name,
        str(len(steps)),
        f"{fmt_num(first_step)}–{fmt_num(last_step)}",
        fmt_num(_mean(reward[:w])),
        fmt_num(_mean(reward[-w:])),
        fmt_num(_mean(col("response/length_mean"))),
        fmt_num(max(max_len)) if max_len else MISSING,
        fmt_num(_mean(col("response/truncation_ratio"))),
        fmt_num(_mean(col("groups/zero_variance_frac"))),
        fmt_duration(total) if total > 0 else MISSING,
        *split,
        fmt_num(_mean(col("perf/tokens_per_s"))),
    ]


def stage_summary_table(run: RunData) -> Table | None:
    """One row per stage (and a total row when there are several); None without training steps."""
    if not run.steps:
        return None
    rows = [_stage_row(run, stage, f"{stage.index}: {stage.name}") for stage in run.stages]
    if len(run.stages) > 1:
        rows.append(_stage_row(run, None, "all stages"))
    columns = ["stage", "steps", "global steps", "reward first", "reward last", "mean length", "max length",
               "truncation", "zero-var groups", "time", "generate", "verify", "train", "tokens/s"]
    return Table(
        columns=columns,
        rows=rows,
        caption="reward first/last: mean reward over the first/last 10% of the stage's steps (1 to 50 steps); "
                "mean length, truncation and zero-variance groups: means over steps; time: sum of time/step, "
                "split into generate/verify/train shares; tokens/s: mean of perf/tokens_per_s. "
                "Non-finite values are left out of every mean.",
        numeric=[False, *[True] * (len(columns) - 1)],
    )


def eval_points_table(evals: list[EvalPoint]) -> Table | None:
    """Which model each evaluation point measured, and its sampling settings."""
    if not evals:
        return None
    keys = ["k", "temperature", "top_p", "max_tokens", "backend"]
    rows = [[p.label, p.model or MISSING, *(_cell(p.settings.get(k)) for k in keys), p.created or MISSING]
            for p in evals]
    return Table(columns=["label", "model", *keys, "created"], rows=rows,
                 numeric=[False, False, True, True, True, True, False, False])


def _halfwidth(bench: BenchmarkResult) -> float:
    # Bootstrap intervals can be asymmetric; half their width is the honest one-number summary.
    if bench.ci95 is not None:
        return (bench.ci95[1] - bench.ci95[0]) / 2
    return 1.96 * bench.se  # normal approximation when only the standard error was written


def _benchmark_names(evals: list[EvalPoint]) -> list[str]:
    order = {"math": 0, "code": 1}
    seen: dict[str, str] = {}
    for point in evals:
        for name, bench in point.benchmarks.items():
            seen.setdefault(name, bench.domain)
    return [name for name, _ in sorted(seen.items(), key=lambda item: order.get(item[1], 2))]


def accuracy_table(evals: list[EvalPoint]) -> Table | None:
    """Benchmark x evaluation point: avg@k ± half the 95% CI (percent), and the change from first to last."""
    names = _benchmark_names(evals)
    if not names:
        return None
    labels = [p.label for p in evals]
    rows = []
    for name in names:
        present = [p.benchmarks[name] for p in evals if name in p.benchmarks]
        ks = {b.k for b in present}
        cells = []
        for point in evals:
            bench = point.benchmarks.get(name)
            if bench is None or not math.isfinite(bench.avg_at_k):
                cells.append(MISSING)
                continue
            cell = fmt_pct(bench.avg_at_k)
            if math.isfinite(_halfwidth(bench)):
                cell += f" ± {fmt_pct(_halfwidth(bench))}"
            if len(ks) > 1:  # k differs across points: say which, or the numbers are not comparable
                cell += f" (@{bench.k})"
            cells.append(cell)
        row = [name, present[0].domain, _cell(max((b.n_problems or 0) for b in present) or None),
               ("avg@" + str(next(iter(ks)))) if len(ks) == 1 and None not in ks else "avg@k", *cells]
        if len(evals) > 1:
            scored = [b.avg_at_k for b in (p.benchmarks.get(name) for p in evals)
                      if b is not None and math.isfinite(b.avg_at_k)]
            row.append(f"{100 * (scored[-1] - scored[0]):+.1f}" if len(scored) > 1 else MISSING)
        rows.append(row)
    columns = ["benchmark", "domain", "problems", "metric", *labels] + (["Δ last−first"] if len(evals) > 1 else [])
    return Table(
        columns=columns,
        rows=rows,
        caption="Accuracy in %: avg@k (mean correctness of k samples per problem) ± half the width of the 95% "
                "confidence interval over problems (1.96 × standard error when no interval was written). "
                "Δ: change in points between the first and last evaluation point that has the benchmark.",
        numeric=[False, False, True, False, *[True] * (len(columns) - 4)],
    )


def pass_at_k_table(evals: list[EvalPoint]) -> Table | None:
    """One row per (benchmark, evaluation point): pass@k for every k written, response length and truncation."""
    names = _benchmark_names(evals)
    ks = sorted({k for p in evals for b in p.benchmarks.values() for k in b.pass_at_k})
    if not names:
        return None
    rows = []
    for name in names:
        for point in evals:
            bench = point.benchmarks.get(name)
            if bench is None:
                continue
            rows.append([name, point.label,
                         *(fmt_pct(bench.pass_at_k[k]) if k in bench.pass_at_k else MISSING for k in ks),
                         fmt_num(bench.mean_response_tokens, 4), fmt_pct(bench.truncated_frac)])
    columns = ["benchmark", "label", *(f"pass@{k}" for k in ks), "mean tokens", "truncated %"]
    return Table(columns=columns, rows=rows,
                 caption="pass@k in % (unbiased estimator over the samples drawn); mean tokens per response and "
                         "the share of responses cut at the token limit.",
                 numeric=[False, False, *[True] * (len(columns) - 2)])


def _bucket_key(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def breakdown_tables(evals: list[EvalPoint]) -> list[tuple[str, Table]]:
    """(title, table) per benchmark and bucket kind that has data: avg@k per difficulty or per month x label."""
    tables = []
    for name in _benchmark_names(evals):
        for attr, title in (("by_difficulty", "difficulty"), ("by_month", "month")):
            points = [p for p in evals if getattr(p.benchmarks.get(name), attr, None)]
            if not points:
                continue
            buckets = sorted({b for p in points for b in getattr(p.benchmarks[name], attr)}, key=_bucket_key)
            rows = []
            for bucket in buckets:
                cells = []
                for point in points:
                    n, acc = getattr(point.benchmarks[name], attr).get(bucket, (None, math.nan))
                    cells.append(MISSING if not math.isfinite(acc) else
                                 fmt_pct(acc) + (f" (n={n})" if n is not None else ""))
                rows.append([bucket, *cells])
            tables.append((f"{name} by {title}",
                           Table(columns=[title, *(p.label for p in points)], rows=rows,
                                 caption=f"{name}: avg@k in % by {title}; n = problems in the bucket.",
                                 numeric=[False, *[True] * len(points)])))
    return tables


def _cell(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def summary_table(summary: dict[str, Any]) -> Table | None:
    """``summary.json``'s ``table`` (a list of row objects) with the union of their keys as columns."""
    raw = summary.get("table")
    if not isinstance(raw, list):
        return None
    rows = [r for r in raw if isinstance(r, dict)]
    if not rows:
        return None
    columns = list(dict.fromkeys(key for row in rows for key in row))
    numeric = [all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) for c in columns]
    return Table(columns=[str(c) for c in columns], rows=[[_cell(r.get(c)) for c in columns] for r in rows],
                 numeric=numeric)
