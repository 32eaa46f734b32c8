"""Submission set for benchmarks/code_peers.py: reference solutions, seeded wrong variants, hand-made families.

Every submission is a plain dict in the form all three judges can run (LiveCodeBench's ``input_output``):
``{"id", "group", "code", "fn_name" (None for stdin), "inputs": [str], "outputs": [str], "intended",
"native"}``. ``inputs``/``outputs`` are stdin/stdout text, or for call-based problems one JSON value per
argument line and one JSON result. ``intended`` is the verdict a correct judge gives (True for a reference,
None for a variant, whose truth only the tests tell). ``native`` holds our judge's own test form of a
reference where it differs (LeetCode ``check`` tests) for the reference-corpus acceptance count.

References come from ../shared/data through the project's readers (``acereason.sources``). LeetCode
``check(candidate)`` tests are rewritten into call-based tests when every assert is
``candidate(<literals>) == <literal>`` (keywords ordered by the reference's signature); problems whose tests
need helpers (``list_node``, ``tree_node``) or other asserts stay out of the peer set (counted).
"""

from __future__ import annotations

import ast
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import Problem
from acereason.sources.registry import read_source
from acereason.verify.code import extract_code

from .code_peers_families import families

SOURCES = {  # group -> path under the shared data folder
    "apps": "coderl_apps/train",
    "synthetic_verify": "rllm_code/train/verify.json",
    "deepcoder_lc_train": "rllm_code/train/leetcode.json",
    "deepcoder_lc_test": "rllm_code/test/leetcode.json",
    "leetcodedataset": "leetcodedataset/LeetCodeDataset-v0.3.1-test.jsonl.gz",
}


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False, None
    return True, json.loads(text)  # tuples -> lists, exactly as the JSON tests carry them


def _params(code: str, fn_name: str) -> list[str] | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name == "Solution":
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == fn_name:
                    a = fn.args
                    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
                        return None
                    return [p.arg for p in a.args[1:]]
    return None


def check_to_calls(check_src: str, code: str, fn_name: str) -> tuple[list[str], list[str]] | None:
    """``def check(candidate): assert candidate(..) == lit ...`` -> (inputs, outputs), or None."""
    try:
        tree = ast.parse(check_src)
    except SyntaxError:
        return None
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    params = _params(code, fn_name)
    if len(checks) != 1 or params is None:
        return None
    inputs, outputs = [], []
    for stmt in checks[0].body:
        if not isinstance(stmt, ast.Assert):
            return None
        t = stmt.test
        if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq)
                and isinstance(t.left, ast.Call) and isinstance(t.left.func, ast.Name)
                and t.left.func.id == "candidate"):
            return None
        call = t.left
        args: dict[str, Any] = {}
        for i, a in enumerate(call.args):
            ok, v = _literal(a)
            if not ok or i >= len(params):
                return None
            args[params[i]] = v
        for kw in call.keywords:
            ok, v = _literal(kw.value)
            if not ok or kw.arg not in params or kw.arg in args:
                return None
            args[kw.arg] = v
        ok, want = _literal(t.comparators[0])
        if not ok or set(args) != set(params):
            return None
        inputs.append("\n".join(json.dumps(args[p]) for p in params))
        outputs.append(json.dumps(want))
    return (inputs, outputs) if inputs else None


def _solutions(p: Problem, group: str) -> list[str]:
    if group == "leetcodedataset":
        return [p.meta["prelude"] + "\n" + p.meta["completion"]]
    sols = p.meta.get("solutions")
    sols = [sols] if isinstance(sols, str) else list(sols or [])
    return [extract_code(s) or s for s in sols]


def references(shared: Path) -> tuple[list[dict], dict[str, int]]:
    """All reference solutions; the count of those without a peer-runnable form per group."""
    subs: list[dict] = []
    check_only: dict[str, int] = {}
    for group, rel in SOURCES.items():
        path = shared / rel
        if not path.exists():
            continue
        for p in read_source(path):
            for j, code in enumerate(_solutions(p, group)):
                sub = {"id": f"{group}/{p.id}#{j}", "group": group, "code": code, "fn_name": p.fn_name,
                       "intended": True, "native": None, "inputs": None, "outputs": None}
                if all(t.testtype in ("stdin", "functional") for t in p.tests):
                    sub["inputs"] = [t.input for t in p.tests]
                    sub["outputs"] = [t.output or "" for t in p.tests]
                    if not any(t.testtype == "functional" for t in p.tests):
                        sub["fn_name"] = None
                else:
                    sub["native"] = [t.model_dump() for t in p.tests]
                    calls = check_to_calls(p.tests[0].input, code, p.fn_name or "") if len(p.tests) == 1 else None
                    if calls is None:
                        check_only[group] = check_only.get(group, 0) + 1
                    else:
                        sub["inputs"], sub["outputs"] = calls
                subs.append(sub)
    return subs, check_only


