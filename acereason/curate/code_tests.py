"""Code test validation: golden solutions must pass, known-wrong programs must fail.

Paper §3.2.2: problems whose reference solution fails their tests (wrong tests) or that have no golden
solution are dropped, and so are problems with weak tests, i.e. tests a wrong program passes. A known
wrong program is either provided (``meta.wrong_solutions``) or a simple *mutant* of the golden one: one
comparison flipped (``<`` -> ``<=``), one integer constant moved by one, or one ``+`` turned into ``-``.
A mutant can be equivalent to the original (a changed constant that is never used), so by default a
passing mutant only flags the problem (``meta.weak_tests = "mutant"``); ``drop_weak_mutants`` drops it.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from typing import Any

from acereason.curate.pipeline import Drop, PipelineContext, batches
from acereason.schema import Problem

BATCH = 32
"""Problems judged per sandbox batch (progress is reported per batch)."""
_FENCED = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)
_FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def _unfence(code: str) -> str:
    m = _FENCED.findall(code)
    return m[-1] if m else code


def golden_solutions(problem: Problem, limit: int = 3) -> list[str]:
    """Up to ``limit`` reference programs from ``meta.solutions`` (str or list, fenced or bare) or
    ``meta.completion`` (LeetCodeDataset)."""
    raw: Any = problem.meta.get("solutions") or problem.meta.get("completion") or []
    items = [raw] if isinstance(raw, str) else [s for s in raw if isinstance(s, str)] if isinstance(raw, list) else []
    return [_unfence(s) for s in items if s.strip()][:limit]


class _Mutate(ast.NodeTransformer):
    """Apply one mutation of ``kind`` at the ``target``-th site (counting sites in walk order)."""

    def __init__(self, kind: str, target: int) -> None:
        self.kind, self.target, self.seen, self.done = kind, target, -1, False

    def _hit(self) -> bool:
        self.seen += 1
        if self.seen == self.target and not self.done:
            self.done = True
            return True
        return False

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "compare" and type(node.ops[0]) in _FLIP and self._hit():
            node.ops[0] = _FLIP[type(node.ops[0])]()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if self.kind == "constant" and type(node.value) is int and self._hit():
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if self.kind == "arith" and isinstance(node.op, ast.Add | ast.Sub) and self._hit():
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        return node


def mutants(code: str, limit: int = 3) -> list[str]:
    """Up to ``limit`` single-site mutants of ``code`` that differ from it (first sites of each kind)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    original = ast.unparse(tree)
    out: list[str] = []
    for target in range(limit):
        for kind in ("compare", "constant", "arith"):
            m = _Mutate(kind, target)
            text = ast.unparse(m.visit(copy.deepcopy(tree)))
            if m.done and text != original and text not in out:
                out.append(text)
            if len(out) >= limit:
                return out
    return out


class CodeTestValidation:
    """Pipeline step: run golden solutions (drop ``golden_fails`` / ``no_golden``) and known-wrong
    programs (drop or flag ``weak_tests``). Problems are judged in batches on the sandbox pool."""

    name = "code_tests"

    def __init__(self, require_golden: bool = False, n_mutants: int = 3, drop_weak_mutants: bool = False,
                 batch_size: int = BATCH, workers: int | None = None) -> None:
        self.require_golden = require_golden
        self.n_mutants = n_mutants
        self.drop_weak_mutants = drop_weak_mutants
        self.batch_size = batch_size
        self.workers = workers

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        for batch in batches(records, self.batch_size):
            yield from self._flush(batch, ctx)

    def _judge(self, jobs: list[tuple[Problem, str]]) -> list[bool]:
        from acereason.verify.code import judge_batch

        if not jobs:
            return []
        items = [{"code": code, "tests": p.tests or [], "fn_name": p.fn_name, "time_limit_s": p.time_limit_s,
                  "memory_mb": p.memory_mb} for p, code in jobs]
        return [v.correct for v in judge_batch(items, max_workers=self.workers)]

    def _flush(self, batch: list[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        golden_jobs = [(i, p, g) for i, p in enumerate(batch) for g in golden_solutions(p)]
        golden_ok = self._judge([(p, g) for _, p, g in golden_jobs])
        passing: dict[int, str] = {}
        tried: set[int] = set()
        for (i, _, g), ok in zip(golden_jobs, golden_ok, strict=True):
            tried.add(i)
            if ok and i not in passing:
                passing[i] = g
        wrong_jobs: list[tuple[int, str, str]] = []
        for i, p in enumerate(batch):
            for w in p.meta.get("wrong_solutions") or []:
                if isinstance(w, str):
                    wrong_jobs.append((i, "provided", _unfence(w)))
            if i in passing:
                wrong_jobs.extend((i, "mutant", m) for m in mutants(passing[i], self.n_mutants))
        wrong_ok = self._judge([(batch[i], code) for i, _, code in wrong_jobs])
        weak: dict[int, str] = {}
        for (i, kind, _), ok in zip(wrong_jobs, wrong_ok, strict=True):
            if ok and weak.get(i) != "provided":
                weak[i] = kind
        for i, p in enumerate(batch):
            if i in tried and i not in passing:
                ctx.drop(p, self.name, Drop("golden_fails", f"none of {len(golden_solutions(p))} reference "
                                                            "solution(s) passes the tests"))
                continue
            if i not in tried and self.require_golden:
                ctx.drop(p, self.name, Drop("no_golden", "no reference solution to check the tests with"))
                continue
            if i in weak:
                if weak[i] == "provided" or self.drop_weak_mutants:
                    ctx.drop(p, self.name, Drop("weak_tests", f"a known-wrong ({weak[i]}) program passes"))
                    continue
                p.meta["weak_tests"] = weak[i]
                ctx.flag(p, "weak_tests_mutant")
            if i in passing:
                p.meta["golden_verified"] = True
            yield p
