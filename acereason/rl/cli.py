"""``acereason train RECIPE.yaml --out RUN_DIR [--resume]``."""

from __future__ import annotations

from pathlib import Path

import typer

from acereason.schema import DataError


def train_command(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see configs/)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<recipe name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's latest checkpoint."),
    device: str | None = typer.Option(None, "--device", help="Override train.device (cpu, cuda, auto)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on a terminal."),
) -> None:
    """Run a recipe's RL stages in order: rollouts, verified rewards, strictly on-policy GRPO updates."""
    from acereason.cli_util import fail
    from acereason.rl.recipe import load_recipe
    from acereason.rl.trainer import Trainer

    try:
        cfg = load_recipe(recipe)
        if device:
            cfg.train.device = device
        run_dir = out or Path("runs") / cfg.name
        trainer = Trainer(cfg, run_dir, resume=resume, progress=progress)
    except (DataError, FileExistsError) as err:
        raise fail(err) from None
    state = trainer.run()
    typer.echo(f"done: {state['global_step']} steps; metrics in {run_dir / 'metrics.jsonl'}, "
               f"stage policies in {run_dir / 'stages'}")
