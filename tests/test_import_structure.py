"""The package's import structure, read from the source (AST: module-level, function-level and
``TYPE_CHECKING`` imports alike), so it cannot regress: no import circle inside ``acereason/rl/`` or
``acereason/generate/``, and evaluation (``acereason/eval/``) imports nothing from the trainer (``acereason/rl/``).

An edge A -> B means a statement in A imports module B (``from P import name`` counts as importing the
submodule ``P.name`` when that is a module, else ``P``). Parent packages are not added as edges.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: {imported modules of package}}`` for every ``.py`` file of ``root/package``."""
    files = {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        here = mod if is_pkg else mod.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets: Iterable[str] = (a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in files:  # `import a.b.c` of a non-module tail: the longest module prefix
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    edges.add(t)
        graph[mod] = edges
    return graph


def cycles(graph: dict[str, set[str]], prefix: str) -> list[list[str]]:
    """The strongly connected components of more than one module among modules starting with ``prefix``."""
    nodes = [m for m in graph if m == prefix or m.startswith(prefix + ".")]
    sub = {m: {t for t in graph[m] if t in nodes} for m in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(sub[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


GRAPH = import_graph(ROOT, "acereason")


@pytest.mark.parametrize("prefix", ["acereason.rl", "acereason.generate"])
def test_no_import_circle(prefix):
    assert prefix in GRAPH
    assert cycles(GRAPH, prefix) == []


def test_eval_imports_nothing_from_rl():
    bad = {m: sorted(t for t in ts if t == "acereason.rl" or t.startswith("acereason.rl."))
           for m, ts in GRAPH.items() if m == "acereason.eval" or m.startswith("acereason.eval.")}
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_generate_backends_do_not_import_the_dispatch():
    """A backend imports the contract (``base``), never the registry that imports it lazily."""
    for mod in ("acereason.generate.hf", "acereason.generate.vllm_backend", "acereason.generate.openai_backend"):
        assert "acereason.generate.base" in GRAPH[mod]
        assert not GRAPH[mod] & {"acereason.generate", "acereason.generate.registry"}
    assert GRAPH["acereason.generate.base"] & {m for m in GRAPH if m.startswith("acereason.")} == set()


def test_checker_finds_circles_of_every_import_form(tmp_path):
    pkg = tmp_path / "p"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from p.sub import b\n")  # submodule through `from package import module`
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")  # function-level, relative
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.a.thing\n")
    (pkg / "d.py").write_text("from p.a import name\n")  # a name, not a module: edge to p.a only
    graph = import_graph(tmp_path, "p")
    assert graph["p.a"] == {"p.sub.b"} and graph["p.sub.b"] == {"p.c"} and graph["p.c"] == {"p.a"}
    assert graph["p.d"] == {"p.a"}
    assert cycles(graph, "p") == [["p.a", "p.c", "p.sub.b"]]
    assert cycles(graph, "p.sub") == []
