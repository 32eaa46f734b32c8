"""``build_report(run_dir)``: read the run directory, draw the figures, write ``report.md`` (with PNGs under
``report_files/``) and the self-contained ``report.html``. Every file is written atomically
(:mod:`acereason.atomic`: temp file in the same directory, then a rename, with the umask's permissions), so a
reader never sees half a report and a crash leaves the previous one intact.
"""

from __future__ import annotations

from pathlib import Path

from acereason.atomic import atomic_path
from acereason.report.document import Figure
from acereason.report.load import load_run
from acereason.report.render import FIGURES_DIR, to_html, to_markdown
from acereason.report.sections import build_document, input_notes


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable as the umask allows (a report is meant to be shared)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def build_report_with_notes(run_dir: Path) -> tuple[Path, Path, list[str]]:
    """Like ``build_report``, also returning the input notes (what was found, missing or damaged)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    run = load_run(run_dir)
    blocks = build_document(run)
    figures_dir = run_dir / FIGURES_DIR
    written = set()
    for block in blocks:
        if isinstance(block, Figure):
            figures_dir.mkdir(exist_ok=True)
            write_atomic(figures_dir / f"{block.name}.png", block.png)
            written.add(f"{block.name}.png")
    if figures_dir.is_dir():
        # A figure from an earlier report that has no data now would otherwise linger, looking current.
        for stale in figures_dir.glob("*.png"):
            if stale.name not in written:
                stale.unlink()
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    write_atomic(md_path, to_markdown(blocks).encode("utf-8"))
    write_atomic(html_path, to_html(blocks).encode("utf-8"))
    return md_path, html_path, input_notes(run)


def build_report(run_dir: Path) -> tuple[Path, Path]:
    """Write ``RUN_DIR/report.md`` and ``RUN_DIR/report.html`` and return their paths.

    Missing inputs (no metrics, no eval results, no summary) are stated in the report, not raised;
    only a missing ``run_dir`` raises ``FileNotFoundError``.
    """
    md_path, html_path, _ = build_report_with_notes(run_dir)
    return md_path, html_path
