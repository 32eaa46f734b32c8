"""What every ``acereason`` subcommand shares: the stderr console and the one-line error exit (code 2)."""

from __future__ import annotations

import typer
from rich.console import Console

err_console = Console(stderr=True, soft_wrap=True)


def fail(err: Exception) -> typer.Exit:
    """Print a one-line error to stderr and return the exit (code 2) for the caller to raise."""
    err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)
