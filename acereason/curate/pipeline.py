"""The step contract and the sharded, resumable runner.

A **step** takes an iterator of :class:`~acereason.schema.Problem` and a :class:`PipelineContext` and
yields the problems it keeps (possibly changed: a validator adds ``difficulty``). A **filter** is the
common kind of step: ``decide(problem)`` returns ``None`` (keep) or a :class:`Drop` with a reason, and
the base class counts the drop per source and reason and writes it to the exclusions file. Steps chain
lazily (:func:`run_steps`), so a stage streams records one at a time.

A **stage** is a list of steps run over input files, split into ``n_shards`` shards by a hash of the
problem id (:func:`shard_of`), each shard in its own process when ``workers > 1``. A shard writes
``<stage>/shard-KKKKK.jsonl`` (kept), ``.exclusions.jsonl`` (dropped: id, source, step, reason,
detail) and, last, the completion marker ``.done`` holding its counts; a rerun skips every shard whose
marker exists, and a shard killed midway leaves no marker and simply runs again (its files are written
atomically, so no half file is ever mistaken for output). Markers are valid only for the stage's key
(``<stage>/stage.json``): the content fingerprints of its input files, the steps and their options, and
whatever else the caller names (benchmark files, validator model, code version); a changed key removes them.

Progress: a stage reports each finished record (kept or dropped) to a :class:`~acereason.progress.Tracker`,
from worker processes through a queue (:mod:`.workers`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from acereason.atomic import atomic_path, write_text
from acereason.curate.fingerprint import path_fingerprint
from acereason.curate.workers import Progress, run_in_workers, worker_progress
from acereason.progress import Tracker
from acereason.schema import Problem, write_records


@dataclass(frozen=True)
class Drop:
    """Why a filter dropped a problem: a stable ``reason`` (counted) and a free-text ``detail`` (written)."""

    reason: str
    detail: str = ""


@dataclass
class PipelineContext:
    """Counts and exclusions of one shard of one stage.

    ``drops[(source, step, reason)]``, ``flags[(source, name)]`` (kept but marked, e.g. weak tests),
    ``seen``/``kept`` per source. Dropped records go to ``exclusions`` (a JSONL path) as they happen.
    ``progress(kept)`` is called once per finished record: ``False`` when dropped here, ``True`` when kept
    (by :func:`run_steps`).
    """

    exclusions: Path | None = None
    progress: Callable[[bool], None] | None = None
    drops: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    flags: Counter[tuple[str, str]] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    _fh: Any = None

    def drop(self, problem: Problem, step: str, drop: Drop) -> None:
        """Count ``problem`` as dropped by ``step`` and append it to the exclusions file."""
        self.drops[(problem.source, step, drop.reason)] += 1
        if self.progress is not None:
            self.progress(False)
        if self.exclusions is not None:
            if self._fh is None:
                self._fh = open(self.exclusions, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
            self._fh.write(json.dumps({"id": problem.id, "source": problem.source, "step": step,
                                       "reason": drop.reason, "detail": drop.detail,
                                       "prompt": problem.prompt[:200]}, ensure_ascii=False) + "\n")

    def flag(self, problem: Problem, name: str) -> None:
        """Count a kept problem as marked with ``name`` (the marker itself lives in ``problem.meta``)."""
        self.flags[(problem.source, name)] += 1

    def close(self) -> None:
        """Flush and close the exclusions file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def counts(self) -> dict[str, Any]:
        """The counts as JSON-ready rows (what a completion marker stores and the report merges)."""
        return {
            "seen": dict(self.seen), "kept": dict(self.kept),
            "drops": [{"source": s, "step": st, "reason": r, "count": n}
                      for (s, st, r), n in sorted(self.drops.items())],
            "flags": [{"source": s, "name": f, "count": n} for (s, f), n in sorted(self.flags.items())],
        }


class Step(Protocol):
    """Generator in, generator out: yield the problems to keep, report drops to ``ctx``."""

    name: str

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]: ...


