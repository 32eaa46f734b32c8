"""``acereason decontaminate``: run the decontaminator over one file, write kept/dropped, print the audit.

The terminal gets a table (per benchmark file: items, items matched, drops) and, with ``--explain``, the
drops per matcher (n-gram, coverage, short item), the n-grams that caused the most drops and the
boilerplate n-grams that were not counted; every dropped problem goes to ``--dropped`` with
``meta.decontam`` naming the benchmark file, item, n-gram and rule (``how``; ``score`` for a short-item drop).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from acereason.curate.decontam import CODE_N, MATH_N
from acereason.curate.decontam_boilerplate import Audit, BoilerplateSettings, Decontaminator, statements
from acereason.schema import Problem, write_records


def earliest_date(problems: list[Problem]) -> date | None:
    """The earliest contest date among benchmark items (None when none has one): the paper's date cutoff."""
    from acereason.curate.rules_code import problem_date

    dates = [d for p in problems if (d := problem_date(p.meta)) is not None]
    return min(dates) if dates else None


def run_decontaminate(inp: Path, benchmarks: list[Path], out: Path, dropped_path: Path | None, n: int | None,
                      cutoff: str | None, settings: BoilerplateSettings, explain: bool,
                      console: Console) -> dict[str, Any]:
    """Decontaminate ``inp`` against ``benchmarks``; write ``out`` (and ``dropped_path``); return the summary."""
    from acereason.curate.rules_code import problem_date
    from acereason.sources import read_source

    problems = list(read_source(inp))
    bench = {str(b): list(read_source(b)) for b in benchmarks}
    if n is None:
        code = sum(p.domain == "code" for p in problems) * 2 > len(problems)
        n = CODE_N if code else MATH_N
    cut: date | None = None
    if cutoff == "auto":
        cut = earliest_date([p for ps in bench.values() for p in ps])
    elif cutoff:
        cut = date.fromisoformat(cutoff)
    dc = Decontaminator.from_problems(bench, n, settings)
    audit = Audit()
    verdicts = dc.run(statements([(p.prompt, p.domain) for p in problems], settings), audit)
    kept: list[Problem] = []
    dropped: list[Problem] = []
    by_date = 0
    for p, v in zip(problems, verdicts, strict=True):
        d = problem_date(p.meta) if cut is not None else None
        if v is not None:
            p.meta["decontam"] = v.meta()
            dropped.append(p)
        elif d is not None and cut is not None and d >= cut:
            p.meta["decontam"] = {"rule": "date", "date": d.isoformat(), "cutoff": cut.isoformat()}
            dropped.append(p)
            by_date += 1
        else:
            kept.append(p)
    write_records(out, kept, Problem)
    if dropped_path is not None:
        write_records(dropped_path, dropped, Problem)
    summary = {"read": len(problems), "kept": len(kept), "dropped": len(dropped),
               "dropped_ngram": len(dropped) - by_date,
               "dropped_date": by_date, "n": n, "cutoff": cut.isoformat() if cut else None,
               "bench_items": len(dc.index.items), "settings": settings.describe(), **audit.summary()}
    print_summary(summary, {f: len(ps) for f, ps in bench.items()}, console, explain)
    return summary


def print_summary(summary: dict[str, Any], bench_sizes: dict[str, int], console: Console, explain: bool) -> None:
    """The per-benchmark table, and with ``explain`` the deciding and the boilerplate n-grams."""
    if not console.is_terminal:
        console.width = max(console.width, 140)
    table = Table(title=f"decontamination ({summary['n']}-gram): {summary['read']} read, {summary['dropped']} dropped")
    for col in ("benchmark", "items", "items matched", "drops"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    for f, size in bench_sizes.items():
        table.add_row(f, str(size), str(summary["items_matched"].get(f, 0)),
                      str(summary["drops_by_benchmark"].get(f, 0)))
    if summary["dropped_date"]:
        table.add_row(f"date >= {summary['cutoff']}", "", "", str(summary["dropped_date"]))
    table.add_row("[dim]kept: shared only boilerplate[/dim]", "", "", str(summary["excused_boilerplate_only"]))
    console.print(table)
    if not explain:
        return
    how = Table(title="drops per matcher")
    for col in ("matcher", "drops"):
        how.add_column(col, justify="left" if col == "matcher" else "right")
    names = {"ngram": "n-gram: specific (non-boilerplate) overlap", "coverage": "n-gram: covers the item",
             "short": "short item: weighted word-pair containment"}
    for key, label in names.items():
        how.add_row(label, str(summary.get("drops_by_matcher", {}).get(key, 0)))
    console.print(how)
    grams = Table(title="n-grams that decided the most drops")
    grams.add_column("drops", justify="right")
    grams.add_column("n-gram")
    for row in summary["top_ngrams"]:
        grams.add_row(str(row["drops"]), row["ngram"])
    console.print(grams)
    bp = Table(title="boilerplate n-grams not counted (most hits first)")
    for col in ("benchmark items", "training problems", "n-gram"):
        bp.add_column(col, justify="right" if col != "n-gram" else "left")
    for row in summary["top_boilerplate"]:
        bp.add_row(str(row["bench_items"]), str(row["train_docs"]), row["ngram"])
    console.print(bp)

