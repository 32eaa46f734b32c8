"""``acereason demo``: the whole recipe in miniature on a CPU."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from acereason.cli_util import one_line_errors


@one_line_errors
def demo_command(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run directory (rerun to resume)."),
    seed: int = typer.Option(0, "--seed"),
    fast: bool = typer.Option(False, "--fast", help="Tiny sizes (about a minute): for tests and smoke checks."),
    controls: bool = typer.Option(False, "--controls", help="Also run an equal-compute SFT continuation per RL "
                                  "stage."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N, mps or auto (checked first)."),
) -> None:
    """SFT a tiny model on limited traces, then math RL and code RL on answer-only prompts; evaluate
    after each stage with confidence intervals and paired tests; write a report."""
    from acereason.demo.pipeline import run_demo

    summary = run_demo(out, seed=seed, fast=fast, controls=controls, device=device)
    console = Console()
    table = Table(title="held-out accuracy, avg@4 at temperature 0.6 (95% bootstrap CI)")
    for col in ("checkpoint", "math", "code"):
        table.add_column(col)
    for row in summary["table"]:
        table.add_row(row["checkpoint"], row["math"], row["code"])
    console.print(table)
    for note in summary["notes"]:
        console.print(f"- {note}", markup=False, highlight=False)
    t = summary.get("timings_s", {})
    console.print(f"phases (s): {t}", markup=False, highlight=False)
    console.print(f"run directory: {out}  (report: {out / 'report.html'})", markup=False, highlight=False)
