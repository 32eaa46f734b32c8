"""Run reports: ``acereason report RUN_DIR`` turns a run directory into ``report.md`` and a self-contained
``report.html`` with training curves per stage, evaluation accuracy across the pipeline and pass@k curves.

Inputs and what the report shows: docs/report.md. ``build_report`` is imported lazily so that loading the
CLI does not import matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acereason.report.build import build_report

__all__ = ["build_report"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from acereason.report.build import build_report

        return build_report
    raise AttributeError(f"module 'acereason.report' has no attribute {name!r}")
