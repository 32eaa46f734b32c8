"""The ``acereason`` command line (typer). Each command lives beside the code it drives."""

from __future__ import annotations

import typer

from acereason.curate.cli import GreedyListCommand, decontaminate_command
from acereason.curate.cli import app as curate_app
from acereason.demo.cli import demo_command
from acereason.eval.cli import eval_command
from acereason.generate.serve import serve_command
from acereason.integrations.verl_cli import app as export_app
from acereason.report.cli import report_command
from acereason.rl.cli import train_command
from acereason.sources.cli import app as data_app
from acereason.verify.code.cli import code_command
from acereason.verify.math_cli import math_command

app = typer.Typer(
    name="acereason",
    help="AceReason-Nemotron recipe: curate -> verify -> RL (math, then code) -> eval -> report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("demo")(demo_command)
app.add_typer(data_app, name="data")
app.add_typer(curate_app, name="curate")
app.command("decontaminate", cls=GreedyListCommand)(decontaminate_command)
verify_app = typer.Typer(help="Verify responses: math answers and sandboxed code.", no_args_is_help=True)
verify_app.command("math")(math_command)
verify_app.command("code")(code_command)
app.add_typer(verify_app, name="verify")
app.command("train")(train_command)
app.command("eval")(eval_command)
app.command("serve")(serve_command)
app.command("report")(report_command)
app.add_typer(export_app, name="export")
