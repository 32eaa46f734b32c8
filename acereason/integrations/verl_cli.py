"""``acereason export verl RECIPE.yaml --out DIR`` and ``acereason export verl-filter STAGE_DIR --model HF``."""

from __future__ import annotations

from pathlib import Path

import typer

from acereason.cli_util import one_line_errors, parse_assignment
from acereason.schema import DataError

app = typer.Typer(help="Export a recipe to other trainers (veRL on a Ray cluster).", no_args_is_help=True)


@app.command("verl")
@one_line_errors
def export_verl_command(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see configs/)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (on the cluster's shared filesystem)."),
    gpus_per_node: int = typer.Option(8, "--gpus-per-node", help="trainer.n_gpus_per_node."),
    nodes: int = typer.Option(1, "--nodes", help="trainer.nnodes (the paper: 16 nodes x 8 H100)."),
    rollout_tp: int = typer.Option(2, "--rollout-tp", help="vLLM tensor parallel size for rollouts."),
    model_path: str | None = typer.Option(None, "--model-path", help="Starting model as the cluster sees it "
                                          "(default: the recipe's model.path)."),
    reward_path: str | None = typer.Option(None, "--reward-path", help="Where veRL loads compute_score from "
                                           "(default pkg://acereason.integrations.verl; a path to "
                                           "acereason/integrations/verl.py for veRL without pkg:// support)."),
    logger: str = typer.Option("console", "--logger", help="Comma-separated veRL loggers (console,wandb)."),
    override: list[str] = typer.Option([], "--override", help="Extra key=value for every run (repeatable)."),
    check_files: bool = typer.Option(True, "--check-files/--no-check-files",
                                     help="Require the recipe's data files (off: overrides only)."),
) -> None:
    """Write per stage NN-<stage>/{train.parquet,overrides.txt,stage.json} (NN from 00) and DIR/launch.sh."""
    from acereason.cli_util import check_range
    from acereason.integrations.verl_export import export_recipe
    from acereason.integrations.verl_overrides import ClusterCfg

    for name, value in (("--gpus-per-node", gpus_per_node), ("--nodes", nodes), ("--rollout-tp", rollout_tp)):
        check_range(name, value, ge=1)
    extra = ["=".join(parse_assignment("--override", o)) for o in override]
    cluster = ClusterCfg(n_gpus_per_node=gpus_per_node, nnodes=nodes, rollout_tp=rollout_tp,
                         logger=tuple(x.strip() for x in logger.split(",") if x.strip()), extra=extra)
    runs = export_recipe(recipe, out, cluster=cluster, model_path=model_path, reward_path=reward_path,
                         check_files=check_files)
    for r in runs:
        typer.echo(f"{r.name}: {r.dir}/overrides.txt" + ("  (filtered at launch)" if r.filter else ""))
    typer.echo(f"launch: bash {Path(out).resolve() / 'launch.sh'}")


@app.command("verl-filter")
@one_line_errors
def verl_filter_command(
    stage_dir: Path = typer.Argument(..., help="An exported stage directory (NN-<stage>)."),
    model: str = typer.Option(..., "--model", "-m", help="The entering policy (previous run's hf/ directory)."),
    run: Path | None = typer.Option(None, "--run", help="The run to filter (default: the stage's first run)."),
    backend: str = typer.Option("vllm", "--backend", help="hf, vllm or openai."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server (openai backend)."),
    device: str | None = typer.Option(None, "--device", help="hf backend device."),
    seed: int = typer.Option(0, "--seed"),
    fresh: bool = typer.Option(False, "--fresh", help="Discard filter samples made by another policy or settings."),
) -> None:
    """Sample each candidate problem with the entering policy and keep those within the pass-rate bounds."""
    from acereason.cli_util import check_device
    from acereason.eval.cli import backend_generator
    from acereason.integrations.verl_filter import filter_run, run_filter_spec

    run_filter_spec(stage_dir, run or stage_dir)  # a wrong directory fails before the model loads
    if device is not None:
        check_device("--device", device)
    try:
        gen = backend_generator(backend, model, base_url, device)
    except OSError as err:  # an unreadable model directory is bad input, not a bug
        raise DataError(model, None, f"cannot load the model: {err}") from None
    from acereason.eval.fingerprint import model_identity

    report = filter_run(stage_dir, run or stage_dir, gen, seed=seed, fresh=fresh,
                        model_id=model_identity(backend, model, base_url))
    typer.echo(f"kept {report['kept']} of {report['candidates']} (mean pass rate {report['mean_pass_rate']:.3f}) "
               f"-> {report['output']}")
