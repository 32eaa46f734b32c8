"""Rewrite the ``train`` table of docs/training.md's recipe reference from ``TrainCfg``'s field descriptions.

Run after changing a ``TrainCfg`` field or its docstring: ``.venv/bin/python scripts/recipe_reference.py``
(``--check`` exits 1 when the doc is out of date instead of writing it). tests/test_docs_reference.py checks
the same thing, so the doc and ``acereason/rl/recipe.py`` cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from acereason.atomic import write_text
from acereason.rl.recipe import TrainCfg, field_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "training.md"
HEADING = "### `train`\n\n"


def split_train_table(text: str) -> tuple[str, str, str]:
    """(before, the ``train`` table, after) of the training doc's text."""
    head, sep, rest = text.partition(HEADING)
    if not sep:
        raise SystemExit(f"{DOC}: no {HEADING.strip()!r} section")
    table, blank, tail = rest.partition("\n\n")
    return head + sep, table + blank[:1], tail


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    head, table, tail = split_train_table(text)
    want = field_reference(TrainCfg)
    if table == want:
        return 0
    if "--check" in argv:
        print(f"{DOC}: the train table is out of date; run scripts/recipe_reference.py", file=sys.stderr)
        return 1
    write_text(DOC, head + want + "\n" + tail)
    print(f"rewrote the train table of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
