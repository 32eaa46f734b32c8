"""``acereason verify math IN.jsonl --out OUT.jsonl``: grade math responses against gold answers.

In: one JSON object per line, ``{"id", "response", "answer"}``; a numeric ``answer`` is read as the digits
the file writes, in plain decimal (``27.0`` -> ``27``, ``1e-3`` -> ``0.001``). Out: ``{"id", "correct",
"extracted", "reason"}`` per input line, in input order, written atomically (the output appears only
when complete). Exit 0 on success; exit 2 with one line naming ``file:line`` on bad input, or when
``--out`` is the input. A summary of reasons goes to stderr so ungradable samples are seen.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import typer

from acereason.cli_util import check_not_input, err_console, one_line_errors
from acereason.progress import Tracker
from acereason.schema import DataError, SourceFloat, iter_jsonl, json_type, number_text, write_records
from acereason.verify.math import SYMPY_TIMEOUT_S, verify_batch, warm_up


def _read_pairs(inp: Path) -> tuple[list[str], list[tuple[str, str]]]:
    ids: list[str] = []
    pairs: list[tuple[str, str]] = []
    for lineno, obj in iter_jsonl(inp, parse_float=SourceFloat):
        if not isinstance(obj, dict):
            raise DataError(inp, lineno, f"expected a JSON object, got {json_type(obj)}")
        for field in ("id", "response", "answer"):
            if field not in obj:
                raise DataError(inp, lineno, "missing", field=field)
        rid, response, answer = obj["id"], obj["response"], obj["answer"]
        if not isinstance(rid, (str, int)) or isinstance(rid, bool):
            raise DataError(inp, lineno, f"expected a string, got {json_type(rid)}", field="id")
        if not isinstance(response, str):
            raise DataError(inp, lineno, f"expected a string, got {json_type(response)}", field="response")
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
            raise DataError(inp, lineno, f"expected a string or a number, got {json_type(answer)}",
                            field="answer")
        ids.append(str(rid))
        pairs.append((response, answer if isinstance(answer, str) else number_text(answer)))
    return ids, pairs


@one_line_errors
def math_command(
    inp: Path = typer.Argument(..., metavar="IN.jsonl",
                               help="JSONL with {id, response, answer} per line (.jsonl or .jsonl.gz)."),
    out: Path = typer.Option(..., "--out", help="Where to write {id, correct, extracted, reason} per line."),
    workers: int = typer.Option(0, "--workers", help="Processes for grading; 0 = one per CPU core."),
    timeout_s: float = typer.Option(SYMPY_TIMEOUT_S, "--timeout", help="Seconds of sympy work per sample."),
) -> None:
    """Grade math responses: the last \\boxed{} after </think> against the gold answer.

    Progress: a bar on a terminal, else one stderr line per graded batch.
    """
    check_not_input(out, [inp])
    ids, pairs = _read_pairs(inp)
    n_workers = workers or os.cpu_count() or 1
    warm_up(1, wait=True)
    reasons: Counter[str] = Counter()

    with Tracker("verify math", total=len(pairs), unit="samples") as progress:
        verdicts = verify_batch(pairs, workers=n_workers, timeout_s=timeout_s,
                                on_progress=lambda n: progress.update(advance=n))
    for v in verdicts:
        reasons[v.reason] += 1
    rows = ({"id": rid, "correct": v.correct, "extracted": v.extracted, "reason": v.reason}
            for rid, v in zip(ids, verdicts, strict=True))
    n = write_records(out, rows)
    correct = sum(c for r, c in reasons.items() if r.startswith("match_"))
    summary = ", ".join(f"{r}={c}" for r, c in reasons.most_common())
    err_console.print(f"graded {n}: {correct} correct ({summary}) -> {out}", markup=False, highlight=False)
