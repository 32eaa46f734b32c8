"""``acereason eval``: sample, verify and tabulate benchmarks with the paper's protocol."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from acereason.cli_util import OptionError, check_device, check_range, fail, one_line_errors, parse_assignment
from acereason.schema import DataError

if TYPE_CHECKING:
    from acereason.eval.benchmarks import Benchmark
    from acereason.generate.base import Generator


def _table(results: dict) -> Table:
    limited = f" (first {results['limit']} problems of each benchmark)" if results.get("limit") else ""
    t = Table(title=f"{results['label']}: {results['model']}{limited}")
    for col in ("benchmark", "problems", "k", "avg@k", "95% CI", "pass@k", "truncated"):
        t.add_column(col, justify="left" if col == "benchmark" else "right")
    for name, b in results["benchmarks"].items():
        pk = b.get("pass_at_k", {})
        last = max(pk, key=int) if pk else None
        of = f"/{b['n_problems_total']}" if b.get("n_problems_total", b["n_problems"]) != b["n_problems"] else ""
        t.add_row(name, f"{b['n_problems']}{of}", str(b.get("k", "")), f"{100 * b['avg_at_k']:.1f}",
                  f"{100 * b['ci95'][0]:.1f}-{100 * b['ci95'][1]:.1f}",
                  f"{100 * pk[last]:.1f} (k={last})" if last else "", f"{100 * b['truncated_frac']:.1f}%")
    return t


def list_benchmarks(data_dir: Path | None) -> None:
    from acereason.eval.benchmarks import find_file, iter_known

    t = Table(title=f"known benchmarks (data dir: {data_dir or 'not set'})")
    for col in ("name", "domain", "paper k", "what", "file"):
        t.add_column(col)
    for b in iter_known():
        try:
            where = str(find_file(b, data_dir))
        except DataError:
            where = "missing; expects one of: " + ", ".join(b.candidates)
        t.add_row(b.name, b.domain, str(b.k), b.description, where)
    Console(soft_wrap=False).print(t)
    typer.echo("Any problem file works too: --benchmarks file:PATH")


BACKENDS = ("hf", "vllm", "openai")


@one_line_errors
def eval_command(
    model: str | None = typer.Option(None, "--model", "-m", help="Local model directory (hf/vllm) or model name "
                                     "(openai)."),
    benchmarks: str = typer.Option("aime24,aime25,math500", "--benchmarks", "-b",
                                   help="Comma-separated names (see --list) or file:PATH."),
    k: int | None = typer.Option(None, "--k", help="Samples per problem (default: each benchmark's paper value)."),
    backend: str = typer.Option("hf", "--backend", help="hf, vllm or openai."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (openai backend)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (samples.jsonl, results.json, "
                                    "fingerprint.json; default: runs/eval/<label or model dir>-<fingerprint>)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where benchmark files are searched "
                                         "(default: $ACEREASON_DATA)."),
    files: list[str] = typer.Option([], "--file", help="NAME=PATH: the file for one benchmark."),
    temperature: float = typer.Option(0.6, "--temperature", help="Sampling temperature (0 = greedy)."),
    top_p: float = typer.Option(0.95, "--top-p", help="Nucleus sampling mass, in (0, 1]."),
    max_tokens: int = typer.Option(32768, "--max-tokens"),
    seed: int = typer.Option(0, "--seed"),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N problems of each benchmark (a quick "
                                     "look; results say so). A later run without it resumes the same samples."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard the samples already in --out and start over."),
    device: str | None = typer.Option(None, "--device", help="hf backend device: auto, cpu, cuda, cuda:N, mps "
                                      "(default: cuda if available)."),
    label: str | None = typer.Option(None, "--label", help="Name of this evaluation point in reports."),
    list_: bool = typer.Option(False, "--list", help="Show known benchmarks and where their files are expected."),
) -> None:
    """Evaluate a model: avg@k with confidence intervals, unbiased pass@k, every sample written for audit.

    A rerun with the same --out resumes and never regenerates a finished sample; it is refused when the
    model, the sampling settings or a benchmark's problems differ from those the samples were made with.
    """
    data = data_dir or (Path(os.environ["ACEREASON_DATA"]) if os.environ.get("ACEREASON_DATA") else None)
    if list_:
        list_benchmarks(data)
        return
    from acereason.eval import fingerprint
    from acereason.eval.benchmarks import find_file, load_benchmark
    from acereason.eval.runner import EvalSettings, evaluate
    from acereason.generate.openai_backend import OpenAIRequestError

    # every option is checked before a benchmark file is read or a model is touched
    specs, overrides = _check_options(model, benchmarks, files, backend, base_url, device, out)
    assert model is not None
    check_range("--temperature", temperature, ge=0)
    check_range("--top-p", top_p, gt=0, le=1)
    check_range("--k", k, ge=1)
    check_range("--max-tokens", max_tokens, ge=1)
    check_range("--limit", limit, ge=1)
    if backend == "hf":
        device = check_device("--device", device or "auto")
    settings = EvalSettings(temperature=temperature, top_p=top_p, max_tokens=max_tokens, k=k, seed=seed,
                            backend=backend, limit=limit)
    suites = [(spec, load_benchmark(spec, find_file(spec, data, overrides.get(spec.name)))) for spec in specs]
    model_id = fingerprint.model_identity(backend, model, base_url)
    fp = fingerprint.build(model_id, settings, suites)
    name = label or Path(model).name
    out_dir = out or Path("runs") / "eval" / f"{name}-{fingerprint.short_hash(fp)}"
    fingerprint.check(out_dir, fp, fresh)  # a mismatch is refused before the model loads
    gen = backend_generator(backend, model, base_url, device)
    try:
        results = evaluate(gen, suites, out_dir, settings, label=label or (out.name if out else name),
                           model_name=model, model_id=model_id, fresh=fresh)
    except OpenAIRequestError as err:  # the server went away mid-run; finished chunks are kept for a rerun
        raise fail(OptionError("--base-url", f"{err}; samples so far are kept in {out_dir}, rerun to resume")) \
            from None
    Console().print(_table(results))
    typer.echo(f"samples: {out_dir / 'samples.jsonl'}  results: {out_dir / 'results.json'}")


def _check_backend(backend: str, model: str | None, base_url: str | None, device: str | None) -> None:
    """Validate the options that choose and reach the model (eval and verl-filter share them); raises
    :class:`OptionError` naming the option."""
    if backend not in BACKENDS:
        raise OptionError("--backend", f"unknown backend {backend!r}; use {', '.join(BACKENDS)}")
    if not model:
        raise OptionError("--model", "required (a model directory, or the served model's name with --backend openai)")
    if backend == "openai" and not base_url:
        raise OptionError("--base-url", "required with --backend openai")
    if backend != "openai" and base_url:
        raise OptionError("--base-url", f"only used with --backend openai, not {backend}")
    if backend != "hf" and device:
        raise OptionError("--device", f"only used with --backend hf, not {backend}")
    if backend == "hf" and not Path(model).is_dir():
        raise OptionError("--model", f"{model}: no such model directory (the hf backend loads local paths only)")


def _check_options(model: str | None, benchmarks: str, files: list[str], backend: str, base_url: str | None,
                   device: str | None, out: Path | None) -> tuple[list[Benchmark], dict[str, str]]:
    """Validate the options that name things (backend, model, benchmarks, files, output); returns the
    benchmark specs and the ``--file`` overrides. Raises :class:`OptionError` naming the option."""
    from acereason.eval.benchmarks import BENCHMARKS, benchmark_spec

    _check_backend(backend, model, base_url, device)
    if out is not None and out.exists() and not out.is_dir():
        raise OptionError("--out", f"{out} is a file; expected a directory")
    names = [b.strip() for b in benchmarks.split(",") if b.strip()]
    if not names:
        raise OptionError("--benchmarks", "no benchmark named")
    for name in names:
        if not name.startswith("file:") and name not in BENCHMARKS:
            raise OptionError("--benchmarks", f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)} or "
                              "file:PATH")
    specs = [benchmark_spec(n) for n in names]
    if len({s.name for s in specs}) < len(specs):
        raise OptionError("--benchmarks", f"a benchmark is named twice in {benchmarks!r}")
    overrides = dict(parse_assignment("--file", f) for f in files)
    for name, path in overrides.items():
        if name not in names:
            raise OptionError("--file", f"{name!r} is not one of --benchmarks ({', '.join(names)})")
        if not Path(path).exists():
            raise OptionError("--file", f"{name}={path}: no such file")
    return specs, overrides


def backend_generator(backend: str, model: str, base_url: str | None, device: str | None) -> Generator:
    """A generation backend for ``--backend`` (``hf``, ``vllm``, ``openai``; the veRL filter CLI uses it too),
    with the checks that give one-line errors (:class:`OptionError`).
    The openai backend asks the server once for its models, so a dead server or a wrong model name fails here,
    before any sampling."""
    from acereason.generate.openai_backend import OpenAIRequestError
    from acereason.generate.registry import make_generator

    _check_backend(backend, model, base_url, device)
    specs = {"hf": f"hf:{model}", "vllm": f"vllm:{model}", "openai": f"openai:{base_url}#{model}"}
    gen = make_generator(specs[backend], **({"device": device} if backend == "hf" else {}))
    if backend == "openai":
        try:
            gen.check_model()
        except OpenAIRequestError as err:
            raise OptionError("--model" if err.served is not None else "--base-url", str(err)) from None
    return gen
