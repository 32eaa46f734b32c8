"""Deduplication: exact by normalised statement and by URL, then MinHash near-duplicates across sources.

The paper dedupes code problems by statement and URL, and math across DeepScaleR / NuminaMath, which
overlap heavily. The first occurrence (input order) is kept; a later copy is dropped with a reason
naming the problem it duplicates. This step sees every record, so it runs as a single-shard stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from acereason.curate.normalize import normalize_url, statement_key, word_tokens
from acereason.curate.pipeline import Drop, PipelineContext
from acereason.schema import Problem

_URL_KEYS = ("url", "problem_url", "link", "source_url")


def problem_url(problem: Problem) -> str | None:
    """The problem's canonical URL from its metadata (``url``, ``problem_url``, ... or APPS ``metadata.url``)."""
    metas: list[dict[str, Any]] = [problem.meta]
    if isinstance(problem.meta.get("metadata"), dict):
        metas.append(problem.meta["metadata"])
    for m in metas:
        for k in _URL_KEYS:
            v = m.get(k)
            if isinstance(v, str) and v.strip():
                return normalize_url(v)
    return None


def shingles(text: str, k: int = 3) -> set[bytes]:
    """Word k-shingles of the normalised statement (the sets MinHash estimates Jaccard similarity over)."""
    words = word_tokens(text)
    if len(words) < k:
        return {" ".join(words).encode()}
    return {" ".join(words[i: i + k]).encode() for i in range(len(words) - k + 1)}


class ExactDedupe:
    """Drop a problem whose normalised statement, or URL, was already seen; also catches repeated ids."""

    name = "dedupe_exact"

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        by_text: dict[str, str] = {}
        by_url: dict[str, str] = {}
        ids: set[str] = set()
        for p in records:
            if p.id in ids:
                ctx.drop(p, self.name, Drop("duplicate_id", p.id))
                continue
            key = statement_key(p.prompt)
            if key in by_text:
                ctx.drop(p, self.name, Drop("duplicate_statement", f"same statement as {by_text[key]}"))
                continue
            url = problem_url(p)
            if url is not None and url in by_url:
                ctx.drop(p, self.name, Drop("duplicate_url", f"same URL as {by_url[url]} ({url})"))
                continue
            ids.add(p.id)
            by_text[key] = p.id
            if url is not None:
                by_url[url] = p.id
            yield p


class MinHashDedupe:
    """Drop near-duplicates: estimated Jaccard similarity of word 3-shingles >= ``threshold`` with a problem
    kept earlier (``datasketch`` MinHash LSH, ``num_perm`` permutations). With ``across_sources_only``
    only copies from another source are dropped (rephrasings within one source are often distinct
    problems that differ in a number)."""

    name = "dedupe_minhash"

    def __init__(self, threshold: float = 0.85, num_perm: int = 128, across_sources_only: bool = False) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.across_sources_only = across_sources_only

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        # the permutations depend on the seed only: copy an empty MinHash rather than rebuild them per problem
        empty = MinHash(num_perm=self.num_perm, seed=1)
        source_of: dict[str, str] = {}
        for p in records:
            mh = empty.copy()
            mh.update_batch(list(shingles(p.prompt)))
            hits = [h for h in lsh.query(mh) if not (self.across_sources_only and source_of[h] == p.source)]
            if hits:
                ctx.drop(p, self.name, Drop("near_duplicate", f"MinHash >= {self.threshold} with {sorted(hits)[0]}"))
                continue
            lsh.insert(p.id, mh)
            source_of[p.id] = p.source
            yield p
