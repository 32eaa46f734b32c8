"""``acereason report RUN_DIR``: write RUN_DIR/report.md and RUN_DIR/report.html."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    run_dir: Path = typer.Argument(..., help="Run directory (metrics.jsonl, eval/<label>/results.json, summary.json)."),
) -> None:
    """Write a Markdown and a self-contained HTML report (figures inline) for a run directory."""
    from acereason.cli_util import fail

    if not run_dir.is_dir():
        raise fail(FileNotFoundError(f"run directory not found: {run_dir}"))
    from acereason.report.build import build_report_with_notes

    try:
        md_path, html_path, notes = build_report_with_notes(run_dir)
    except OSError as err:  # e.g. a read-only run directory: one line, not a traceback
        raise fail(err) from None
    for note in notes:
        typer.echo(f"  {note}", err=True)
    typer.echo(f"wrote {md_path} and {html_path}")
