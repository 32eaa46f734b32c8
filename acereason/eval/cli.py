"""``acereason eval``: sample, verify and tabulate benchmarks with the paper's protocol."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from acereason.schema import DataError


def _table(results: dict) -> Table:
    t = Table(title=f"{results['label']}: {results['model']}")
    for col in ("benchmark", "problems", "k", "avg@k", "95% CI", "pass@k", "truncated"):
        t.add_column(col, justify="left" if col == "benchmark" else "right")
    for name, b in results["benchmarks"].items():
        pk = b.get("pass_at_k", {})
        last = max(pk, key=int) if pk else None
        t.add_row(name, str(b["n_problems"]), str(b.get("k", "")), f"{100 * b['avg_at_k']:.1f}",
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


def eval_command(
    model: str | None = typer.Option(None, "--model", "-m", help="Local model directory (hf/vllm) or model name "
                                     "(openai)."),
    benchmarks: str = typer.Option("aime24,aime25,math500", "--benchmarks", "-b",
                                   help="Comma-separated names (see --list) or file:PATH."),
    k: int | None = typer.Option(None, "--k", help="Samples per problem (default: each benchmark's paper value)."),
    backend: str = typer.Option("hf", "--backend", help="hf, vllm or openai."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (openai backend)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (samples.jsonl, results.json)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where benchmark files are searched "
                                         "(default: $ACEREASON_DATA)."),
    files: list[str] = typer.Option([], "--file", help="NAME=PATH: the file for one benchmark."),
    temperature: float = typer.Option(0.6, "--temperature"),
    top_p: float = typer.Option(0.95, "--top-p"),
    max_tokens: int = typer.Option(32768, "--max-tokens"),
    seed: int = typer.Option(0, "--seed"),
    device: str | None = typer.Option(None, "--device", help="hf backend device (default: cuda if available)."),
    label: str | None = typer.Option(None, "--label", help="Name of this evaluation point in reports."),
    list_: bool = typer.Option(False, "--list", help="Show known benchmarks and where their files are expected."),
) -> None:
    """Evaluate a model: avg@k with confidence intervals, unbiased pass@k, every sample written for audit.

    A rerun with the same --out resumes and never regenerates a finished sample.
    """
    from acereason.cli_util import fail

    data = data_dir or (Path(os.environ["ACEREASON_DATA"]) if os.environ.get("ACEREASON_DATA") else None)
    if list_:
        list_benchmarks(data)
        return
    from acereason.eval.benchmarks import benchmark_spec, find_file, load_benchmark
    from acereason.eval.runner import EvalSettings, evaluate

    try:
        overrides = dict(f.split("=", 1) for f in files)
        suites = []
        for name in [b.strip() for b in benchmarks.split(",") if b.strip()]:
            spec = benchmark_spec(name)
            suites.append((spec, load_benchmark(spec, find_file(spec, data, overrides.get(name)))))
        if not model:
            raise DataError(None, None, "--model is required")
        gen = _generator(backend, model, base_url, device)
    except (DataError, ValueError) as err:
        raise fail(err) from None
    settings = EvalSettings(temperature=temperature, top_p=top_p, max_tokens=max_tokens, k=k, seed=seed,
                            backend=backend)
    out_dir = out or Path("runs") / "eval" / (label or Path(model).name)
    results = evaluate(gen, suites, out_dir, settings, label=label, model_name=model)
    Console().print(_table(results))
    typer.echo(f"samples: {out_dir / 'samples.jsonl'}  results: {out_dir / 'results.json'}")


def _generator(backend: str, model: str, base_url: str | None, device: str | None):
    """A generation backend for ``--backend``, with the checks that give one-line errors."""
    from acereason.generate.base import make_generator

    if backend == "hf" and not Path(model).exists():
        raise DataError(model, None, "no such model directory (the hf backend loads local paths only)")
    if backend == "openai" and not base_url:
        raise DataError(None, None, "--base-url is required with --backend openai")
    specs = {"hf": f"hf:{model}", "vllm": f"vllm:{model}", "openai": f"openai:{base_url}#{model}"}
    if backend not in specs:
        raise DataError(None, None, f"unknown backend {backend!r}; use hf, vllm or openai")
    return make_generator(specs[backend], **({"device": device} if backend == "hf" else {}))
