"""``acereason train RECIPE.yaml --out RUN_DIR [--resume [--extend]]``."""

from __future__ import annotations

from pathlib import Path

import typer

from acereason.cli_util import one_line_errors


@one_line_errors
def train_command(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see configs/)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<recipe name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its latest checkpoint; "
                                "refused when the recipe differs from the one the run recorded."),
    extend: bool = typer.Option(False, "--extend", help="Resume, also accepting larger steps/epochs for the last "
                                "started stage or later ones and appended stages (and train them)."),
    device: str | None = typer.Option(None, "--device", help="Override train.device (auto, cpu, cuda, cuda:N, "
                                      "mps)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress: a bar on a terminal, one "
                                  "line per step on stderr otherwise."),
) -> None:
    """Run a recipe's RL stages in order: rollouts, verified rewards, strictly on-policy GRPO updates."""
    from acereason.cli_util import OptionError, check_device
    from acereason.rl.recipe import load_recipe
    from acereason.rl.trainer import Trainer
    from acereason.schema import DataError

    # Bad options and fields exit 2 with one line, before any model loads.
    if device is not None:
        device = check_device("--device", device)
    cfg = load_recipe(recipe)
    try:
        cfg.train.device = device or check_device("train.device", cfg.train.device)
    except OptionError as err:  # this machine cannot run the recipe's device: name the file too
        raise DataError(recipe, None, str(err).partition(": ")[2], field="train.device") from None
    run_dir = out or Path("runs") / cfg.name
    trainer = Trainer(cfg, run_dir, resume=resume or extend, extend=extend, progress=progress)
    state = trainer.run()
    typer.echo(f"done: {state['global_step']} steps; metrics in {run_dir / 'metrics.jsonl'}, "
               f"stage policies in {run_dir / 'stages'}")
