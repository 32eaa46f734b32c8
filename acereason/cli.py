"""The ``acereason`` command line (typer). Sub-commands live beside the code they drive."""

from __future__ import annotations

import typer

from acereason.sources.cli import app as data_app

app = typer.Typer(
    name="acereason",
    help="AceReason-Nemotron recipe: curate -> verify -> RL (math, then code) -> eval -> report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")

verify_app = typer.Typer(help="Verify responses: math answers and sandboxed code.", no_args_is_help=True)
app.add_typer(verify_app, name="verify")
# Verifier commands register themselves on `verify_app` (see acereason/verify/*_cli.py).
