"""How a source file names its problems: the file tag (id prefix and fallback ``source``).

Ids must not depend on how a path is spelled or where the command runs, or a rerun from another
directory would see every problem as new. So a file's tag is its *name* without storage suffixes
(``math500/test.jsonl`` -> ``test``). When several inputs of one command share a name, each gets just
enough of its own parent directories to tell them apart (``math500_test``, ``aime24_test``), taken
from the normalised absolute path, so the result depends on the set of files, never on the spelling.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from acereason.schema import DataError

# Suffixes that say how a file is stored, not what it holds: removed (after any ``.gz``) to make its tag.
_FORMAT_SUFFIXES = (".jsonl", ".json", ".parquet")


def _normal(path: str | os.PathLike[str]) -> Path:
    """Absolute, with ``.`` and ``..`` folded (symlinks kept: their names are what the user chose)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def file_tag(path: str | os.PathLike[str]) -> str:
    """The tag of one file: its name without storage suffixes (``data/math500/test.jsonl.gz`` -> ``test``).

    Only the name counts, never the directories or the spelling of the path, so the same file read from
    anywhere gives the same ids. A directory is named by its own (normalised) name.
    """
    stem = _normal(path).name.removesuffix(".gz")
    stem = next((stem.removesuffix(s) for s in _FORMAT_SUFFIXES if stem.endswith(s) and stem != s), stem)
    return _clean(stem)


def distinct_tags(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """One tag per input, distinct across ``paths``: :func:`file_tag`, prefixed for inputs sharing a
    name with as many parent directory names as it takes (``train_aime`` / ``test_aime``).

    Deterministic in the set of files: order, spelling and working directory do not change a tag. The
    same file given twice raises :class:`DataError` (its records would all be duplicates).
    """
    normal = [_normal(p) for p in paths]
    tags = [file_tag(p) for p in paths]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, tag in enumerate(tags):
        groups[tag].append(i)
    for members in groups.values():
        for a, b in ((a, b) for a in members for b in members if a < b):
            if normal[a] == normal[b] or (normal[a].exists() and normal[b].exists()
                                          and os.path.samefile(normal[a], normal[b])):
                also = "" if str(paths[a]) == str(paths[b]) else f" (also as {paths[a]})"
                raise DataError(paths[b], None, f"given twice{also}; list each input once")
        if len(members) > 1:
            for i, tag in zip(members, _prefixed(tags[members[0]], [normal[i] for i in members]), strict=True):
                tags[i] = tag
    return tags


def _prefixed(tag: str, paths: list[Path]) -> list[str]:
    """For inputs sharing ``tag``: each gets the fewest trailing parent names (at least one) that set it
    apart from every other (``a/x/t.json``, ``b/x/t.json`` -> ``a_x_t``, ``b_x_t``)."""
    parents = [p.parent for p in paths]
    # Files in one directory differ only in suffix (t.json, t.jsonl): their whole names are the base.
    base = [_clean(p.name) if parents.count(p.parent) > 1 else tag for p in paths]

    def named(i: int, k: int) -> str:
        return _clean("_".join([*parents[i].parts[1:][-k:], base[i]]))

    out = []
    for i in range(len(paths)):
        k = next((k for k in range(1, len(parents[i].parts) + 1)
                  if all(named(i, k) != named(j, k) for j in range(len(paths)) if j != i)), len(parents[i].parts))
        out.append(named(i, k))
    return out
