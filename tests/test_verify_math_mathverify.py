"""math-verify's own boxed regression cases (tests/data/math_mathverify_cases.jsonl), graded by our verifier.

The file is extracted from huggingface/Math-Verify's tests by ``benchmarks/mathverify_cases.py``. Each
case carries math-verify's expected verdict and ours; they differ only where the case says why (and
docs/verify-math.md lists it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acereason.verify.math import verify

DATA = Path(__file__).parent / "data" / "math_mathverify_cases.jsonl"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "verify-math.md"
CASES = [json.loads(line) for line in DATA.open(encoding="utf-8") if line.strip()]


def test_cases_file_is_whole_and_agrees_with_math_verify_on_90_percent() -> None:
    assert len(CASES) >= 90
    assert len({c["id"] for c in CASES}) == len(CASES)
    for c in CASES:
        assert "\\boxed{" in c["pred"] and c["test"].startswith("tests/test_")
        assert (c["expected"] != c["math_verify_expected"]) == ("why" in c), c["id"]
    agree = sum(c["expected"] == c["math_verify_expected"] for c in CASES)
    assert agree / len(CASES) >= 0.90


def test_every_disagreement_with_math_verify_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for c in CASES:
        if "why" in c:
            assert c["id"] in docs, f"{c['id']} differs from math-verify but is not in docs/verify-math.md"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_mathverify_case(case: dict) -> None:
    v = verify(case["pred"], case["answer"], timeout_s=30.0)
    assert v.correct == case["expected"], (
        f"{case['test']} line {case['line']}: got {v.reason} on {v.extracted!r} vs {case['answer']!r}"
        + (f" (we differ from math-verify: {case['why']})" if "why" in case else ""))
