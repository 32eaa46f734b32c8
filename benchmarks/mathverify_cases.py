"""math-verify's own boxed regression cases, extracted from a local copy of its repository.

    python benchmarks/mathverify_cases.py PATH/TO/Math-Verify [--out tests/data/math_mathverify_cases.jsonl]
    python benchmarks/mathverify_cases.py --check            # grade the saved cases with our verifier

The first form reads every ``tests/*.py`` of the Math-Verify repository (``huggingface/Math-Verify``;
nothing of it is imported or run), finds each ``@pytest.mark.parametrize`` whose argument names include
``gold``, ``pred`` and ``expected`` (or ``result``), and keeps every case whose prediction holds a
``\\boxed{``. Each case is saved with its source test (file, function, line) and math-verify's
expected verdict. The verdict *we* expect is the same, except for the cases listed in
``OURS_DIFFERS`` below, where math-verify is too lenient; the reason is stored in the case
(``why``) and explained in docs/verify-math.md.

How a case is graded by us: the prediction is the response (no ``</think>`` in these, so all of it is
the final part), and the gold answer (field ``answer``) is the gold string, or, when the gold is a
whole solution, its last box or its "The final answer is $X$" (see :func:`gold_answer`).

``--check`` grades the saved file and prints the agreement with math-verify's expectations and with
ours, and every case where we differ from math-verify.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from acereason.atomic import write_text  # noqa: E402

OUT = ROOT / "tests" / "data" / "math_mathverify_cases.jsonl"

# (test function, gold, last 60 characters of pred) -> why math-verify's expected verdict is wrong for the
# paper's reward (1 only when the final boxed answer is right). Each is listed in docs/verify-math.md.
_GOLD_LAST_BOX = ("the gold is a solution with several boxes; like MATH's answers, its answer is its last box ({}), "
                  "and {} is not {} (a list with an extra item); a gold that is the list is written as one")
OURS_DIFFERS: dict[tuple[str, str, str], str] = {
    ("test_math_extraction_additional_cases", "$10455$",
     " Answer: The final answer is $10,455$. I hope it is correct."):
        "the final answer 10,455 is never boxed; the last box, \\boxed{255}, is an intermediate step. The reward "
        "reads the final boxed answer, with no fallback to unboxed text",
    ("test_math_extraction_additional_cases", "$\\boxed{1}\\boxed{2}$", "$\\boxed{1,2}$"):
        _GOLD_LAST_BOX.format("2", "1,2", "2"),
    ("test_numina_cases", "\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", "$\\boxed{-2,1}$."):
        _GOLD_LAST_BOX.format("-2", "-2,1", "-2"),
    ("test_open_thoughts", "\\boxed{1} papers and \\boxed{2} bins", "$\\boxed{1,2}$"):
        _GOLD_LAST_BOX.format("2", "1,2", "2"),
}


def _names(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [n.strip() for n in node.value.split(",")]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant)]
    return []


def _is_parametrize(dec: ast.expr) -> bool:
    return (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
            and dec.func.attr == "parametrize")


def extract(repo: Path) -> list[dict[str, Any]]:
    """Every parametrised (gold, pred, expected) case of ``repo/tests`` whose pred holds ``\\boxed{``."""
    tests = repo / "tests"
    if not tests.is_dir():
        raise SystemExit(f"error: {tests}: not a directory (give the path of a Math-Verify checkout)")
    cases: list[dict[str, Any]] = []
    for path in sorted(tests.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for dec in fn.decorator_list:
                if not _is_parametrize(dec) or len(dec.args) < 2:
                    continue
                names = _names(dec.args[0])
                exp_key = "expected" if "expected" in names else "result" if "result" in names else None
                if "gold" not in names or "pred" not in names or exp_key is None:
                    continue
                if not isinstance(dec.args[1], (ast.List, ast.Tuple)):
                    continue
                for elt in dec.args[1].elts:
                    try:
                        values = ast.literal_eval(elt)
                    except ValueError:  # an f-string or a call: not a literal case
                        continue
                    row = dict(zip(names, values, strict=True))
                    if "\\boxed{" not in str(row["pred"]):
                        continue
                    test = f"tests/{path.name}::{fn.name}"
                    params = {k: v for k, v in row.items() if k not in ("gold", "pred", exp_key)}
                    mv = bool(row[exp_key])
                    why = OURS_DIFFERS.pop((fn.name, row["gold"], row["pred"][-60:]), None)
                    case: dict[str, Any] = {
                        "id": f"{path.stem}.{fn.name}.{len(cases):03d}", "test": test, "line": elt.lineno,
                        "gold": row["gold"], "pred": row["pred"], "answer": gold_answer(row["gold"]),
                        "math_verify_expected": mv,
                        "expected": (not mv) if why else mv,
                    }
                    if params:
                        case["params"] = params
                    if why:
                        case["why"] = why
                    cases.append(case)
    if OURS_DIFFERS:
        raise SystemExit(f"error: cases in OURS_DIFFERS not found in {tests}: {sorted(OURS_DIFFERS)}")
    return cases


_FINAL_ANSWER_RE = re.compile(r"final answer is \$([^$]+)\$")


def gold_answer(gold: str) -> str:
    """The gold as we grade it. Our golds are answer strings (the ``answer`` field of a problem); a few
    of math-verify's golds are whole solutions, and for those we take the answer the way MATH's answers
    are taken from its solutions: the last box, or else the ``The final answer is $X$`` line."""
    from acereason.verify.math import extract_boxed

    if "\\boxed" in gold:
        return extract_boxed(gold) or gold
    m = _FINAL_ANSWER_RE.findall(gold)
    return m[-1] if m else gold


def load(path: Path = OUT) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def check(cases: list[dict[str, Any]]) -> dict[str, Any]:
    from acereason.verify.math import verify

    agree_mv = agree_ours = 0
    differ: list[dict[str, Any]] = []
    for c in cases:
        v = verify(c["pred"], c["answer"], timeout_s=10.0)
        agree_mv += v.correct == c["math_verify_expected"]
        agree_ours += v.correct == c["expected"]
        if v.correct != c["math_verify_expected"]:
            differ.append({"id": c["id"], "line": c["line"], "gold": c["gold"][:80], "pred": c["pred"][-120:],
                           "ours": v.correct, "reason": v.reason, "extracted": v.extracted,
                           "why": c.get("why", "")})
    return {"n": len(cases), "agree_math_verify": agree_mv, "agree_ours_expected": agree_ours, "differ": differ}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repo", nargs="?", type=Path, help="a local copy of the Math-Verify repository")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="grade the saved cases with our verifier")
    args = ap.parse_args()
    if args.repo is not None:
        cases = extract(args.repo)
        write_text(args.out, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
        print(f"{len(cases)} boxed cases -> {args.out}")
    if args.check or args.repo is None:
        res = check(load(args.out))
        for d in res["differ"]:
            print(json.dumps(d, ensure_ascii=False))
        n = res["n"]
        print(f"agree with math-verify: {res['agree_math_verify']}/{n} ({res['agree_math_verify'] / n:.1%}); "
              f"with our expectations: {res['agree_ours_expected']}/{n}")


if __name__ == "__main__":
    main()