class Filter:
    """A step that keeps or drops each problem on its own: subclasses implement :meth:`decide`."""

    name = "filter"

    def decide(self, problem: Problem) -> Drop | None:
        """None to keep ``problem``, or a :class:`Drop` naming why not."""
        raise NotImplementedError

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        for p in records:
            d = self.decide(p)
            if d is None:
                yield p
            else:
                ctx.drop(p, self.name, d)


class PatternRule(Filter):
    """A filter that drops a problem whose statement matches ``pattern``; ``detail`` formats the match."""

    pattern: re.Pattern[str]
    detail = "{!r}"

    def decide(self, problem: Problem) -> Drop | None:
        m = self.pattern.search(problem.prompt)
        return Drop(self.name, self.detail.format(m.group(0))) if m else None


def run_steps(records: Iterable[Problem], steps: Iterable[Step], ctx: PipelineContext) -> Iterator[Problem]:
    """Chain ``steps`` lazily over ``records``, counting what enters and leaves per source."""

    def count_in(it: Iterable[Problem]) -> Iterator[Problem]:
        for p in it:
            ctx.seen[p.source] += 1
            yield p

    stream: Iterator[Problem] = count_in(records)
    for step in steps:
        stream = step(stream, ctx)
    for p in stream:
        ctx.kept[p.source] += 1
        if ctx.progress is not None:
            ctx.progress(True)
        yield p


def batches(records: Iterable[Problem], size: int) -> Iterator[list[Problem]]:
    """Consecutive lists of at most ``size`` records (the last may be shorter or empty)."""
    batch: list[Problem] = []
    for p in records:
        batch.append(p)
        if len(batch) >= size:
            yield batch
            batch = []
    yield batch


def shard_of(problem_id: str, n_shards: int) -> int:
    """The shard a problem belongs to: a stable hash of its id (same on every machine and run)."""
    if n_shards <= 1:
        return 0
    return int.from_bytes(hashlib.blake2b(problem_id.encode(), digest_size=8).digest(), "little") % n_shards


Reader = Callable[[Path], Iterator[Problem]]
StepsFactory = Callable[[], list[Step]]


@dataclass(frozen=True)
class ShardPaths:
    """Where one shard of a stage writes: kept records, exclusions and the completion marker."""

    out: Path
    exclusions: Path
    done: Path

    @classmethod
    def of(cls, stage_dir: Path, shard: int) -> ShardPaths:
        stem = stage_dir / f"shard-{shard:05d}"
        return cls(stem.with_suffix(".jsonl"), stem.with_suffix(".exclusions.jsonl"), stem.with_suffix(".done"))


