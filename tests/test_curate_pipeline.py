"""Step contract, per-reason counts, exclusions, completion markers, sharding, dedupe and the CLI."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acereason.cli import app
from acereason.curate.dedupe import ExactDedupe, MinHashDedupe
from acereason.curate.pipeline import (
    Drop,
    Filter,
    PipelineContext,
    ShardPaths,
    merge_counts,
    run_stage,
    run_steps,
    shard_of,
)
from acereason.progress import Tracker
from acereason.schema import Problem, read_problems, write_records


def prob(i: int | str, prompt: str, source: str = "s", **meta: object) -> Problem:
    return Problem(id=str(i), domain="math", prompt=prompt, answer="1", source=source, meta=dict(meta))


class DropOdd(Filter):
    name = "drop_odd"

    def decide(self, problem: Problem) -> Drop | None:
        return Drop("odd", problem.id) if int(problem.id) % 2 else None


CALLS: list[str] = []


class Recorder:
    """A pass-through step that records which problems it saw (to observe reruns)."""

    name = "tracker"

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        for p in records:
            CALLS.append(p.id)
            yield p


def tracked_steps() -> list:
    return [DropOdd(), Recorder()]


def test_run_steps_counts_per_source_and_reason(tmp_path: Path) -> None:
    ctx = PipelineContext(exclusions=tmp_path / "x.jsonl")
    kept = list(run_steps([prob(i, f"q{i}", source="a" if i < 3 else "b") for i in range(6)], [DropOdd()], ctx))
    ctx.close()
    assert [p.id for p in kept] == ["0", "2", "4"]
    assert ctx.drops == {("a", "drop_odd", "odd"): 1, ("b", "drop_odd", "odd"): 2}
    assert dict(ctx.seen) == {"a": 3, "b": 3} and dict(ctx.kept) == {"a": 2, "b": 1}
    rows = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reason"], r["step"]) for r in rows] == [("1", "odd", "drop_odd"), ("3", "odd", "drop_odd"),
                                                                 ("5", "odd", "drop_odd")]


def test_stage_shards_write_markers_and_reruns_skip_them(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    write_records(src, [prob(i, f"question number {i}") for i in range(40)], Problem)
    CALLS.clear()
    files, counts = run_stage("s", tmp_path / "work", [src], read_problems, tracked_steps, n_shards=3)
    assert sorted(p.id for f in files for p in read_problems(f)) == sorted(str(i) for i in range(0, 40, 2))
    assert sorted(CALLS) == sorted(str(i) for i in range(0, 40, 2))
    assert merge_counts(counts)["drops"] == [{"source": "s", "step": "drop_odd", "reason": "odd", "count": 20}]
    for k, f in enumerate(files):  # each shard holds exactly the ids that hash to it
        assert all(shard_of(p.id, 3) == k for p in read_problems(f))
        assert ShardPaths.of(tmp_path / "work" / "s", k).done.exists()
    # A rerun skips finished shards; removing one marker reruns that shard only.
    CALLS.clear()
    run_stage("s", tmp_path / "work", [src], read_problems, tracked_steps, n_shards=3)
    assert CALLS == []
    ShardPaths.of(tmp_path / "work" / "s", 1).done.unlink()
    _, counts2 = run_stage("s", tmp_path / "work", [src], read_problems, tracked_steps, n_shards=3)
    assert sorted(CALLS) == sorted(p.id for p in read_problems(files[1]))
    assert merge_counts(counts2) == merge_counts(counts)


def test_changed_input_or_options_invalidate_the_markers(tmp_path: Path) -> None:
    import os

    src = tmp_path / "in.jsonl"
    write_records(src, [prob(i, f"q {i}") for i in range(6)], Problem)
    CALLS.clear()
    run_stage("s", tmp_path / "w", [src], read_problems, tracked_steps, n_shards=2)
    assert len(CALLS) == 3
    write_records(src, [prob(i, f"q {i}") for i in range(8)], Problem)  # the input changed
    os.utime(src, ns=(1, 10**18))
    CALLS.clear()
    files, _ = run_stage("s", tmp_path / "w", [src], read_problems, tracked_steps, n_shards=2)
    assert sorted(CALLS) == ["0", "2", "4", "6"]
    assert sorted(p.id for f in files for p in read_problems(f)) == ["0", "2", "4", "6"]
    CALLS.clear()
    run_stage("s", tmp_path / "w", [src], read_problems, partial(tracked_steps), n_shards=3)  # other options
    assert sorted(CALLS) == ["0", "2", "4", "6"]


def test_markers_follow_content_not_mtime_and_the_callers_key(tmp_path: Path) -> None:
    """An in-place edit that keeps size and mtime still reruns the stage; so does a changed ``key``
    (what curate passes for benchmark files, the validator model and the code)."""
    import os

    src = tmp_path / "in.jsonl"
    write_records(src, [prob(i, f"q {i}") for i in range(6)], Problem)
    stat = src.stat()
    CALLS.clear()
    run_stage("s", tmp_path / "w", [src], read_problems, tracked_steps, key={"bench": "a"})
    assert sorted(CALLS) == ["0", "2", "4"]
    src.write_text(src.read_text().replace('"q 4"', '"q 8"'))  # same size
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    CALLS.clear()
    files, _ = run_stage("s", tmp_path / "w", [src], read_problems, tracked_steps, key={"bench": "a"})
    assert sorted(CALLS) == ["0", "2", "4"] and "q 8" in files[0].read_text()
    CALLS.clear()
    run_stage("s", tmp_path / "w", [src], read_problems, tracked_steps, key={"bench": "a"})
    assert CALLS == []
    run_stage("s", tmp_path / "w", [src], read_problems, tracked_steps, key={"bench": "b"})
    assert sorted(CALLS) == ["0", "2", "4"]


def test_stage_progress_counts_every_record_in_plain_lines(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    write_records(src, [prob(i, f"question {i}") for i in range(25)], Problem)
    log = io.StringIO()
    with Tracker("stage s", 25, every=10, stream=log, tty=False) as tracker:
        run_stage("s1", tmp_path / "w", [src], read_problems, partial(list, [DropOdd()]), n_shards=2, tracker=tracker)
    lines = log.getvalue().splitlines()  # dropped and kept records both count, one line per 10
    assert [ln.split()[2] for ln in lines] == ["10/25", "20/25", "25/25"] and lines[-1].endswith("kept 13 of 25")
    # a rerun counts the finished shards' records at once
    log = io.StringIO()
    with Tracker("stage s", 25, every=10, stream=log, tty=False) as tracker:
        run_stage("s1", tmp_path / "w", [src], read_problems, partial(list, [DropOdd()]), n_shards=2, tracker=tracker)
    assert tracker.completed == 25


def test_failed_shard_leaves_no_marker_and_no_output(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    write_records(src, [prob(i, f"q {i}") for i in range(5)], Problem)

    class Boom(Filter):
        name = "boom"

        def decide(self, problem: Problem) -> Drop | None:
            if problem.id == "3":
                raise RuntimeError("crash")
            return None

    with pytest.raises(RuntimeError, match="crash"):
        run_stage("s", tmp_path / "w", [src], read_problems, lambda: [Boom()])
    paths = ShardPaths.of(tmp_path / "w" / "s", 0)
    assert not paths.done.exists() and not paths.out.exists()


def test_sharding_across_processes_gives_the_same_result(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    write_records(src, [prob(i, f"question {i}") for i in range(30)], Problem)
    one, _ = run_stage("a", tmp_path / "w", [src], read_problems, partial(list, [DropOdd()]), n_shards=1)
    log = io.StringIO()
    with Tracker("b", 30, every=1, stream=log, tty=False) as tracker:  # the workers' progress reaches the parent
        many, c = run_stage("b", tmp_path / "w", [src], read_problems, partial(list, [DropOdd()]), n_shards=2,
                            workers=2, tracker=tracker)
    assert sorted(p.id for f in many for p in read_problems(f)) == sorted(p.id for p in read_problems(one[0]))
    assert merge_counts(c)["drops"][0]["count"] == 15
    assert tracker.completed == 30 and log.getvalue().splitlines()[-1].endswith("kept 15 of 30")


def test_exact_dedupe_by_statement_and_url() -> None:
    ctx = PipelineContext()
    items = [prob(1, "Find x if 2x = 4.", url="https://www.site.org/p/1/"),
             prob(2, "  FIND x, if 2x=4!  ", source="other"),
             prob(3, "A different problem entirely.", url="http://site.org/p/1?lang=en"),
             prob(4, "Yet another one.")]
    kept = list(ExactDedupe()(iter(items), ctx))
    assert [p.id for p in kept] == ["1", "4"]
    assert ctx.drops == {("other", "dedupe_exact", "duplicate_statement"): 1, ("s", "dedupe_exact", "duplicate_url"): 1}


def test_minhash_drops_near_duplicates_across_sources() -> None:
    base = ("Let a and b be positive integers such that a plus b equals twenty and the product a times b is as large "
            "as possible among all such pairs. What is the largest possible value of the product")
    items = [prob(1, base, source="deepscaler"), prob(2, base + " ab?", source="numina"),
             prob(3, "How many positive divisors does the number three hundred sixty have in total, counting one?")]
    ctx = PipelineContext()
    kept = list(MinHashDedupe(threshold=0.8)(iter(items), ctx))
    assert [p.id for p in kept] == ["1", "3"]
    assert ctx.drops == {("numina", "dedupe_minhash", "near_duplicate"): 1}


def test_curate_math_cli_end_to_end(tmp_path: Path) -> None:
    src = tmp_path / "raw.jsonl"
    rows = [
        {"problem": "What is the sum of the first ten positive integers, added together?", "answer": "55"},
        {"problem": "What is the sum of the first ten positive integers,  added together?", "answer": "55"},
        {"problem": "Prove that the square root of two is irrational, using contradiction.", "answer": "0"},
        {"problem": "Which is largest? (A) 1 (B) 2 (C) 3 (D) 4", "answer": "D"},
        {"problem": "A fair die is rolled twice. What is the probability that the two rolls sum to seven?",
         "answer": "\\frac{1}{6}"},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"problem": "A fair die is rolled twice. What is the probability that the two "
                                            "rolls sum to seven?", "answer": "1/6"}) + "\n")
    out, rep = tmp_path / "out.jsonl", tmp_path / "rep.json"
    args = ["curate", "math", str(src), "--out", str(out), "--no-validate", "--report", str(rep),
            "--benchmarks", str(bench), str(bench)]  # greedy --benchmarks: both values are benchmarks
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert [p.prompt[:20] for p in read_problems(out)] == ["What is the sum of t"]
    report = json.loads(rep.read_text())
    assert report["read"] == 5 and report["kept"] == 1
    assert report["drops_by_rule"] == {"proof": 1, "multiple_choice": 1, "ngram9_overlap": 1,
                                       "duplicate_statement": 1}
    assert "curation" in res.output and "multiple_choice" in res.output
    # Rerun: every shard is done, nothing is recomputed, same answer.
    res2 = CliRunner().invoke(app, args)
    assert res2.exit_code == 0 and json.loads(rep.read_text())["drops_by_rule"] == report["drops_by_rule"]


def test_curate_cli_needs_a_validator_or_no_validate(tmp_path: Path) -> None:
    src = tmp_path / "raw.jsonl"
    src.write_text('{"problem": "What is one plus one, in words?", "answer": "2"}\n')
    res = CliRunner().invoke(app, ["curate", "math", str(src), "--out", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "--no-validate" in res.output


def test_curate_cli_bad_input_exits_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "What is one plus one, in words?", "answer": "2"}\n{"problem": 5}\n')
    res = CliRunner().invoke(app, ["curate", "math", str(bad), "--out", str(tmp_path / "o.jsonl"), "--no-validate"])
    assert res.exit_code == 2 and "bad.jsonl:2" in res.output
