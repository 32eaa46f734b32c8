"""Types shared across stages, and their streaming JSONL / Parquet I/O.

These are the only types that cross stage boundaries (DESIGN.md "Contracts"). Every stage reads and
writes them through :func:`read_records` / :func:`write_records`, so any stage can rerun alone.

* Reading streams row by row; a bad row raises :class:`DataError` naming ``file:line`` and the field.
* Writing goes to a temp file in the destination directory and is renamed into place only after the
  last row is written, so an interrupted or failed write never leaves a half file.
* Parquet holds the same columns as JSONL; ``meta`` (free-form) is stored as a JSON string column so
  that a JSONL -> Parquet -> JSONL round trip is lossless whatever ``meta`` holds.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Domain = Literal["math", "code"]
TestType = Literal["stdin", "functional", "check"]

DEFAULT_TIME_LIMIT_S = 6.0
DEFAULT_MEMORY_MB = 1024


class DataError(ValueError):
    """A bad input record or file. ``str()`` is one line: ``path:line: field 'x': what is wrong``."""

    def __init__(self, path: str | os.PathLike[str] | None, line: int | None, message: str,
                 field: str | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        where = self.path or "<input>"
        if line is not None:
            where += f":{line}"
        what = f"field '{field}': {message}" if field else message
        super().__init__(f"{where}: {what}".replace("\n", " "))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class TestCase(_Strict):
    """One test in LiveCodeBench's form.

    * ``stdin``: ``input`` is fed to standard input, ``output`` is the expected standard output.
    * ``functional``: ``input`` holds one JSON value per line (one per positional argument of
      ``fn_name``), ``output`` one JSON value (the expected return value).
    * ``check``: ``input`` is Python source defining ``check(candidate)``; ``output`` is empty. It passes
      only if the judge itself sees ``check`` return (never by the program's exit code).
    """

    __test__ = False  # not a pytest class

    testtype: TestType
    input: str
    output: str = ""

    @model_validator(mode="after")
    def _check_output(self) -> TestCase:
        if self.testtype == "check" and self.output:
            raise ValueError("a 'check' test keeps its assertions in 'input'; 'output' must be empty")
        return self


class Problem(_Strict):
    """One RL / evaluation problem (DESIGN.md "Contracts").

    ``prompt`` is the bare statement (no chat template, no instruction suffix); ``answer`` is the math
    gold answer as LaTeX/text, null only when the source itself has none (a handful of real rows do;
    converters keep every record and curation drops these); ``difficulty`` is a validator pass rate in
    [0, 1] (a source's own scale, e.g. DeepScaleR's 1-10, goes to ``meta``). Code problems carry
    ``tests`` and, for functional or check tests, ``fn_name``.
    """

    id: str = Field(min_length=1)
    domain: Domain
    prompt: str = Field(min_length=1)
    answer: str | None = None
    source: str
    difficulty: float | None = Field(default=None, ge=0.0, le=1.0)
    meta: dict[str, Any] = Field(default_factory=dict)
    tests: list[TestCase] | None = None
    fn_name: str | None = None
    starter_code: str | None = None
    time_limit_s: float = Field(default=DEFAULT_TIME_LIMIT_S, gt=0)
    memory_mb: int = Field(default=DEFAULT_MEMORY_MB, gt=0)

    @model_validator(mode="after")
    def _check_domain(self) -> Problem:
        if self.answer is not None and not self.answer.strip():
            raise ValueError("must be non-empty text, or null when the source has no gold answer")
        if self.domain == "code":
            if not self.tests:
                raise ValueError("a code problem needs at least one test in 'tests'")
            if any(t.testtype == "functional" for t in self.tests) and not self.fn_name:
                raise ValueError("functional tests need 'fn_name' on the problem")
        return self


class Rollout(_Strict):
    """One sampled response to a problem, with its reward (written by rollout/train/eval stages)."""

    problem_id: str
    sample_index: int = Field(ge=0)
    prompt: str
    response: str
    token_ids: list[int] | None = None
    finish_reason: Literal["stop", "length"] = "stop"
    reward: float | None = None
    verdict: Verdict | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Verdict(_Strict):
    """The outcome of verifying one response.

    ``reason`` is the math reason (``match_exact``, ``mismatch``, ``no_answer``, ``timeout``, ...) or the
    code status (``accepted``, ``wrong_answer``, ``time_limit``, ...). ``extracted`` is the answer or code
    the verifier graded. Test counts and wall time are filled by the code judge.
    """

    correct: bool
    reason: str
    extracted: str | None = None
    tests_passed: int | None = None
    tests_total: int | None = None
    wall_s: float | None = None
    detail: str | None = None


class EvalRecord(_Strict):
    """One graded evaluation sample (``samples.jsonl`` of an eval run)."""

    benchmark: str
    problem_id: str
    sample_index: int = Field(ge=0)
    response: str
    finish_reason: Literal["stop", "length"] = "stop"
    correct: bool
    reason: str
    extracted: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


Rollout.model_rebuild()

M = TypeVar("M", bound=BaseModel)

# Columns stored as JSON text in Parquet because their content is free-form.
_JSON_COLUMNS = {"meta"}


def _first_error(err: ValidationError) -> tuple[str | None, str]:
    e = err.errors()[0]
    field = ".".join(str(p) for p in e.get("loc", ())) or None
    msg = e.get("msg", "invalid value")
    if e.get("type") == "missing":
        msg = "missing"
    elif e.get("type", "").endswith("_type") or e.get("type") in {"literal_error", "extra_forbidden"}:
        got = e.get("input")
        msg = f"{msg} (got {type(got).__name__} {json.dumps(got, default=str)[:60]})"
    return field, msg


def parse_record(obj: Any, model: type[M], path: str | os.PathLike[str] | None = None,
                 line: int | None = None) -> M:
    """Validate one decoded row against ``model``; raise :class:`DataError` naming path, line, field."""
    if not isinstance(obj, dict):
        raise DataError(path, line, f"expected a JSON object, got {type(obj).__name__}")
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        field, msg = _first_error(err)
        raise DataError(path, line, msg, field=field) from None


def open_text(path: str | os.PathLike[str]) -> io.TextIOBase:
    """Open a text file for reading, transparently gunzipping ``*.gz``."""
    p = str(path)
    if p.endswith(".gz"):
        return gzip.open(p, "rt", encoding="utf-8")  # type: ignore[return-value]
    return open(p, encoding="utf-8")


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, decoded_object)`` for each non-blank line; bad JSON raises DataError."""
    try:
        fh = open_text(path)
    except OSError as err:
        raise DataError(path, None, f"cannot open: {err.strerror or err}") from None
    with fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(path, lineno, f"invalid JSON: {err.msg} at column {err.colno}") from None
        except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as err:
            raise DataError(path, None, f"not readable as UTF-8 text: {err}") from None


def is_parquet(path: str | os.PathLike[str]) -> bool:
    return str(path).endswith(".parquet")


def iter_parquet_rows(path: str | os.PathLike[str], batch_size: int = 1024) -> Iterator[tuple[int, dict]]:
    """Yield ``(row_number, row_dict)`` from a Parquet file, streaming record batches (1-based rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(str(path))
    except (OSError, pa.ArrowException) as err:
        raise DataError(path, None, f"not a readable Parquet file: {err}") from None
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        for rec in batch.to_pylist():
            row += 1
            yield row, rec


def _decode_json_columns(path: str | os.PathLike[str], row: int, rec: dict) -> dict:
    for col in _JSON_COLUMNS:
        val = rec.get(col)
        if isinstance(val, str):
            try:
                rec[col] = json.loads(val)
            except json.JSONDecodeError as err:
                raise DataError(path, row, f"invalid JSON text: {err.msg}", field=col) from None
    return rec


def read_records(path: str | os.PathLike[str], model: type[M]) -> Iterator[M]:
    """Stream ``model`` records from a JSONL(.gz) or Parquet file, validating each row."""
    if is_parquet(path):
        for row, rec in iter_parquet_rows(path):
            yield parse_record(_decode_json_columns(path, row, rec), model, path, row)
    else:
        for lineno, obj in iter_jsonl(path):
            yield parse_record(obj, model, path, lineno)


def read_problems(path: str | os.PathLike[str]) -> Iterator[Problem]:
    """Stream :class:`Problem` records from one of our JSONL/Parquet files."""
    return read_records(path, Problem)


def _dump(rec: BaseModel | dict) -> dict:
    return rec.model_dump(mode="json") if isinstance(rec, BaseModel) else rec


def _temp_beside(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def write_records(path: str | os.PathLike[str], records: Iterable[BaseModel | dict],
                  model: type[BaseModel] | None = None, batch_size: int = 1024) -> int:
    """Write records to JSONL (optionally ``.gz``) or Parquet atomically; return the count written.

    The file appears under its final name only once every record is written: the write goes to a
    temp file in the same directory and is renamed. If ``records`` raises midway (e.g. a bad input
    row), the temp file is removed and no output is left behind; an existing file is untouched.
    ``model`` fixes the Parquet schema (inferred from the data otherwise).
    """
    path = Path(path)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        if is_parquet(path):
            n = _write_parquet(tmp, records, model, batch_size)
        else:
            n = 0
            opener = gzip.open(tmp, "wt", encoding="utf-8") if path.suffix == ".gz" else open(  # noqa: SIM115
                tmp, "w", encoding="utf-8")
            with opener as fh:
                for rec in records:
                    fh.write(json.dumps(_dump(rec), ensure_ascii=False) + "\n")
                    n += 1
                fh.flush()
        os.replace(tmp, path)
        return n
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _arrow_schema(model: type[BaseModel] | None):  # -> pa.Schema | None
    import pyarrow as pa

    if model is Problem:
        test = pa.struct([("testtype", pa.string()), ("input", pa.string()), ("output", pa.string())])
        return pa.schema([
            ("id", pa.string()), ("domain", pa.string()), ("prompt", pa.string()),
            ("answer", pa.string()), ("source", pa.string()), ("difficulty", pa.float64()),
            ("meta", pa.string()), ("tests", pa.list_(test)), ("fn_name", pa.string()),
            ("starter_code", pa.string()), ("time_limit_s", pa.float64()), ("memory_mb", pa.int64()),
        ])
    return None


def _write_parquet(tmp: str, records: Iterable[BaseModel | dict], model: type[BaseModel] | None,
                   batch_size: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(model)
    writer: pq.ParquetWriter | None = None
    n = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal writer, schema
        if not batch:
            return
        table = pa.Table.from_pylist(batch, schema=schema)
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(tmp, schema)
        writer.write_table(table)
        batch.clear()

    try:
        for rec in records:
            row = _dump(rec)
            for col in _JSON_COLUMNS & row.keys():
                row[col] = json.dumps(row[col], ensure_ascii=False, sort_keys=False)
            batch.append(row)
            n += 1
            if len(batch) >= batch_size:
                flush()
        flush()
        if writer is None:  # no rows: still write a valid, empty file with the schema if known
            empty = pa.Table.from_pylist([], schema=schema) if schema is not None else pa.table({})
            pq.write_table(empty, tmp)
    finally:
        if writer is not None:
            writer.close()
    return n