class _StageProgress:
    """A stage's running totals, shown on its tracker as they arrive (from this process or the workers)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker, self.done, self.kept = tracker, 0, 0

    def __call__(self, done: int, kept: int) -> None:
        self.done += done
        self.kept += kept
        self.tracker.update(advance=done, info=f"kept {self.kept} of {self.done}")


def run_shard(stage_dir: Path, inputs: list[Path], reader: Reader, build_steps: StepsFactory,
              shard: int, n_shards: int, progress: Progress | None = None) -> dict[str, Any]:
    """Run one shard: records of ``inputs`` whose id hashes to ``shard``, through fresh steps.

    Returns the shard's counts. Skips the work (and returns the stored counts) when its marker exists.
    ``progress`` is told of finished records (in a worker process they go to the parent's queue).
    """
    paths = ShardPaths.of(stage_dir, shard)
    queued = worker_progress() if progress is None else None
    if paths.done.exists():
        counts = json.loads(paths.done.read_text())
        done = (sum(counts.get("seen", {}).values()), sum(counts.get("kept", {}).values()))
        if progress is not None:
            progress(*done)
        elif queued is not None:
            queued.add(*done)
        return counts
    stage_dir.mkdir(parents=True, exist_ok=True)
    steps = build_steps()  # built here, so each process holds its own index / cache / generator
    tick = queued or ((lambda kept: progress(1, int(kept))) if progress is not None else None)
    records = (p for f in inputs for p in reader(f) if shard_of(p.id, n_shards) == shard)
    with atomic_path(paths.exclusions) as tmp_excl:
        ctx = PipelineContext(exclusions=tmp_excl, progress=tick)
        try:
            write_records(paths.out, run_steps(records, steps, ctx), Problem)
        finally:
            ctx.close()
        tmp_excl.touch()  # a shard that dropped nothing still has its (empty) exclusions file
    if queued is not None:
        queued.flush()
    counts = ctx.counts()
    write_text(paths.done, json.dumps(counts, sort_keys=True))  # the marker is written last
    return counts


def stage_key(inputs: list[Path], build_steps: StepsFactory, n_shards: int,
              key: dict[str, Any] | None = None) -> str:
    """What a stage's markers are valid for (JSON): each input's path and content fingerprint, the shard
    count, the steps factory with its arguments, and the caller's ``key`` (other files and settings)."""
    return json.dumps({"n_shards": n_shards, "steps": _describe(build_steps), "key": key or {},
                       "inputs": [[str(p), path_fingerprint(p)] for p in inputs]}, sort_keys=True)


def run_stage(name: str, work_dir: Path, inputs: list[Path], reader: Reader, build_steps: StepsFactory,
              n_shards: int = 1, workers: int = 1, key: dict[str, Any] | None = None,
              tracker: Tracker | None = None) -> tuple[list[Path], list[dict[str, Any]]]:
    """Run every unfinished shard of stage ``name``; return (kept-record files, per-shard counts).

    ``key``: JSON-ready fingerprints of everything else the stage's output depends on (see
    :func:`stage_key`); when the key differs from the one the markers were written under, every shard
    reruns. ``tracker`` counts finished records (a finished shard counts all its records at once).
    With ``workers > 1`` shards run in separate processes (spawned, so nothing is shared implicitly);
    ``reader`` and ``build_steps`` must then be picklable (module-level functions or partials).
    """
    stage_dir = work_dir / name
    stage_dir.mkdir(parents=True, exist_ok=True)
    spec = stage_key(inputs, build_steps, n_shards, key)
    stage_file = stage_dir / "stage.json"
    if not stage_file.exists() or stage_file.read_text() != spec:
        for marker in stage_dir.glob("shard-*.done"):
            marker.unlink()
        write_text(stage_file, spec)
    shards = range(max(1, n_shards))
    advance = _StageProgress(tracker) if tracker is not None else None
    if workers > 1 and n_shards > 1:
        jobs = [(stage_dir, inputs, reader, build_steps, k, n_shards) for k in shards]
        counts = run_in_workers(run_shard, jobs, workers, advance)
    else:
        counts = [run_shard(stage_dir, inputs, reader, build_steps, k, n_shards, advance) for k in shards]
    if tracker is not None:  # exact at the end, whatever messages were still in flight
        seen, kept = (sum(sum(c.get(f, {}).values()) for c in counts) for f in ("seen", "kept"))
        tracker.update(completed=seen, info=f"kept {kept} of {seen}")
    return [ShardPaths.of(stage_dir, k).out for k in shards], counts


def _describe(build_steps: StepsFactory) -> str:
    """A stable description of a steps factory: the function's qualified name and a partial's arguments."""
    func = getattr(build_steps, "func", build_steps)
    name = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}"
    return json.dumps([name, getattr(build_steps, "args", ()), getattr(build_steps, "keywords", {})], default=str)


def merge_counts(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sum shard counts of one stage into one counts object of the same shape."""
    seen: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    drops: Counter[tuple[str, str, str]] = Counter()
    flags: Counter[tuple[str, str]] = Counter()
    for c in parts:
        seen.update(c.get("seen", {}))
        kept.update(c.get("kept", {}))
        for d in c.get("drops", []):
            drops[(d["source"], d["step"], d["reason"])] += d["count"]
        for f in c.get("flags", []):
            flags[(f["source"], f["name"])] += f["count"]
    ctx = PipelineContext(drops=drops, flags=flags, seen=seen, kept=kept)
    return ctx.counts()
