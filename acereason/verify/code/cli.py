"""``acereason verify code IN.jsonl --out OUT.jsonl``: judge programs in the sandbox.

In: one JSON object per line, ``{"id", "response" | "code", "tests", "fn_name"?, "time_limit_s"?,
"memory_mb"?}`` with ``tests`` in the contract's form. With ``response`` the code is the last
```python block after ``</think>``. Out: ``{"id", "passed", "status", "tests_passed", "tests_total",
"wall_s", "detail"}`` per input line, in input order, written atomically; ``detail`` says why a
submission failed (``"test 3: wrong output: expected '5\\n', got '6\\n'"``, ``"test 0: CPU time limit 6 s
(stopped at 6.00 s)"``), ``null`` when accepted. Exit 0 on success; exit 2 with one line naming
``file:line`` on malformed input (nothing is judged then). A record the judge cannot judge (functional
tests without ``fn_name``) is a ``sandbox_error`` row of its own; the rest of the file is judged. A
status summary goes to stderr.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typer

from acereason.cli_util import check_not_input, err_console, one_line_errors
from acereason.progress import Tracker
from acereason.schema import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIME_LIMIT_S,
    DataError,
    TestCase,
    iter_jsonl,
    json_type,
    parse_record,
    write_records,
)

from .extract import extract_code
from .judge import judge
from .pool import JudgePool, cores

_ALLOWED = {"id", "response", "code", "tests", "fn_name", "time_limit_s", "memory_mb"}
PROGRESS_BATCH = 100  # programs per plain progress line when stderr is not a terminal


def _test_cases(tests: list[Any], inp: Path, lineno: int) -> list[TestCase]:
    """Validate each test, naming it as ``tests.<i>.<field>`` in the error."""
    cases = []
    for i, t in enumerate(tests):
        try:
            cases.append(parse_record(t, TestCase, inp, lineno))
        except DataError as err:
            field = f"tests.{i}" + (f".{err.field}" if err.field else "")
            raise DataError(inp, lineno, err.message, field=field) from None
    return cases


def _read_items(inp: Path, time_limit_s: float | None, memory_mb: int | None) -> list[dict[str, Any]]:
    items = []
    for lineno, obj in iter_jsonl(inp):
        if not isinstance(obj, dict):
            raise DataError(inp, lineno, f"expected a JSON object, got {json_type(obj)}")
        extra = sorted(set(obj) - _ALLOWED)
        if extra:
            raise DataError(inp, lineno, "unexpected field", field=extra[0])
        rid = obj.get("id")
        if rid is None:
            raise DataError(inp, lineno, "missing", field="id")
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            raise DataError(inp, lineno, f"expected a string, got {json_type(rid)}", field="id")
        has_resp, has_code = "response" in obj, "code" in obj
        if has_resp == has_code:
            raise DataError(inp, lineno, "give exactly one of 'response' or 'code'")
        key = "response" if has_resp else "code"
        if not isinstance(obj[key], str):
            raise DataError(inp, lineno, f"expected a string, got {json_type(obj[key])}", field=key)
        tests = obj.get("tests")
        if not isinstance(tests, list) or not tests:
            raise DataError(inp, lineno, "expected a non-empty list of tests", field="tests")
        cases = _test_cases(tests, inp, lineno)
        fn_name = obj.get("fn_name")
        if fn_name is not None and not isinstance(fn_name, str):
            raise DataError(inp, lineno, f"expected a string, got {json_type(fn_name)}", field="fn_name")
        tl = obj.get("time_limit_s", time_limit_s or DEFAULT_TIME_LIMIT_S)
        mem = obj.get("memory_mb", memory_mb or DEFAULT_MEMORY_MB)
        if isinstance(tl, bool) or not isinstance(tl, (int, float)) or tl <= 0:
            raise DataError(inp, lineno, "expected a positive number", field="time_limit_s")
        if isinstance(mem, bool) or not isinstance(mem, int) or mem <= 0:
            raise DataError(inp, lineno, "expected a positive integer", field="memory_mb")
        code = obj["code"] if has_code else extract_code(obj["response"])
        items.append({"id": str(rid), "code": code, "tests": cases, "fn_name": fn_name,
                      "time_limit_s": float(tl), "memory_mb": mem})
    return items


@one_line_errors
def code_command(
    inp: Path = typer.Argument(..., help="JSONL with {id, response|code, tests, fn_name?, time_limit_s?, "
                               "memory_mb?} per line (.jsonl or .jsonl.gz)."),
    out: Path = typer.Option(..., "--out", help="Where to write {id, passed, status, tests_passed, "
                             "tests_total, wall_s, detail} per line."),
    workers: int = typer.Option(0, "--workers", help="Sandbox workers; 0 = one per CPU core."),
    time_limit_s: float = typer.Option(None, "--time-limit", help="Default CPU seconds per test when a line "
                                       f"has no time_limit_s (default {DEFAULT_TIME_LIMIT_S})."),
    memory_mb: int = typer.Option(None, "--memory-mb", help="Default memory limit in MiB when a line has no "
                                  f"memory_mb (default {DEFAULT_MEMORY_MB})."),
    all_tests: bool = typer.Option(False, "--all-tests", help="Run every test (partial-credit counts) "
                                   "instead of stopping at the first failure."),
) -> None:
    """Judge programs in the sandbox: stdin/stdout, functional and check(candidate) tests.

    Progress: a bar on a terminal, else one stderr line per 100 programs judged.
    """
    check_not_input(out, [inp])
    items = _read_items(inp, time_limit_s, memory_mb)
    statuses: Counter[str] = Counter()
    n_workers = workers if workers > 0 else cores()
    with JudgePool(n_workers) as pool:

        def one(item: dict[str, Any]) -> dict[str, Any]:
            v = judge(item["code"], item["tests"], fn_name=item["fn_name"], time_limit_s=item["time_limit_s"],
                      memory_mb=item["memory_mb"], all_tests=all_tests, pool=pool)
            return {"id": item["id"], "passed": v.correct, "status": v.reason, "tests_passed": v.tests_passed,
                    "tests_total": v.tests_total, "wall_s": v.wall_s, "detail": v.detail}

        def rows():
            with Tracker("verify code", total=len(items), every=PROGRESS_BATCH, unit="programs") as progress, \
                    ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="judge") as ex:
                futures = [ex.submit(one, it) for it in items]
                for fut in futures:  # input order; the pool keeps every worker busy meanwhile
                    row = fut.result()
                    statuses[row["status"]] += 1
                    progress.update(advance=1, info=f"{statuses.get('accepted', 0)} accepted")
                    yield row

        n = write_records(out, rows())
    passed = statuses.get("accepted", 0)
    summary = ", ".join(f"{s}={c}" for s, c in statuses.most_common())
    err_console.print(f"judged {n}: {passed} accepted ({summary}) -> {out}", markup=False, highlight=False)
