"""The curation report: counts per source and per rule, as a rich table and a JSON file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from acereason.atomic import write_json


def build_report(stages: list[tuple[str, dict[str, Any]]], inputs: list[str], out: str, kept: int) -> dict[str, Any]:
    """One JSON object: per stage its seen/kept per source and drops per (source, step, reason), plus the
    totals per rule over all stages."""
    totals: dict[str, int] = {}
    for _, c in stages:
        for d in c["drops"]:
            totals[d["reason"]] = totals.get(d["reason"], 0) + d["count"]
    first = stages[0][1] if stages else {"seen": {}}
    return {"inputs": inputs, "out": out, "read": sum(first["seen"].values()), "kept": kept,
            "drops_by_rule": dict(sorted(totals.items(), key=lambda kv: -kv[1])),
            "stages": [{"name": name, **c} for name, c in stages]}


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write the JSON report atomically."""
    write_json(path, report)


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    """A rich table: one row per (stage, reason), one column per source, and the totals."""
    console = console or Console(stderr=True)
    if not console.is_terminal:  # logs and CI: wide enough that source names are not cut
        console.width = max(console.width, 60 + 14 * len({s for st in report["stages"] for s in st["seen"]}))
    sources = sorted({s for st in report["stages"] for s in st["seen"]})
    table = Table(title=f"curation: {report['read']} read -> {report['kept']} kept")
    table.add_column("stage")
    table.add_column("rule")
    for s in sources:
        table.add_column(s, justify="right")
    table.add_column("total", justify="right", style="bold")
    for st in report["stages"]:
        table.add_row(st["name"], "[dim]in[/dim]", *[str(st["seen"].get(s, 0)) for s in sources],
                      str(sum(st["seen"].values())))
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for d in st["drops"]:
            rows.setdefault((d["step"], d["reason"]), {})[d["source"]] = d["count"]
        for (_, reason), per in sorted(rows.items()):
            table.add_row("", reason, *[str(per.get(s, "")) for s in sources], str(sum(per.values())))
        for f in st.get("flags", []):
            table.add_row("", f"flag: {f['name']}", *[str(f["count"]) if s == f["source"] else "" for s in sources],
                          str(f["count"]))
    console.print(table)
