"""The report's matplotlib figures: training curves per stage, eval accuracy across the pipeline, pass@k curves.

pyplot is never imported: each figure is a bare ``matplotlib.figure.Figure`` drawn by an explicit Agg
canvas, so no GUI backend is selected, no window can open (whatever ``MPLBACKEND`` says) and no global
figure state leaks between reports. Builders return the Figure (tests inspect it) or None when there is
nothing to draw; ``to_png`` renders it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from acereason.report.load import EvalPoint, RunData, to_float

# (panel title, [(metric key, legend label or None)]). A panel whose keys are all absent is dropped.
TRAINING_PANELS: list[tuple[str, list[tuple[str, str | None]]]] = [
    ("Reward (mean over rollouts)", [("reward/mean", None)]),
    ("Response length (tokens)", [("response/length_mean", "mean"), ("response/length_max", "max")]),
    ("Truncation ratio", [("response/truncation_ratio", None)]),
    ("Policy entropy (nats/token)", [("policy/entropy", None)]),
    ("Zero-variance groups (fraction)", [("groups/zero_variance_frac", None)]),
    ("Groups with ≥1 correct rollout", [("reward/pass_at_group", None)]),
    ("Sampler vs trainer |log ratio| (mismatch)", [("mismatch/mean_abs_log_ratio", "mean"),
                                                   ("mismatch/p99_abs_log_ratio", "p99")]),
    ("Tokens with ratio outside [0.9, 1.1]", [("mismatch/ratio_above_1.1", "> 1.1"),
                                              ("mismatch/ratio_below_0.9", "< 0.9")]),
]
DOMAIN_ORDER = {"math": 0, "code": 1}
DPI = 100


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling mean over ``window`` points that ignores non-finite values.

    Windows are truncated at the ends (a partial window, not a shorter series); a window with no finite
    value gives NaN. Vectorised with cumulative sums of the finite values and of their count.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    i = np.arange(n)
    lo = np.maximum(0, i - (window - 1) // 2)
    hi = np.minimum(n, i + window // 2 + 1)
    count = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (sums[hi] - sums[lo]) / np.maximum(count, 1), np.nan)


def smoothing_window(n_steps: int) -> int:
    """Rolling-mean width for a run of ``n_steps``: about 5% of the run, between 3 and 100; 1 below 10 steps."""
    if n_steps < 10:
        return 1
    return min(100, max(3, n_steps // 20))


def metric_series(run: RunData, key: str) -> np.ndarray:
    """One metric over all steps as floats; missing or non-numeric values are NaN, infinities become NaN."""
    out = np.array([to_float(step.get(key)) for step in run.steps], dtype=float)
    out[~np.isfinite(out)] = np.nan
    return out


def to_png(fig: Figure) -> bytes:
    """Render ``fig`` with the Agg canvas to PNG bytes (no timestamp metadata, so reruns are byte-stable)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _labels_crowded(run: RunData, x: np.ndarray, axes_px: float) -> bool:
    """Whether some stage is too narrow for its name on one line (about 5.5 px per character at 8 pt)."""
    span = max(x[-1] - x[0] + 1.0, 1.0)
    return any((x[s.stop - 1] - x[s.start] + 1.0) / span * axes_px < 5.5 * len(s.name) + 8 for s in run.stages)


def _mark_stages(ax, run: RunData, x: np.ndarray, staggered: bool) -> None:
    """Shade alternate stages, draw a dashed line at each boundary and write each stage's name on top
    (on two alternating rows when ``staggered``, so neighbouring short stages do not overwrite each other)."""
    for j, stage in enumerate(run.stages):
        left = x[stage.start] - 0.5
        right = x[stage.stop - 1] + 0.5
        if j % 2 == 1:
            ax.axvspan(left, right, color="0.93", zorder=0, lw=0)
        if j > 0:
            ax.axvline(left, color="0.35", ls="--", lw=0.9, zorder=1)
        y = 0.90 if staggered and j % 2 == 1 else 0.98
        ax.text((left + right) / 2, y, stage.name, transform=ax.get_xaxis_transform(), ha="center",
                va="top", fontsize=8, color="0.25", clip_on=True,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})


def _fit_y(ax, series: list[np.ndarray], headroom: float) -> None:
    """Y limits from the finite data plus ``headroom`` (a fraction of the range) on top for stage names.

    A flat series gets a visible band around its value instead of matplotlib's 1e-12 offset notation.
    """
    values = np.concatenate([y[np.isfinite(y)] for y in series])
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-9 * max(1.0, abs(high)):
        pad = max(0.1 * abs(high), 0.05)
        low, high = low - pad, high + pad
    else:
        pad = 0.05 * (high - low)
        low, high = low - pad, high + pad
    ax.set_ylim(low, high + headroom * (high - low))
    ax.ticklabel_format(axis="y", useOffset=False)


