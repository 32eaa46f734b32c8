"""LiveCodeBench readers: DeepCoder's JSON layout and raw ``code_generation_lite`` rows.

Raw rows carry private tests as base64(zlib(pickle(json-string))). Pickle can run arbitrary code on
load, so the blob is decoded with a restricted unpickler that admits only plain containers, strings and
numbers (no globals at all); a blob that asks for anything else is rejected as bad data.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError, TestCase
from acereason.sources.code_common import fn_name_from_starter, parse_json_field
from acereason.sources.common import iter_rows, keep_extra, make_problem, need
from acereason.sources.naming import file_tag
from acereason.sources.registry import register_reader


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global: only str/bytes/int/float/bool/None/list/tuple/dict/set."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in test data")


def safe_unpickle(blob: bytes, max_bytes: int = 1 << 30) -> Any:
    """Load a pickle that may only hold plain values; raises ``pickle.UnpicklingError`` otherwise."""
    if len(blob) > max_bytes:
        raise pickle.UnpicklingError("pickle larger than the allowed size")
    return _PlainUnpickler(io.BytesIO(blob)).load()


def decode_private_tests(blob: str, max_bytes: int = 1 << 30) -> list[dict]:
    """Decode LiveCodeBench ``private_test_cases``: plain JSON text, or base64 -> zlib -> pickle -> JSON."""
    text = blob.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    raw = base64.b64decode(text, validate=False)
    d = zlib.decompressobj()
    data = d.decompress(raw, max_bytes)
    if d.unconsumed_tail:
        raise ValueError("decompressed private tests exceed the size limit")
    value = safe_unpickle(data, max_bytes)
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return json.loads(value) if isinstance(value, str) else value


def lcb_tests(items: Any, path: Path, loc: int, field: str) -> list[TestCase]:
    """LiveCodeBench test dicts ``{input, output, testtype}`` -> TestCase list (validated)."""
    if not isinstance(items, list):
        raise DataError(path, loc, f"expected a list of tests, got {type(items).__name__}", field=field)
    out = []
    for i, t in enumerate(items):
        if not isinstance(t, dict) or t.get("testtype") not in ("stdin", "functional"):
            raise DataError(path, loc, "each test needs testtype 'stdin' or 'functional'", field=f"{field}.{i}")
        out.append(TestCase(testtype=t["testtype"], input=str(t.get("input", "")),
                            output=str(t.get("output", ""))))
    return out


def _is_deepcoder_lcb(first: Any) -> bool:
    if not (isinstance(first, dict) and "problem" in first and "starter_code" in first):
        return False
    tests = first.get("tests")
    if isinstance(tests, str):
        return '"testtype"' in tests or "'testtype'" in tests
    return isinstance(tests, list) and bool(tests) and isinstance(tests[0], dict) and "testtype" in tests[0]


@register_reader("lcb_deepcoder",
                 "DeepCoder LiveCodeBench JSON: [{problem, starter_code, tests:[{input,output,testtype}]}]",
                 detect=lambda p, first: _is_deepcoder_lcb(first), priority=20)
def read_lcb_deepcoder(path: Path, tag: str | None = None) -> Iterator[Any]:
    """DeepCoder's LiveCodeBench files (public tests only); ``fn_name`` comes from ``starter_code``."""
    tag = tag or file_tag(path)
    for loc, row in iter_rows(path):
        prompt = need(row, "problem", path, loc)
        tests = lcb_tests(parse_json_field(row.get("tests"), path, loc, "tests"), path, loc, "tests")
        starter = row.get("starter_code") or None
        yield make_problem(
            path, loc, id=f"{tag}-{loc - 1}", domain="code", prompt=prompt.strip(), source=tag,
            tests=tests, starter_code=starter, fn_name=fn_name_from_starter(starter),
            meta=keep_extra(row, {"problem", "tests", "starter_code"}),
        )


@register_reader("lcb_raw",
                 "raw LiveCodeBench code_generation_lite rows: question_content, public_test_cases, "
                 "private_test_cases (base64+zlib+pickle), metadata.func_name",
                 detect=lambda p, first: isinstance(first, dict) and "question_content" in first
                 and "public_test_cases" in first, priority=10)
def read_lcb_raw(path: Path, tag: str | None = None) -> Iterator[Any]:
    """Raw LiveCodeBench rows: public plus decoded private tests, contest date and platform in meta.
    Ids are the source's own; ``tag`` is not used."""
    for loc, row in iter_rows(path):
        prompt = need(row, "question_content", path, loc)
        public = parse_json_field(row.get("public_test_cases") or "[]", path, loc, "public_test_cases")
        try:
            private = decode_private_tests(str(row.get("private_test_cases") or ""))
        except (ValueError, zlib.error, pickle.UnpicklingError, EOFError, TypeError, UnicodeDecodeError) as err:
            raise DataError(path, loc, f"cannot decode: {err}", field="private_test_cases") from None
        tests = lcb_tests(public, path, loc, "public_test_cases") + lcb_tests(
            private, path, loc, "private_test_cases")
        meta_field = parse_json_field(row.get("metadata") or "{}", path, loc, "metadata")
        starter = row.get("starter_code") or None
        fn_name = (meta_field or {}).get("func_name") or fn_name_from_starter(starter)
        meta = keep_extra(row, {"question_content", "public_test_cases", "private_test_cases", "metadata",
                                "starter_code"})
        meta.update(metadata=meta_field, public_tests=len(public), private_tests=len(private))
        qid = row.get("question_id") or loc - 1
        yield make_problem(
            path, loc, id=f"lcb-{qid}", domain="code", prompt=prompt.strip(),
            source=f"livecodebench/{row.get('platform') or 'unknown'}", tests=tests, starter_code=starter,
            fn_name=fn_name, meta=meta,
        )
