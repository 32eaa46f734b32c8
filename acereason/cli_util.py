"""What every ``acereason`` subcommand shares: the one-line error exit (code 2) and argument validation.

The validation layer: every CLI checks its values with the functions here *before* any model, server or
data file is loaded, so a bad value costs nothing and says which option or field is wrong. Each check
raises :class:`OptionError` (a ``ValueError``); a command wrapped in :func:`one_line_errors` turns it, and
every :class:`~acereason.schema.DataError`, into ``error: <one line>`` on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


class OptionError(ValueError):
    """A bad command-line option or config field. ``str()`` is one line naming it."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        label = name if name.startswith("-") else f"field '{name}'"
        super().__init__(f"{label}: {message}".replace("\n", " "))


def fail(err: Exception) -> typer.Exit:
    """Print a one-line error to stderr and return the exit (code 2) for the caller to raise."""
    err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def one_line_errors(fn: F) -> F:
    """Run a command so that bad input (``DataError``, ``OptionError``, ``FileExistsError``) exits 2 with one
    line instead of a traceback. Programming errors still raise: they are bugs to report, not input to fix."""
    from acereason.schema import DataError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (DataError, OptionError, FileExistsError) as err:
            raise fail(err) from None

    return wrapper  # type: ignore[return-value]


def check_range(name: str, value: float | None, *, gt: float | None = None, ge: float | None = None,
                lt: float | None = None, le: float | None = None) -> None:
    """Raise :class:`OptionError` unless ``value`` (if given) lies within the stated bounds."""
    if value is None:
        return
    for bound, ok, word in ((gt, lambda b: value > b, ">"), (ge, lambda b: value >= b, ">="),
                            (lt, lambda b: value < b, "<"), (le, lambda b: value <= b, "<=")):
        if bound is not None and not ok(bound):
            raise OptionError(name, f"must be {word} {bound:g}, got {value:g}")


def parse_assignment(name: str, text: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (both non-empty); raise :class:`OptionError` naming the option otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise OptionError(name, f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def import_target(name: str, spec: str) -> Callable[..., Any]:
    """Import ``module:attribute`` and return the callable; raise :class:`OptionError` naming ``name`` when
    the spec is malformed, the module cannot be imported, or the attribute is missing or not callable."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise OptionError(name, f"expected 'module:function', got {spec!r}")
    try:
        mod = importlib.import_module(module)
    except Exception as err:  # any import failure is in the user's module: reported in one line
        raise OptionError(name, f"cannot import module {module!r}: {type(err).__name__}: {err}") from None
    obj = mod
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise OptionError(name, f"module {module!r} has no attribute {attr!r}")
    if not callable(obj):
        raise OptionError(name, f"{spec!r} is not callable")
    return obj


def check_device(name: str, device: str) -> str:
    """Validate a torch device string for this machine and return it (``auto`` -> ``cuda`` or ``cpu``).

    Accepts ``auto``, ``cpu``, ``cuda``, ``cuda:N`` and ``mps``; a CUDA device on a build or machine
    without one is an error here, before any model loads, not a traceback from inside torch.
    """
    import torch

    dev = device.strip().lower()
    if dev == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cpu":
        return dev
    if dev == "cuda" or dev.startswith("cuda:"):
        idx = dev.partition(":")[2]
        if idx and not idx.isdigit():
            raise OptionError(name, f"bad CUDA device {device!r}; use cuda or cuda:N")
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA device is visible"
            raise OptionError(name, f"{device!r} requested but {why}; use cpu or auto")
        if idx and int(idx) >= torch.cuda.device_count():
            raise OptionError(name, f"{device!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if dev == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise OptionError(name, "'mps' requested but MPS is not available; use cpu or auto")
        return dev
    raise OptionError(name, f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")


def check_not_input(out: str | os.PathLike[str], inputs: list[str | os.PathLike[str]],
                    name: str = "--out") -> None:
    """Refuse an output path that is one of the inputs (the write would replace the data it reads)."""
    o = Path(out)
    for i in inputs:
        p = Path(i)
        same = p.exists() and o.exists() and os.path.samefile(p, o)
        if same or o.resolve() == p.resolve():
            raise OptionError(name, f"{out} is also an input; write somewhere else")
