"""``acereason curate math|code`` and ``acereason decontaminate`` (contracts in DESIGN.md "CLI").

    acereason curate math deepscaler/train/math.json --benchmarks aime24.jsonl math500.jsonl --out math.jsonl \
        --validator openai:http://127.0.0.1:8000/v1#deepseek-r1 --samples 8 --report report.json

Work files (stage shards, exclusions, completion markers, the response cache) live in ``--work-dir``
(default ``OUT.work/``); rerunning the same command skips finished shards and cached samples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from acereason.cli_util import err_console, fail
from acereason.curate.pipeline import Step, run_stage
from acereason.schema import DataError, Problem, read_problems, write_records

app = typer.Typer(help="Curate raw sources into verified, decontaminated RL sets.", no_args_is_help=True)


class GreedyListCommand(typer.core.TyperCommand):
    """A command whose ``--benchmarks`` takes every following value up to the next option, as the contract
    writes it (``--benchmarks B...``); click options take one value each, so the arguments are rewritten to
    one ``--benchmarks B`` per value before parsing. Positional inputs therefore go before ``--benchmarks``."""

    greedy = ("--benchmarks",)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            out.append(a)
            i += 1
            if a in self.greedy:
                first = True
                while i < len(args) and (first or not args[i].startswith("-")):
                    if not first:
                        out.append(a)
                    out.append(args[i])
                    first = False
                    i += 1
        return super().parse_args(ctx, out)


def _read_any(path: Path) -> Iterator[Problem]:
    """Problems from a source file in any supported format (stage 1 reads raw sources)."""
    from acereason.sources import read_source

    return read_source(path)


def filter_steps(domain: str, benchmarks: list[str], n: int, cutoff: str | None) -> list[Step]:
    """Stage 1 (sharded): domain check, exclusion rules, n-gram and (code) date decontamination."""
    from acereason.curate.decontam import DecontamFilter, NgramIndex
    from acereason.curate.pipeline import Drop, Filter
    from acereason.curate.rules_code import DateCutoffRule, code_rules
    from acereason.curate.rules_math import math_rules

    class DomainFilter(Filter):
        name = "domain"

        def decide(self, problem: Problem) -> Drop | None:
            return None if problem.domain == domain else Drop("wrong_domain", problem.domain)

    steps: list[Step] = [DomainFilter()]
    steps += math_rules() if domain == "math" else code_rules()
    if domain == "code" and cutoff:
        steps.append(DateCutoffRule(date.fromisoformat(cutoff)))
    if benchmarks:
        steps.append(DecontamFilter(NgramIndex.from_files(benchmarks, n)))
    return steps


def dedupe_steps(near_threshold: float) -> list[Step]:
    """Stage 2 (one shard, sees everything): exact statement/URL dedupe, then MinHash near-duplicates."""
    from acereason.curate.dedupe import ExactDedupe, MinHashDedupe

    return [ExactDedupe(), MinHashDedupe(threshold=near_threshold)]


def tests_steps(require_golden: bool, drop_weak_mutants: bool) -> list[Step]:
    """Stage 3 (code, sharded): golden solutions pass, known-wrong programs fail."""
    from acereason.curate.code_tests import CodeTestValidation

    return [CodeTestValidation(require_golden=require_golden, drop_weak_mutants=drop_weak_mutants)]


def validate_steps(spec: str, samples: int, max_tokens: int, cache_dir: str, min_tokens: int,
                   downsample_below: int, downsample_keep: float, chunk: int) -> list[Step]:
    """Stage 4 (sharded): model validation with the response cache, then length balancing."""
    from acereason.curate.validate import LengthBalance, ModelValidation, ValidatorConfig

    cfg = ValidatorConfig(spec=spec, samples=samples, max_tokens=max_tokens, chunk=chunk)
    return [ModelValidation(cfg, cache_dir), LengthBalance(min_tokens, downsample_below, downsample_keep)]


def curate(domain: str, inputs: list[Path], out: Path, benchmarks: list[Path], validator: str | None,
           samples: int, report_path: Path | None, work_dir: Path | None, shards: int, workers: int, n: int | None,
           cutoff: str | None, near_threshold: float, require_golden: bool, drop_weak_mutants: bool,
           max_tokens: int, min_tokens: int, downsample_below: int, downsample_keep: float, chunk: int,
           quiet: bool = False) -> dict:
    """Run the whole pipeline and return the report (also written to ``report_path`` when given)."""
    from acereason.curate.decontam import CODE_N, MATH_N
    from acereason.curate.report import build_report, print_report, write_report

    work = work_dir or out.with_name(out.name + ".work")
    n = n or (MATH_N if domain == "math" else CODE_N)
    stages: list[tuple[str, dict]] = []
    files, counts = run_stage("10-filter", work, list(inputs), _read_any,
                              partial(filter_steps, domain, [str(b) for b in benchmarks], n, cutoff),
                              n_shards=shards, workers=workers)
    from acereason.curate.pipeline import merge_counts

    stages.append(("filter", merge_counts(counts)))
    files, counts = run_stage("20-dedupe", work, files, read_problems, partial(dedupe_steps, near_threshold))
    stages.append(("dedupe", merge_counts(counts)))
    if domain == "code":
        files, counts = run_stage("30-tests", work, files, read_problems,
                                  partial(tests_steps, require_golden, drop_weak_mutants), n_shards=shards,
                                  workers=workers)
        stages.append(("tests", merge_counts(counts)))
    if validator:
        files, counts = run_stage("40-validate", work, files, read_problems,
                                  partial(validate_steps, validator, samples, max_tokens, str(work / "cache"),
                                          min_tokens, downsample_below, downsample_keep, chunk),
                                  n_shards=shards, workers=workers)
        stages.append(("validate", merge_counts(counts)))
    kept = write_records(out, (p for f in files for p in read_problems(f)), Problem)
    report = build_report(stages, [str(p) for p in inputs], str(out), kept)
    report["work_dir"] = str(work)
    if report_path:
        write_report(report, report_path)
    if not quiet:
        print_report(report, err_console)
    return report


def _command(domain: str):
    def command(
        inputs: Annotated[list[Path], typer.Argument(help="Source files in any supported format.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Curated Problem file (.jsonl or .parquet).")],
        benchmarks: Annotated[list[Path] | None, typer.Option("--benchmarks", help="Benchmark files to "
                                                              "decontaminate against.")] = None,
        no_validate: Annotated[bool, typer.Option("--no-validate", help="Skip model validation.")] = False,
        validator: Annotated[str | None, typer.Option(help="hf:PATH or openai:URL#MODEL.")] = None,
        samples: Annotated[int, typer.Option(help="Validator samples per problem (paper: 8).")] = 8,
        report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
        work_dir: Annotated[Path | None, typer.Option(help="Shards, markers, cache (default OUT.work/).")] = None,
        shards: Annotated[int, typer.Option(help="Shards per sharded stage.")] = 1,
        workers: Annotated[int, typer.Option(help="Processes running shards.")] = 1,
        n: Annotated[int | None, typer.Option("--n", help="n-gram size (default 9 math, 14 code).")] = None,
        cutoff: Annotated[str | None, typer.Option(help="Code: drop contests on/after this date.")] = "2024-08-01",
        near_threshold: Annotated[float, typer.Option(help="MinHash Jaccard threshold for near-dupes.")] = 0.85,
        require_golden: Annotated[bool, typer.Option(help="Code: drop problems with no reference solution.")] = False,
        drop_weak_mutants: Annotated[bool, typer.Option(help="Code: drop when a mutant passes (else flag).")] = False,
        max_tokens: Annotated[int, typer.Option(help="Validator max new tokens.")] = 32768,
        min_response_tokens: Annotated[int, typer.Option(help="Drop if median validator response is shorter "
                                                         "(paper: 2000; 0 turns length balancing off).")] = 2000,
        downsample_below: Annotated[int, typer.Option(help="Downsample problems below this length.")] = 4000,
        downsample_keep: Annotated[float, typer.Option(help="Fraction kept of the downsampled band.")] = 0.5,
        chunk: Annotated[int, typer.Option(help="Prompts per validator call (cached per call).")] = 8,
    ) -> None:
        if bool(validator) == no_validate:
            raise fail(ValueError("pass exactly one of --validator SPEC (model validation, the paper's step) and "
                                   "--no-validate"))
        try:
            rep = curate(domain, inputs, out, benchmarks or [], None if no_validate else validator, samples, report,
                         work_dir, shards, workers, n, cutoff if domain == "code" else None, near_threshold,
                         require_golden, drop_weak_mutants, max_tokens, min_response_tokens,
                         downsample_below if min_response_tokens else 0, downsample_keep, chunk)
        except (DataError, ValueError) as e:
            raise fail(e) from None
        typer.echo(f"kept {rep['kept']} of {rep['read']} {domain} problems -> {out}")

    command.__doc__ = f"Curate {domain} sources: rules, decontamination, dedupe, validation; report per rule."
    return command


app.command("math", cls=GreedyListCommand)(_command("math"))
app.command("code", cls=GreedyListCommand)(_command("code"))


def decontaminate_command(
    inp: Annotated[Path, typer.Argument(help="Problems in any supported format.", metavar="IN")],
    benchmarks: Annotated[list[Path], typer.Option("--benchmarks", help="Benchmark files (any format).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Kept problems.")],
    n: Annotated[int, typer.Option("--n", help="Word n-gram size (paper: 9 math, 14 code).")] = 9,
    dropped: Annotated[Path | None, typer.Option(help="Dropped problems, each with meta.decontam naming the "
                                                 "benchmark file, item and n-gram.")] = None,
) -> None:
    """Drop problems sharing a word n-gram with any benchmark item."""
    from acereason.curate.decontam import NgramIndex, decontaminate
    from acereason.sources import read_source

    try:
        index = NgramIndex.from_files(benchmarks, n)
        kept, drop = decontaminate(read_source(inp), index)
        write_records(out, kept, Problem)
        if dropped is not None:
            write_records(dropped, drop, Problem)
    except (DataError, ValueError) as e:
        raise fail(e) from None
    for p in drop[:20]:
        d = p.meta["decontam"]
        err_console.print(json.dumps({"id": p.id, "benchmark": d["benchmark"], "item": d["item"]}), markup=False,
                  highlight=False)
    typer.echo(f"kept {len(kept)}, dropped {len(drop)} sharing a {n}-gram with {len(index.items)} benchmark items")
