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
import zlib
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from acereason.atomic import atomic_path

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
        self.message = message
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


# pydantic's type-error codes -> what the field should have held, in JSON terms.
_EXPECTED = {"string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
             "float_type": "a number", "float_parsing": "a number", "bool_type": "a boolean",
             "bool_parsing": "a boolean", "list_type": "a list", "dict_type": "an object",
             "model_type": "an object", "model_attributes_type": "an object"}


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``list``, ``object``, ``null``...), for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for kind, name in ((str, "string"), (int, "integer"), (float, "number"), (list, "list"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _first_error(err: ValidationError) -> tuple[str | None, str]:
    e = err.errors()[0]
    field = ".".join(str(p) for p in e.get("loc", ())) or None
    msg = e.get("msg", "invalid value")
    kind = e.get("type", "")
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")  # pydantic's prefix for our own validators' messages
    elif kind == "missing":
        msg = "missing"
    elif kind in _EXPECTED:
        msg = f"expected {_EXPECTED[kind]}, got {json_type(e.get('input'))}"
    elif kind.endswith("_type") or kind in {"literal_error", "extra_forbidden"}:
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


class SourceFloat(float):
    """A JSON number as decoded from a source file, keeping the text it was written as (``1e-3``).

    It is a plain ``float`` everywhere else (arithmetic, ``json.dumps``, pydantic); code that wants the
    source's own form reads ``text``, so a gold answer keeps it and its precision
    (``3.14159265358979323846`` would lose digits as a float). Decode with ``parse_float=SourceFloat``.
    """

    __slots__ = ("text",)

    def __new__(cls, text: str) -> SourceFloat:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj


def number_text(value: int | float) -> str:
    """A JSON number as answer text: the digits the source wrote (``0.50``, ``3.14159265358979323846``),
    in plain decimal because the math verifier reads ``0.001`` but not ``1e-3``; integral values lose
    their fraction (``27.0`` -> ``27``). Exponents beyond 50 keep their written form."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a JSON number: {value!r}")
    if isinstance(value, int):
        return str(value)
    text = value.text if isinstance(value, SourceFloat) else repr(value)
    d = Decimal(text)
    if not d.is_finite() or abs(d.adjusted()) > 50:
        return text
    return str(int(d)) if d == d.to_integral_value() else format(d, "f")


_GZIP_MAGIC = b"\x1f\x8b"


def open_text(path: str | os.PathLike[str]) -> io.TextIOBase:
    """Open a text file for reading, transparently gunzipping ``*.gz``.

    A ``.gz`` name on a file that is not gzip raises :class:`DataError` ("not a gzip file") here, at open,
    rather than as an obscure error on the first read.
    """
    p = str(path)
    if p.endswith(".gz"):
        with open(p, "rb") as raw:
            magic = raw.read(2)
        if magic != _GZIP_MAGIC:
            raise DataError(p, None, "not a gzip file (the name ends in .gz but the content is not gzip)"
                            if magic else "empty file")
        return gzip.open(p, "rt", encoding="utf-8")  # type: ignore[return-value]
    return open(p, encoding="utf-8")


def read_failure(path: str | os.PathLike[str], err: Exception) -> DataError:
    """The one-line DataError for a file that cannot be decoded (bad gzip stream, not UTF-8, unreadable)."""
    if isinstance(err, EOFError):
        return DataError(path, None, "truncated gzip file (compressed stream ends early)")
    if isinstance(err, gzip.BadGzipFile | zlib.error):
        return DataError(path, None, f"corrupt gzip data: {err}")
    if isinstance(err, UnicodeDecodeError):
        hint = ""
        try:
            with open(path, "rb") as raw:
                if raw.read(2) == _GZIP_MAGIC:
                    hint = " (the content is gzip: name the file *.gz)"
        except OSError:
            pass
        return DataError(path, None, f"not UTF-8 text{hint}")
    if isinstance(err, OSError):
        return DataError(path, None, f"cannot read: {err.strerror or err}")
    raise TypeError(f"not a read failure: {err!r}")


# Decoding errors that reading a text file can raise; read_failure() words each of them.
READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)


def json_error(err: json.JSONDecodeError, *, with_line: bool = True) -> str:
    """``invalid JSON at line L col C: <why>``, with ``(truncated?)`` when the text stops mid-value."""
    doc = err.doc or ""
    truncated = err.pos >= len(doc.rstrip()) or err.msg.startswith("Unterminated string")
    where = f"line {err.lineno} col {err.colno}" if with_line else f"col {err.colno}"
    why = err.msg.removesuffix(" starting at")  # the position is given already, as line and col
    return f"invalid JSON at {where}: {why}" + (" (truncated?)" if truncated else "")


def iter_jsonl(path: str | os.PathLike[str],
               parse_float: Callable[[str], Any] | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, decoded_object)`` for each non-blank line; bad JSON raises DataError.

    ``parse_float`` is passed to :func:`json.loads` (source readers keep a number's text with it).
    """
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
                    # without its newline, so an error at the end of the line is at a column of this line
                    yield lineno, json.loads(line.rstrip("\r\n"), parse_float=parse_float)
                except json.JSONDecodeError as err:
                    raise DataError(path, lineno, json_error(err, with_line=False)) from None
        except READ_ERRORS as err:
            raise read_failure(path, err) from None


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
    batches = pf.iter_batches(batch_size=batch_size)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, pa.ArrowException) as err:  # a damaged row group further into the file
            raise DataError(path, row + 1, f"cannot read Parquet data: {err}") from None
        if batch is None:
            return
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


def write_records(path: str | os.PathLike[str], records: Iterable[BaseModel | dict],
                  model: type[BaseModel] | None = None, batch_size: int = 1024) -> int:
    """Write records to JSONL (optionally ``.gz``) or Parquet atomically; return the count written.

    The file appears under its final name only once every record is written (via
    :func:`acereason.atomic.atomic_path`: a temp file beside it, renamed, with the umask's mode). If
    ``records`` raises midway (e.g. a bad input row), no output is left behind and an existing file is
    untouched. ``model`` fixes the Parquet schema (inferred from the data otherwise).
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        if is_parquet(path):
            return _write_parquet(str(tmp), records, model, batch_size)
        n = 0
        opener = gzip.open(tmp, "wt", encoding="utf-8") if path.suffix == ".gz" else open(  # noqa: SIM115
            tmp, "w", encoding="utf-8")
        with opener as fh:
            for rec in records:
                fh.write(json.dumps(_dump(rec), ensure_ascii=False) + "\n")
                n += 1
        return n


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
