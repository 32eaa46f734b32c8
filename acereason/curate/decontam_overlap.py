"""Array helpers of the decontamination decision (:mod:`acereason.curate.decontam_boilerplate`): runs and
distinct values of sorted arrays, and the specific overlap of a document with a benchmark item as an
interval union over sorted window starts (O(hits), no expansion to words).
"""

from __future__ import annotations

import numpy as np


def _distinct(sorted_values: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (``np.unique`` without its hash table or second sort)."""
    return sorted_values[_first_of_runs(sorted_values)]


def _first_of_runs(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries of a grouped array that differ from the one before (the first of each run)."""
    first = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        np.not_equal(values[1:], values[:-1], out=first[1:])
    return first


def _merge(start: np.ndarray, n: int, group: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of the intervals ``[start, start + n)`` (sorted by ``start`` within each run of ``group``):
    the merged intervals' starts and ends and the index of the first input interval of each. O(len), no
    expansion to words: with one length ``n`` and sorted starts, each interval's end is the largest so far."""
    if not len(start):
        z = np.zeros(0, np.int64)
        return z, z, z
    run = np.ones(len(start), dtype=bool)
    run[1:] = start[1:] > start[:-1] + n
    if group is not None:
        run |= _first_of_runs(group)
    at = np.flatnonzero(run)
    last = np.append(at[1:] - 1, len(start) - 1)
    return start[at], start[last] + n, at


def specific_overlap(doc: np.ndarray, pos: np.ndarray, owner: np.ndarray, bp_doc: np.ndarray, bp_pos: np.ndarray,
                     n: int, n_items: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (document, item) pair: how many words of the document are covered by the pair's ``n``-word windows
    (``doc``, ``pos``, ``owner``; sorted by document, then word) and by no boilerplate window (``bp_doc``,
    ``bp_pos``; sorted likewise). Returns (documents, items, word counts), pairs ordered by document then
    item, only pairs with a count > 0.

    An interval union over sorted window starts, in O(hits): the pair's windows merge into disjoint
    intervals, the boilerplate windows of each document likewise, and the words of a pair's interval
    ``[a, b)`` under boilerplate are ``C(b) - C(a)``, ``C`` the cumulative boilerplate measure (one
    ``searchsorted``). Positions are global (``document << 32 | word``), so documents never mix."""
    z = np.zeros(0, np.int64)
    if not len(doc):
        return z, z, z
    g = (doc.astype(np.int64) << np.int64(32)) | pos
    pair = doc.astype(np.int64) * n_items + owner
    by_pair = np.argsort(pair, kind="stable")  # (document, item, word)
    g, pair = g[by_pair], pair[by_pair]
    a, b, at = _merge(g, n, pair)
    covered = b - a
    bg = (bp_doc.astype(np.int64) << np.int64(32)) | bp_pos
    if len(bg):
        ba, bb, _ = _merge(bg, n)
        before = np.concatenate(([0], np.cumsum(bb - ba)))  # boilerplate words before each merged interval

        def cum(x: np.ndarray) -> np.ndarray:
            j = np.searchsorted(ba, x, side="right") - 1
            inside = np.minimum(x, bb[np.maximum(j, 0)]) - ba[np.maximum(j, 0)]
            return np.where(j >= 0, before[np.maximum(j, 0)] + inside, 0)

        covered = covered - (cum(b) - cum(a))
    run_pair = pair[at]
    first = np.flatnonzero(_first_of_runs(run_pair))
    count = np.add.reduceat(covered, first)
    keep = count > 0
    p = run_pair[first][keep]
    return p // n_items, p % n_items, count[keep]