def training_figure(run: RunData) -> Figure | None:
    """Per-stage training curves against the global step: raw values (thin) and a per-stage rolling mean
    (thick), stage boundaries dashed and labelled. None without steps or without any plottable metric."""
    if not run.steps:
        return None
    x = np.array([to_float(s.get("step")) for s in run.steps], dtype=float)
    panels = []
    for title, keys in TRAINING_PANELS:
        series = [(key, label, metric_series(run, key)) for key, label in keys]
        series = [s for s in series if np.isfinite(s[2]).any()]
        if series:
            panels.append((title, series))
    if not panels:
        return None
    window = smoothing_window(len(run.steps))
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(11, 2.9 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    # Few points: draw markers, otherwise a single step (or isolated finite values) would be invisible.
    marker = "o" if len(run.steps) <= 40 else None
    staggered = _labels_crowded(run, x, axes_px=11 * DPI / ncols * 0.85)
    for ax, (title, series) in zip(axes.flat, panels, strict=False):
        _mark_stages(ax, run, x, staggered)
        for colour, (_, label, y) in zip(("C0", "C1", "C2"), series, strict=False):
            ax.plot(x, y, color=colour, lw=0.8, alpha=0.45 if window > 1 else 1.0, marker=marker, ms=3,
                    label=None if window > 1 else label)
            if window > 1:
                for j, stage in enumerate(run.stages):  # smoothing never crosses a stage boundary
                    seg = slice(stage.start, stage.stop)
                    ax.plot(x[seg], rolling_mean(y[seg], window), color=colour, lw=2.0,
                            label=label if j == 0 else None)
        # Headroom above the data for the stage names, so they never sit on a curve.
        _fit_y(ax, [y for _, _, y in series], headroom=0.25 if staggered else 0.14)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8, loc="lower right", framealpha=0.8)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("global step")
    # Hidden bottom-right panel: put the x label on the panel above it, which is then the lowest visible one.
    if len(panels) % ncols and nrows > 1:
        axes[-2][-1].set_xlabel("global step")
        axes[-2][-1].xaxis.set_tick_params(labelbottom=True)
    how = f"thin: per step, thick: rolling mean over {window} steps within each stage" if window > 1 else "per step"
    fig.suptitle(f"Training curves — {run.name} ({how})", fontsize=12)
    return fig


def _ordered_benchmarks(evals: Sequence[EvalPoint]) -> list[tuple[str, str]]:
    """(benchmark, domain) pairs in first-seen order, math before code before anything else."""
    seen: dict[str, str] = {}
    for point in evals:
        for name, bench in point.benchmarks.items():
            seen.setdefault(name, bench.domain)
    return sorted(seen.items(), key=lambda item: DOMAIN_ORDER.get(item[1], 2))


def _k_label(evals: Sequence[EvalPoint], name: str) -> str:
    ks = sorted({p.benchmarks[name].k for p in evals if name in p.benchmarks and p.benchmarks[name].k})
    return "avg@" + "/".join(str(k) for k in ks) if ks else "avg@k"


def eval_accuracy_figure(run: RunData) -> Figure | None:
    """avg@k with its 95% interval for each benchmark at each evaluation point, in pipeline order; one
    panel per domain. None when no benchmark has a finite avg@k."""
    evals = run.evals
    benchmarks = [
        (name, domain) for name, domain in _ordered_benchmarks(evals)
        if any(name in p.benchmarks and math.isfinite(p.benchmarks[name].avg_at_k) for p in evals)
    ]
    if not benchmarks:
        return None
    domains = list(dict.fromkeys(domain for _, domain in benchmarks))
    fig = Figure(figsize=(max(6.0, 5.5 * len(domains)), 4.2), layout="constrained")
    axes = fig.subplots(1, len(domains), squeeze=False)[0]
    labels = [p.label for p in evals]
    xs = np.arange(len(labels), dtype=float)
    for ax, domain in zip(axes, domains, strict=True):
        names = [name for name, d in benchmarks if d == domain]
        for j, name in enumerate(names):
            # Small horizontal offsets keep overlapping error bars of different benchmarks apart.
            offset = (j - (len(names) - 1) / 2) * min(0.08, 0.3 / max(1, len(names)))
            y = np.full(len(labels), np.nan)
            err = np.zeros((2, len(labels)))
            for i, point in enumerate(evals):
                bench = point.benchmarks.get(name)
                if bench is None or not math.isfinite(bench.avg_at_k):
                    continue
                y[i] = 100 * bench.avg_at_k
                if bench.ci95 is not None:
                    err[0, i] = max(0.0, y[i] - 100 * bench.ci95[0])
                    err[1, i] = max(0.0, 100 * bench.ci95[1] - y[i])
            ax.errorbar(xs + offset, y, yerr=err, marker="o", ms=5, capsize=4, lw=1.5,
                        label=f"{name} ({_k_label(evals, name)})")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=20 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{domain} benchmarks", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Evaluation accuracy at each point of the pipeline (avg@k, 95% CI)", fontsize=12)
    return fig


def pass_at_k_figure(run: RunData) -> Figure | None:
    """pass@k against k (log2 axis) for each benchmark, one line per evaluation point coloured in pipeline
    order. None when no benchmark reports pass@k."""
    evals = run.evals
    names = [name for name, _ in _ordered_benchmarks(evals)
             if any(name in p.benchmarks and p.benchmarks[name].pass_at_k for p in evals)]
    if not names:
        return None
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(3.8 * ncols + 0.6, 3.3 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap = colormaps["viridis"]
    for ax, name in zip(axes.flat, names, strict=False):
        ks_all: set[int] = set()
        for i, point in enumerate(evals):
            bench = point.benchmarks.get(name)
            if bench is None or not bench.pass_at_k:
                continue
            ks = sorted(bench.pass_at_k)
            ks_all.update(ks)
            colour = cmap(0.8 * i / max(1, len(evals) - 1))
            ax.plot(ks, [100 * bench.pass_at_k[k] for k in ks], marker="o", ms=4, color=colour, label=point.label)
        ax.set_xscale("log", base=2)
        ticks = sorted(ks_all)
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(k) for k in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        if len(ticks) == 1:  # a log axis over a single value is degenerate
            ax.set_xlim(ticks[0] / 2, ticks[0] * 2)
        ax.set_xlabel("k")
        ax.set_ylabel("pass@k (%)")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    fig.suptitle("pass@k by evaluation point", fontsize=12)
    return fig
