"""``acereason curate math|code`` and ``acereason decontaminate`` (contracts in DESIGN.md "CLI").

    acereason curate math deepscaler/train/math.json --benchmarks aime24.jsonl math500.jsonl --out math.jsonl \
        --validator openai:http://127.0.0.1:8000/v1#deepseek-r1 --samples 8 --report report.json

Work files (stage shards, exclusions, completion markers, the response cache) live in ``--work-dir``
(default ``OUT.work/``); rerunning the same command skips finished shards and cached samples, and a
changed input, benchmark file, option or validator model recomputes the stages it affects. Each stage
shows its progress on stderr (a bar on a terminal, a plain line per 1,000 problems or per batch otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from acereason.cli_util import OptionError, check_not_input, check_range, err_console, one_line_errors
from acereason.curate.decontam_boilerplate import BoilerplateSettings
from acereason.curate.pipeline import Reader, Step, StepsFactory, run_stage
from acereason.progress import Tracker
from acereason.schema import Problem, read_problems, write_records

BP_DEFAULTS = BoilerplateSettings()

# The boilerplate-aware decontamination settings, shared by `curate math|code` and `decontaminate`.
MaxBenchItems = Annotated[int, typer.Option(help="An n-gram held by this many benchmark items is boilerplate.")]
MaxTrainShare = Annotated[float, typer.Option(help="An n-gram in this share of the training problems (the input) "
                                              "is boilerplate.")]
MinItemShare = Annotated[float, typer.Option(help="Drop when the specific overlap covers this share of a "
                                             "benchmark item.")]
ShortItemWords = Annotated[int, typer.Option(help="Benchmark items of at most this many words also get the fuzzy "
                                             "word-pair matcher (0: off).")]
ShortShare = Annotated[float, typer.Option(help="Short-item matcher: drop at this weighted share of the item's "
                                           "word pairs.")]


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


class _SourceReader:
    """Problems from a source file in any supported format (stage 1 reads raw sources), with ids tagged
    by :func:`~acereason.sources.naming.distinct_tags` over all inputs, so two inputs that share a file name
    (``a/test.jsonl``, ``b/test.jsonl``) never give the same ids. A class, not a closure: shards may run in
    worker processes."""

    def __init__(self, inputs: list[Path]) -> None:
        from acereason.sources.naming import distinct_tags

        self.tags = {str(p): t for p, t in zip(inputs, distinct_tags(inputs), strict=True)}

    def __call__(self, path: Path) -> Iterator[Problem]:
        from acereason.sources import read_source

        return read_source(path, tag=self.tags.get(str(path)))


def filter_steps(domain: str, benchmarks: list[str], n: int, cutoff: str | None,
                 decontam: dict | None = None, inputs: list[str] | None = None) -> list[Step]:
    """Stage 1 (sharded): domain check, exclusion rules, n-gram and (code) date decontamination.

    ``decontam``: :class:`~acereason.curate.decontam_boilerplate.BoilerplateSettings` fields; the training
    df that tells boilerplate from contamination is counted over every problem of ``inputs`` of this
    domain (the whole run, whatever the shard), as ``acereason decontaminate`` counts it over its input."""
    from acereason.curate.decontam import DecontamFilter
    from acereason.curate.decontam_boilerplate import BoilerplateSettings, Decontaminator, statements
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
        from acereason.sources import read_source

        settings = BoilerplateSettings(**(decontam or {}))
        dc = Decontaminator.from_files(benchmarks, n, settings)
        dc.fit_texts(statements([(p.prompt, p.domain) for f in inputs or [] for p in read_source(f)
                                 if p.domain == domain], settings))
        steps.append(DecontamFilter(dc))
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


def _stage(name: str, work: Path, files: list[Path], reader: Reader, steps: StepsFactory, key: dict,
           total: int | None, every: int, quiet: bool, shards: int = 1,
           workers: int = 1) -> tuple[list[Path], dict]:
    """Run one stage with a progress tracker; return its output files and merged counts."""
    from acereason.curate.pipeline import merge_counts

    with Tracker(f"curate {name}", total, every=every, unit="problems", enabled=not quiet) as tracker:
        out, counts = run_stage(name, work, files, reader, steps, n_shards=shards, workers=workers, key=key,
                                tracker=tracker)
    return out, merge_counts(counts)


def curate(domain: str, inputs: list[Path], out: Path, benchmarks: list[Path], validator: str | None,
           samples: int, report_path: Path | None, work_dir: Path | None, shards: int, workers: int, n: int | None,
           cutoff: str | None, near_threshold: float, require_golden: bool, drop_weak_mutants: bool,
           max_tokens: int, min_tokens: int, downsample_below: int, downsample_keep: float, chunk: int,
           quiet: bool = False, decontam: dict | None = None) -> dict:
    """Run the whole pipeline and return the report (also written to ``report_path`` when given).

    Each stage's key holds the content fingerprints of what it depends on beyond its input files and
    options: the code of the steps, the benchmark files (filter), the validator model (validate).
    ``decontam``: boilerplate settings (:class:`~acereason.curate.decontam_boilerplate.BoilerplateSettings`
    fields); they are arguments of the filter steps and so part of the filter stage's key.
    """
    from acereason.curate import code_tests, validate
    from acereason.curate.decontam import CODE_N, MATH_N
    from acereason.curate.fingerprint import code_fingerprint, path_fingerprint, validator_identity
    from acereason.curate.report import build_report, print_report, write_report

    work = work_dir or out.with_name(out.name + ".work")
    n = n or (MATH_N if domain == "math" else CODE_N)
    code = code_fingerprint()
    stages: list[tuple[str, dict]] = []
    files, counts = _stage("10-filter", work, list(inputs), _SourceReader(list(inputs)),
                           partial(filter_steps, domain, [str(b) for b in benchmarks], n, cutoff, decontam or {},
                                   [str(p) for p in inputs]),
                           {"code": code, "benchmarks": [[str(b), path_fingerprint(b)] for b in benchmarks]},
                           None, 1000, quiet, shards, workers)
    stages.append(("filter", counts))

    def kept() -> int:
        return sum(stages[-1][1]["kept"].values())

    files, counts = _stage("20-dedupe", work, files, read_problems, partial(dedupe_steps, near_threshold),
                           {"code": code}, kept(), 1000, quiet)
    stages.append(("dedupe", counts))
    if domain == "code":
        files, counts = _stage("30-tests", work, files, read_problems,
                               partial(tests_steps, require_golden, drop_weak_mutants), {"code": code}, kept(),
                               code_tests.BATCH, quiet, shards, workers)
        stages.append(("tests", counts))
    if validator:
        files, counts = _stage("40-validate", work, files, read_problems,
                               partial(validate_steps, validator, samples, max_tokens, str(work / "cache"),
                                       min_tokens, downsample_below, downsample_keep, chunk),
                               {"code": code, "validator": validator_identity(validator)}, kept(),
                               validate.BATCH, quiet, shards, workers)
        stages.append(("validate", counts))
    n_kept = write_records(out, (p for f in files for p in read_problems(f)), Problem)
    report = build_report(stages, [str(p) for p in inputs], str(out), n_kept)
    report["work_dir"] = str(work)
    if report_path:
        write_report(report, report_path)
    if not quiet:
        print_report(report, err_console)
    return report


def check_options(inputs: list[Path], out: Path, benchmarks: list[Path], report: Path | None, validator: str | None,
                  samples: int, shards: int, workers: int, n: int | None, cutoff: str | None, near_threshold: float,
                  max_tokens: int, min_tokens: int, downsample_below: int, downsample_keep: float,
                  chunk: int) -> None:
    """Raise :class:`OptionError` naming the first bad option, before any file is read."""
    check_not_input(out, [*inputs, *benchmarks], "--out")
    if report is not None:
        check_not_input(report, [*inputs, *benchmarks, out], "--report")
    for name, value in (("--samples", samples), ("--shards", shards), ("--workers", workers), ("--n", n),
                        ("--max-tokens", max_tokens), ("--chunk", chunk)):
        check_range(name, value, ge=1)
    check_range("--min-response-tokens", min_tokens, ge=0)
    check_range("--downsample-below", downsample_below, ge=0)
    check_range("--near-threshold", near_threshold, gt=0, le=1)
    check_range("--downsample-keep", downsample_keep, ge=0, le=1)
    if cutoff:
        try:
            date.fromisoformat(cutoff)
        except ValueError:
            raise OptionError("--cutoff", f"expected a date YYYY-MM-DD, got {cutoff!r}") from None
    if validator is not None:
        check_validator_spec(validator)


def check_decontam(max_bench_items: int, max_train_share: float, min_item_share: float,
                   short_item_words: int = BP_DEFAULTS.short_item_words,
                   short_share: float = BP_DEFAULTS.short_share) -> dict:
    """The boilerplate and short-item settings as filter-step arguments (so part of the filter stage's key),
    after range checks (:class:`OptionError`)."""
    check_range("--max-bench-items", max_bench_items, ge=2)
    check_range("--max-train-share", max_train_share, gt=0, le=1)
    check_range("--min-item-share", min_item_share, gt=0, le=1)
    check_range("--short-item-words", short_item_words, ge=0)
    check_range("--short-share", short_share, gt=0, le=1)
    return {"max_bench_items": max_bench_items, "max_train_share": max_train_share, "min_item_share": min_item_share,
            "short_item_words": short_item_words, "short_share": short_share}


def check_validator_spec(spec: str) -> None:
    """Raise :class:`OptionError` unless ``spec`` is ``hf:PATH``, ``vllm:PATH`` or ``openai:URL#MODEL``."""
    kind, _, rest = spec.partition(":")
    url, sep, model = rest.partition("#")
    if (kind in ("hf", "vllm") and rest) or (kind == "openai" and url and sep and model):
        return
    raise OptionError("--validator", f"expected hf:PATH, vllm:PATH or openai:URL#MODEL, got {spec!r}")


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
        max_bench_items: MaxBenchItems = BP_DEFAULTS.max_bench_items,
        max_train_share: MaxTrainShare = BP_DEFAULTS.max_train_share,
        min_item_share: MinItemShare = BP_DEFAULTS.min_item_share,
        short_item_words: ShortItemWords = BP_DEFAULTS.short_item_words,
        short_share: ShortShare = BP_DEFAULTS.short_share,
    ) -> None:
        if bool(validator) == no_validate:
            raise OptionError("--validator", "pass exactly one of --validator SPEC (model validation, the paper's "
                                             "step) and --no-validate")
        cut = cutoff if domain == "code" else None
        decontam = check_decontam(max_bench_items, max_train_share, min_item_share, short_item_words, short_share)
        check_options(inputs, out, benchmarks or [], report, validator, samples, shards, workers, n, cut,
                      near_threshold, max_tokens, min_response_tokens, downsample_below, downsample_keep, chunk)
        rep = curate(domain, inputs, out, benchmarks or [], None if no_validate else validator, samples, report,
                     work_dir, shards, workers, n, cut, near_threshold, require_golden, drop_weak_mutants, max_tokens,
                     min_response_tokens, downsample_below if min_response_tokens else 0, downsample_keep, chunk,
                     decontam=decontam)
        typer.echo(f"kept {rep['kept']} of {rep['read']} {domain} problems -> {out}")

    command = one_line_errors(command)
    command.__doc__ = f"Curate {domain} sources: rules, decontamination, dedupe, validation; report per rule."
    return command


