"""``acereason train RECIPE.yaml --out RUN_DIR [--resume [--extend]] [--plan]``."""

from __future__ import annotations

from pathlib import Path

import typer

from acereason.cli_util import one_line_errors
from acereason.rl.names import SamplerKind
from acereason.rl.recipe import TrainCfg


def _override_help(field: str) -> str:
    """``--FIELD``'s help: the recipe field's own description (the text docs/training.md's table carries)."""
    text = " ".join((TrainCfg.model_fields[field].description or "").split()).replace("``", "")
    return f"Override train.{field}. {text}"


@one_line_errors
def train_command(
    recipe: Path = typer.Argument(..., help="Recipe YAML (see configs/)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<recipe name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its latest checkpoint; "
                                "refused when the recipe differs from the one the run recorded."),
    extend: bool = typer.Option(False, "--extend", help="Resume, also accepting larger steps/epochs for the last "
                                "started stage or later ones and appended stages (and train them)."),
    device: str | None = typer.Option(None, "--device", help=_override_help("device")),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress: a bar on a terminal, one "
                                  "line per step on stderr otherwise."),
    sampler: str | None = typer.Option(None, "--sampler", help=_override_help("sampler")),
    plan: bool = typer.Option(False, "--plan", help="Print each stage's estimated peak memory on the device "
                              "(from config.json only; nothing is loaded) and exit."),
    ignore_memory_plan: bool = typer.Option(False, "--ignore-memory-plan", help="Train even when the memory "
                                            "plan says a stage does not fit the device."),
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
    if sampler is not None:
        if sampler not in set(SamplerKind):
            raise OptionError("--sampler", f"unknown sampler {sampler!r}; use {', '.join(SamplerKind)}")
        cfg.train.sampler = SamplerKind(sampler)
    from acereason.rl import plan as memory_plan

    plans = memory_plan.plan_recipe(cfg, "cuda" if cfg.train.device.startswith("cuda") else "cpu")
    memory, source = memory_plan.device_memory(cfg.train.device)
    if plan:
        typer.echo(memory_plan.format_plan(plans, cfg.train.device, memory, source))
        return
    short = memory_plan.first_shortfall(plans, memory)
    if short is not None and not ignore_memory_plan:
        index = [sp.stage for sp in plans].index(short.stage)
        need, have = memory_plan.gib(short.peak), memory_plan.gib(memory)
        raise DataError(recipe, None, f"memory plan: stage {short.stage!r} needs an estimated {need} GiB "
                        f"({short.phase}) on {cfg.train.device}, which has {have} GiB ({source}): short by "
                        f"{memory_plan.gib(short.peak - memory)} GiB; see --plan, or pass --ignore-memory-plan",
                        field=f"stages.{index}")
    run_dir = out or Path("runs") / cfg.name
    trainer = Trainer(cfg, run_dir, resume=resume or extend, extend=extend, progress=progress)
    state = trainer.run()
    typer.echo(f"done: {state['global_step']} steps; metrics in {run_dir / 'metrics.jsonl'}, "
               f"stage policies in {run_dir / 'stages'}")
