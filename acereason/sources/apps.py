"""APPS / TACO readers: the raw APPS directory layout and TACO-style tables.

Both keep tests in ``input_output`` = ``{inputs, outputs, fn_name?}``. Without ``fn_name`` the tests are
stdin/stdout; with it each ``inputs[i]`` is the argument list of a call. APPS wraps call results of its
Codewars problems in a one-element list (``[[false]]``) while its LeetCode problems do not (``[9]``); when
*every* expected value of a problem is a one-element list we unwrap them and record
``meta.apps_outputs_unwrapped = true`` (APPS's own grader accepts either form).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError, TestCase
from acereason.sources.code_common import fn_name_from_starter, functional_test, parse_json_field, stdin_tests
from acereason.sources.common import iter_rows, keep_extra, make_problem, need
from acereason.sources.naming import file_tag
from acereason.sources.registry import register_reader


def apps_tests(io: Any, path: Path | str, loc: int | None, field: str = "input_output") -> tuple[
        list[TestCase], str | None, bool]:
    """Tests from an APPS ``input_output`` object: ``(tests, fn_name, outputs_unwrapped)``."""
    if not isinstance(io, dict):
        raise DataError(path, loc, "expected an object {inputs, outputs, fn_name?}", field=field)
    inputs, outputs, fn_name = io.get("inputs"), io.get("outputs"), io.get("fn_name")
    if not fn_name:
        return stdin_tests(inputs, outputs, path, loc, field), None, False
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise DataError(path, loc, "inputs and outputs must be lists of equal length", field=field)
    unwrap = bool(outputs) and all(isinstance(o, list) and len(o) == 1 for o in outputs)
    tests = []
    for args, expected in zip(inputs, outputs, strict=True):
        if not isinstance(args, list):
            args = [args]
        tests.append(functional_test(args, expected[0] if unwrap else expected))
    return tests, str(fn_name), unwrap


def _problem(path: Path, loc: int | None, pid: str, question: str, io: Any, starter: str | None,
             meta: dict) -> Any:
    tests, fn_name, unwrapped = apps_tests(io, path, loc)
    if not tests:
        raise DataError(path, loc, "no tests", field="input_output")
    if unwrapped:
        meta["apps_outputs_unwrapped"] = True
    return make_problem(path, loc, id=pid, domain="code", prompt=question.strip(), source=meta.pop(
        "_source"), tests=tests, fn_name=fn_name or fn_name_from_starter(starter), starter_code=starter or None,
        meta=meta)


def _read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"invalid JSON: {err.msg}") from None


def _real(path: Path) -> Path:
    """``path`` made absolute with ``.``/``..`` resolved (symlinks are kept: their names are the layout)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _problem_dirs(path: Path) -> list[Path]:
    if (path / "question.txt").exists():
        return [path]
    return sorted(d for d in path.iterdir() if d.is_dir() and (d / "question.txt").exists())


@register_reader("apps_dir", "APPS directory: <id>/{question.txt, input_output.json, solutions.json, "
                 "metadata.json, starter_code.py}",
                 detect=lambda p, first: p.is_dir() and bool(_problem_dirs(p)), priority=5)
def read_apps_dir(path: Path, tag: str | None = None) -> Iterator[Any]:
    """One problem per sub-directory (or ``path`` itself when it is a problem directory). Ids are APPS's
    own (``apps-<split>-<dir>``); ``tag`` is not used."""
    dirs = _problem_dirs(path)
    if not dirs:
        raise DataError(path, None, "no APPS problem directories (with question.txt) found")
    # Ids follow APPS's own layout (<split>/<id>), with names taken from the normalised path so that
    # `train/0001/..`, `.` and `./train` name the same directories.
    split = _real(dirs[0]).parent.name or "apps"
    for d in dirs:
        io_file = d / "input_output.json"
        if not io_file.exists():
            raise DataError(io_file, None, "missing: APPS problem without tests")
        name = _real(d).name
        meta: dict[str, Any] = {"_source": f"apps/{split}", "apps_dir": name}
        if (d / "metadata.json").exists():
            meta.update(_read_json_file(d / "metadata.json"))
        if (d / "solutions.json").exists():
            meta["solutions"] = _read_json_file(d / "solutions.json")
        starter = (d / "starter_code.py").read_text(encoding="utf-8") if (d / "starter_code.py").exists() else None
        question = (d / "question.txt").read_text(encoding="utf-8")
        yield _problem(io_file, None, f"apps-{split}-{name}", question, _read_json_file(io_file), starter, meta)


@register_reader("taco", "TACO / APPS table (JSONL or Parquet): {question, solutions, input_output, "
                 "starter_code, difficulty, url, ...}",
                 detect=lambda p, first: isinstance(first, dict) and "question" in first
                 and "input_output" in first, priority=12)
def read_taco(path: Path, tag: str | None = None) -> Iterator[Any]:
    """TACO (and APPS on the hub) rows; ``solutions`` and ``input_output`` may be JSON strings."""
    tag = tag or file_tag(path)
    for loc, row in iter_rows(path):
        question = need(row, "question", path, loc)
        io = parse_json_field(need(row, "input_output", path, loc, (str, dict)), path, loc, "input_output")
        meta = keep_extra(row, {"question", "input_output", "starter_code", "solutions"})
        if row.get("solutions"):
            meta["solutions"] = parse_json_field(row["solutions"], path, loc, "solutions")
        meta["_source"] = row.get("source") if isinstance(row.get("source"), str) else tag
        pid = row.get("problem_id", row.get("id", loc - 1))
        yield _problem(path, loc, f"{tag}-{pid}", question, io, row.get("starter_code"), meta)