# ----------------------------------------------------------------------------- mutations
_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
         ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
         ast.And: ast.Or, ast.Or: ast.And}


def _sites(tree: ast.AST) -> list[tuple[ast.AST, int]]:
    """(node, slot) pairs that one mutation can change, in a fixed walk order."""
    out: list[tuple[ast.AST, int]] = []
    for node in ast.walk(tree):
        number = isinstance(node, ast.Constant) and type(node.value) in (int, float) and math.isfinite(node.value)
        if number or (isinstance(node, ast.BinOp | ast.AugAssign | ast.BoolOp) and type(node.op) in _SWAP):
            out.append((node, 0))
        elif isinstance(node, ast.Compare):
            out += [(node, i) for i, op in enumerate(node.ops) if type(op) in _SWAP]
    return out


def mutate(code: str, rng: random.Random) -> tuple[str, str] | None:
    """One constant or operator of ``code`` changed (seeded choice), with a description; None if none."""
    try:
        base = ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError):
        return None
    n = len(_sites(ast.parse(code)))
    order = list(range(n))
    rng.shuffle(order)
    for k in order[:8]:
        tree = ast.parse(code)
        node, slot = _sites(tree)[k]
        if isinstance(node, ast.Constant):
            old = node.value
            node.value = old + 1
            what = f"constant {old!r} -> {node.value!r}"
        elif isinstance(node, ast.Compare):
            old = type(node.ops[slot])
            node.ops[slot] = _SWAP[old]()
            what = f"compare {old.__name__} -> {_SWAP[old].__name__}"
        else:
            old = type(node.op)
            node.op = _SWAP[old]()
            what = f"operator {old.__name__} -> {_SWAP[old].__name__}"
        new = ast.unparse(tree)
        if new != base:
            return new, f"line {getattr(node, 'lineno', '?')}: {what}"
    return None


def variants(refs: list[dict], seed: int) -> list[dict]:
    """One seeded mutation of each peer-runnable reference (``intended`` unknown: the tests decide)."""
    out = []
    for ref in refs:
        if ref["inputs"] is None:
            continue
        rng = random.Random(f"{seed}:{ref['id']}")
        m = mutate(ref["code"], rng)
        if m is not None:
            out.append(dict(ref, id=ref["id"] + "~mut", group=ref["group"] + "~mut", code=m[0], mutation=m[1],
                            intended=None, native=None))
    return out


def build(shared: Path, seed: int = 0, limit: int | None = None,
          groups: set[str] | None = None) -> tuple[list[dict], list[dict], dict[str, int]]:
    """(reference corpus, peer submission set, check-only counts). ``limit`` takes an even sample of each
    group (seeded); ``groups`` keeps only those groups ("references", "variants", "families" or a group name)."""
    refs, check_only = references(shared) if (shared / "SOURCES.md").exists() else ([], {})
    if limit:
        refs = _sample(refs, limit, seed)
    peer = [r for r in refs if r["inputs"] is not None] + variants(refs, seed) + list(families(seed))
    if groups:
        keep = _keep(groups)
        refs = [r for r in refs if keep(r)]
        peer = [s for s in peer if keep(s)]
    return refs, peer, check_only


def _keep(groups: set[str]):
    def keep(s: dict) -> bool:
        kind = "families" if s["group"].startswith("family:") else "variants" if "~mut" in s["group"] \
            else "references"
        return kind in groups or s["group"] in groups or s["group"].split(":")[0] in groups
    return keep


def _sample(refs: list[dict], limit: int, seed: int) -> list[dict]:
    by: dict[str, list[dict]] = {}
    for r in refs:
        by.setdefault(r["group"], []).append(r)
    out = []
    for _, items in sorted(by.items()):
        rng = random.Random(f"{seed}:{items[0]['group']}")
        out += sorted(rng.sample(items, min(limit, len(items))), key=items.index)
    return out


def iter_tests(sub: dict) -> Iterator[dict]:
    """Our judge's tests for a submission in the shared form."""
    kind = "functional" if sub["fn_name"] else "stdin"
    for i, o in zip(sub["inputs"], sub["outputs"], strict=True):
        yield {"testtype": kind, "input": i, "output": o}
