"""What the report says, in order: inputs (and what is missing), summary.json, training, evaluation."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

from matplotlib.figure import Figure as MplFigure

from acereason.report import figures, tables
from acereason.report.document import Block, Bullets, Figure, Heading, Paragraph, Table
from acereason.report.load import RunData


def non_finite_counts(run: RunData) -> Counter[str]:
    """How many NaN/inf values each metric has (numbers only; absent keys are not counted)."""
    counts: Counter[str] = Counter()
    for step in run.steps:
        for key, value in step.items():
            if isinstance(value, float) and not math.isfinite(value):
                counts[key] += 1
    return counts


def input_notes(run: RunData) -> list[str]:
    """One line per input: found (and how much) or missing, then every problem met while reading."""
    notes = []
    if run.steps:
        stage_names = ", ".join(s.name for s in run.stages)
        notes.append(f"metrics.jsonl: {len(run.steps)} step(s) in {len(run.stages)} stage(s) ({stage_names}).")
    elif run.metrics_found:
        notes.append("metrics.jsonl: present but holds no complete step; no training curves or stage table.")
    else:
        notes.append("metrics.jsonl: not found; no training curves or stage table.")
    if run.evals:
        notes.append(f"eval/: {len(run.evals)} evaluation point(s) ({', '.join(p.label for p in run.evals)}).")
    else:
        notes.append("eval/*/results.json: none found; no evaluation figures or tables.")
    notes.append("summary.json: found." if run.summary is not None else "summary.json: not found.")
    notes.extend(run.notes)
    bad = non_finite_counts(run)
    if bad:
        listed = ", ".join(f"{key} ×{n}" for key, n in sorted(bad.items()))
        notes.append(f"metrics.jsonl: non-finite values (NaN/inf), left out of plots and means: {listed}.")
    return notes


def _figure(fig: MplFigure | None, name: str, title: str, caption: str) -> list[Block]:
    return [] if fig is None else [Figure(name=name, title=title, caption=caption, png=figures.to_png(fig))]


def _table(table: Table | None) -> list[Block]:
    return [] if table is None else [table]


def summary_section(run: RunData) -> list[Block]:
    """``summary.json``'s table and notes, when the file is there."""
    if run.summary is None:
        return []
    blocks: list[Block] = [Heading("Summary")]
    blocks += _table(tables.summary_table(run.summary))
    notes = run.summary.get("notes")
    if isinstance(notes, list) and notes:
        blocks.append(Bullets([str(n) for n in notes]))
    if len(blocks) == 1:
        blocks.append(Paragraph("summary.json has no 'table' or 'notes' to show."))
    return blocks


def training_section(run: RunData) -> list[Block]:
    """Per-stage table and training curves, or a sentence saying why there are none."""
    blocks: list[Block] = [Heading("Training")]
    if not run.steps:
        blocks.append(Paragraph("No training metrics: metrics.jsonl is missing or empty."))
        return blocks
    blocks += _table(tables.stage_summary_table(run))
    window = figures.smoothing_window(len(run.steps))
    smoothing = (f"thick lines are a centred rolling mean over {window} steps computed within each stage, thin "
                 "lines the per-step values" if window > 1 else "per-step values (too few steps to smooth)")
    blocks += _figure(
        figures.training_figure(run), "training_curves", "Training curves",
        f"x: global step; dashed lines and shading mark stage boundaries, labelled with the stage name; "
        f"{smoothing}. Zero-variance groups (all rollouts of a prompt scored alike) give no GRPO signal.")
    return blocks


def evaluation_section(run: RunData) -> list[Block]:
    """Evaluation points, accuracy across the pipeline, pass@k curves and tables, per-bucket breakdowns."""
    blocks: list[Block] = [Heading("Evaluation")]
    if not run.evals:
        blocks.append(Paragraph("No evaluation results: RUN_DIR/eval/<label>/results.json not found."))
        return blocks
    blocks += _table(tables.eval_points_table(run.evals))
    blocks += _figure(
        figures.eval_accuracy_figure(run), "eval_accuracy", "Evaluation accuracy before and after each stage",
        "avg@k per benchmark at each evaluation point, in pipeline order; error bars are 95% confidence intervals "
        "over problems.")
    blocks += _table(tables.accuracy_table(run.evals))
    blocks += _figure(
        figures.pass_at_k_figure(run), "pass_at_k", "pass@k curves",
        "pass@k against k on a log2 axis, one line per evaluation point (darker = earlier in the pipeline).")
    blocks += _table(tables.pass_at_k_table(run.evals))
    breakdowns = tables.breakdown_tables(run.evals)
    for title, table in breakdowns:
        blocks += [Heading(title, level=3), table]
    return blocks


def build_document(run: RunData, now: datetime | None = None) -> list[Block]:
    """The whole report as blocks, ready for the Markdown and HTML renderers."""
    now = now or datetime.now(UTC)
    blocks: list[Block] = [
        Heading(f"Run report: {run.name}", level=1),
        Paragraph(f"Run directory {run.run_dir.resolve()}; generated {now:%Y-%m-%d %H:%M} UTC "
                  "by acereason report."),
        Heading("Inputs"),
        Bullets(input_notes(run)),
    ]
    blocks += summary_section(run)
    blocks += training_section(run)
    blocks += evaluation_section(run)
    return blocks