app.command("math", cls=GreedyListCommand)(_command("math"))
app.command("code", cls=GreedyListCommand)(_command("code"))


@one_line_errors
def decontaminate_command(
    inp: Annotated[Path, typer.Argument(help="Problems in any supported format.", metavar="IN")],
    benchmarks: Annotated[list[Path], typer.Option("--benchmarks", help="Benchmark files (any format).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Kept problems.")],
    n: Annotated[int | None, typer.Option("--n", help="Word n-gram size (default: paper's 14 when the input is "
                                          "code, else 9).")] = None,
    dropped: Annotated[Path | None, typer.Option(help="Dropped problems, each with meta.decontam naming the "
                                                 "benchmark file, item and n-gram (or the date rule).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Also list the n-grams that caused the most drops "
                                          "and the boilerplate n-grams that were not counted.")] = False,
    cutoff: Annotated[str | None, typer.Option(help="Drop problems dated on/after YYYY-MM-DD; 'auto': the earliest "
                                               "benchmark item date (code; problems without a date stay).")] = None,
    max_bench_items: MaxBenchItems = BP_DEFAULTS.max_bench_items,
    max_train_share: MaxTrainShare = BP_DEFAULTS.max_train_share,
    min_item_share: MinItemShare = BP_DEFAULTS.min_item_share,
    short_item_words: ShortItemWords = BP_DEFAULTS.short_item_words,
    short_share: ShortShare = BP_DEFAULTS.short_share,
) -> None:
    """Drop problems that are benchmark items: a shared non-boilerplate word n-gram (and, with --cutoff, a date)."""
    from acereason.curate.decontam_report import run_decontaminate

    if n is not None:
        check_range("--n", n, ge=1)
    decontam = check_decontam(max_bench_items, max_train_share, min_item_share, short_item_words, short_share)
    check_not_input(out, [inp, *benchmarks], "--out")
    if dropped is not None:
        check_not_input(dropped, [inp, *benchmarks, out], "--dropped")
    if cutoff not in (None, "auto"):
        try:
            date.fromisoformat(cutoff)
        except ValueError:
            raise OptionError("--cutoff", f"expected a date YYYY-MM-DD or 'auto', got {cutoff!r}") from None
    summary = run_decontaminate(inp, benchmarks, out, dropped, n, cutoff, BoilerplateSettings(**decontam), explain,
                                err_console)
    typer.echo(f"kept {summary['kept']}, dropped {summary['dropped']} of {summary['read']} "
               f"({summary['dropped_ngram']} sharing a {summary['n']}-gram with {summary['bench_items']} benchmark "
               f"items, {summary['dropped_date']} by date)")
