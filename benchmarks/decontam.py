"""Decontamination benchmark: our vectorised n-gram index vs a straightforward set of n-gram strings.

    .venv/bin/python -m benchmarks.decontam [--repeat 5] [--copies 2] [--no-write]

The baseline is the plain paper filter: every benchmark n-gram of ``word_tokens`` as a joined string in a
Python set, each training window tested by building its string, any shared n-gram drops. Ours is the whole
decision of ``acereason decontaminate`` (code scaffolding removed, one vectorised scan, training df fitted
on the corpus, boilerplate excluded), timed end to end. Reported per
domain: CPU and wall time (medians of ``--repeat`` rounds, the two methods alternating in this process
with the GC off, as in ``timeit``), the speed ratio (median of per-round ratios; the acceptance reads the CPU
one), throughput over the training text (MB per CPU second), index build time, and recall on benchmark problems
injected into the training set with whitespace, case and punctuation edits (plus the share of the clean
training set that shares an n-gram with a benchmark). Results go to benchmarks/RESULTS.md
("Decontamination"). Needs shared/data.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import re
import statistics
import time
from pathlib import Path

from acereason.curate.decontam import CODE_N, MATH_N
from acereason.curate.decontam_boilerplate import Decontaminator, statements
from acereason.curate.normalize import word_tokens

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")

SETS = {
    "math": (MATH_N, ["qwen25math_aime24/test.jsonl", "aime2025/test.jsonl", "qwen25math_amc23/test.jsonl",
                      "math500/test.jsonl"],
             ["deepscaler/train/math.json", "deepscaler/train/aime.json", "deepscaler_subset/deepscaler.json",
              "simplerl_verl/train.parquet"]),
    "code": (CODE_N, ["rllm_code/test/livecodebench.json", "leetcodedataset/LeetCodeDataset-v0.3.1-test.jsonl.gz"],
             ["rllm_code/train/leetcode.json", "rllm_code/train/livecodebench.json", "rllm_code/test/codeforces.json",
              "rllm_code/test/code_contests.json"]),
}


class SetBaseline:
    """The straightforward method: a set of benchmark n-gram strings, one membership test per window."""

    def __init__(self, texts: list[str], n: int) -> None:
        self.n = n
        self.grams: set[str] = set()
        for t in texts:
            w = word_tokens(t)
            self.grams.update(" ".join(w[i: i + n]) for i in range(len(w) - n + 1))

    def contaminated(self, text: str) -> bool:
        w = word_tokens(text)
        n = self.n
        return any(" ".join(w[i: i + n]) in self.grams for i in range(len(w) - n + 1))


def perturb(text: str, rng: random.Random) -> str:
    """Whitespace, case and punctuation edits that keep the words."""
    text = re.sub(r" ", lambda _: rng.choice([" ", "  ", "\n", " \t"]), text)
    text = "".join(c.upper() if rng.random() < 0.3 else c for c in text)
    return re.sub(r"[,.;:?]", lambda _: rng.choice([",", ".", ";", "!", " ", ""]), text)


def ours_flags(dc: Decontaminator, texts: list[str], domain: str) -> list[bool]:
    """The whole decision ``acereason decontaminate`` makes: code scaffolding removed, one scan, the
    training df fitted on these texts, boilerplate excluded."""
    return [v is not None for v in dc.run(statements([(t, domain) for t in texts], dc.settings))]


def interleaved_times(fns: list, repeat: int) -> list[dict]:
    """CPU (``time.process_time``: this process only; all the work here runs in it, no subprocesses) and
    wall time of each function over ``repeat`` rounds, the functions alternating within a round so load
    from other processes on the box hits both alike, with the cyclic GC off as in ``timeit``. Per function:
    the median CPU and wall time, the per-round times, and its last result."""
    runs: list[list[tuple[float, float]]] = [[] for _ in fns]
    results: list[object] = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            gc.collect()
            gc.disable()
            try:
                c0, t0 = time.process_time(), time.perf_counter()
                results[i] = fn()
                cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            finally:
                gc.enable()
            runs[i].append((cpu, wall))
    return [{"cpu": statistics.median(c for c, _ in r), "wall": statistics.median(w for _, w in r), "runs": r,
             "result": res} for r, res in zip(runs, results, strict=True)]


def round_ratios(base: dict, ours: dict, which: int) -> float:
    """Median over the rounds of the per-round ratio baseline / ours (``which`` 0: CPU, 1: wall): both
    sides of a round ran back to back, so a round's ratio sees the same load on the box."""
    return statistics.median(b[which] / o[which] for b, o in zip(base["runs"], ours["runs"], strict=True))


def run_domain(name: str, repeat: int, copies: int) -> dict:
    from acereason.sources import read_source

    n, bench_files, train_files = SETS[name]
    bench = [(str(f), p) for f in bench_files for p in read_source(DATA / f)]
    train = [p.prompt for f in train_files for p in read_source(DATA / f)]
    rng = random.Random(0)
    injected = [perturb(p.prompt, rng) for _, p in bench]
    corpus = train * copies + injected
    mb = sum(len(t.encode()) for t in corpus) / 1e6

    t0 = time.perf_counter()
    domain = "code" if name == "code" else "math"
    dc = Decontaminator.from_problems({f: [p for g, p in bench if g == f] for f in dict.fromkeys(f for f, _ in bench)},
                                      n)
    build_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = SetBaseline([p.prompt for _, p in bench], n)
    build_base = time.perf_counter() - t0

    ours, base_t = interleaved_times(
        [lambda: ours_flags(dc, corpus, domain), lambda: [base.contaminated(t) for t in corpus]], repeat)
    flags_ours, flags_base = ours["result"], base_t["result"]
    # The baseline is the plain paper filter (any shared n-gram); ours leaves boilerplate out, so it drops
    # far fewer clean problems, and must still catch every injected benchmark item the baseline catches.
    k = len(injected)
    return {"domain": name, "n": n, "docs": len(corpus), "mb": mb, "bench_items": len(bench),
            "ours_mbs": mb / ours["cpu"], "base_mbs": mb / base_t["cpu"],
            "cpu_ours": ours["cpu"], "cpu_base": base_t["cpu"], "wall_ours": ours["wall"], "wall_base": base_t["wall"],
            "ratio": round_ratios(base_t, ours, 0), "ratio_wall": round_ratios(base_t, ours, 1),
            "build_ours": build_ours, "build_base": build_base,
            "recall": sum(flags_ours[-k:]) / k, "recall_base": sum(flags_base[-k:]) / k,
            "short_items": dc.index.short_items, "clean_dropped": sum(flags_ours[: len(train)]) / len(train),
            "clean_dropped_base": sum(flags_base[: len(train)]) / len(train)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--copies", type=int, default=2, help="times the training set is repeated (more MB)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = [run_domain(d, args.repeat, args.copies) for d in SETS]
    lines = [
        f"Machine: {platform.processor() or platform.machine()}{cpu_flags()}, Python {platform.python_version()}, "
        f"compiled scan {compiled()}, one process "
        "(shared 2-core box). Input: the training statements of shared/data repeated "
        f"{args.copies}x plus every benchmark item injected once with whitespace/case/punctuation edits. "
        "The set-of-n-grams baseline drops any shared n-gram (the paper's filter as "
        "written); ours is `acereason decontaminate`'s whole decision (code scaffolding removed, boilerplate "
        "n-grams by benchmark and training df left out, specific overlap >= 20% of an item, short-item "
        f"matcher), timed end to end. Both run in this process, alternating, {args.repeat} rounds, GC off; "
        "times are medians, the speed-up is the median over rounds of the per-round ratio. **The acceptance "
        "(>= 5x) reads the CPU-time ratio** (`time.process_time`: this process's own CPU, which other "
        "processes on the shared cores do not inflate); wall clock is shown beside it. MB/s = MB / CPU s. "
        "'clean train dropped' = share of the (uninjected) training statements each method drops. "
        "`python -m benchmarks.decontam`.",
        "",
        "| domain | n | docs | MB | ours MB/s | set-of-n-grams MB/s | CPU s ours / set | speed-up CPU | "
        "wall s ours / set | speed-up wall | index build ours / set | recall on injected: ours / set | "
        "clean train dropped: ours / set |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['domain']} | {r['n']} | {r['docs']} | {r['mb']:.1f} | {r['ours_mbs']:.1f} | "
                     f"{r['base_mbs']:.1f} | {r['cpu_ours']:.3f} / {r['cpu_base']:.3f} | {r['ratio']:.1f}x | "
                     f"{r['wall_ours']:.3f} / {r['wall_base']:.3f} | {r['ratio_wall']:.1f}x | "
                     f"{r['build_ours']:.2f} s / {r['build_base']:.2f} s | "
                     f"{r['recall']:.1%} / {r['recall_base']:.1%} ({r['bench_items']} items, "
                     f"{r['short_items']} shorter than n) | {r['clean_dropped']:.2%} / {r['clean_dropped_base']:.2%} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        from benchmarks.results import RESULTS, write_section

        write_section("Decontamination", with_history(text, RESULTS))


def compiled() -> str:
    """Whether ours ran the compiled scan (``acereason/curate/_wordscan.c``) or the numpy paths."""
    from acereason.curate import decontam_hash

    return "on" if decontam_hash.compiled_scan() is not None else "off (numpy paths)"


def cpu_flags() -> str:
    """The vector extensions of this CPU that change numpy's speed (AVX-512 boxes and AVX2-only ones differ)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        return ""
    return " (AVX-512)" if "avx512f" in flags else " (AVX2)" if "avx2" in flags else ""


def with_history(table: str, path: Path) -> str:
    """``table`` followed by the paragraphs of the section that are not its own generated text (the
    history of earlier runs): ``--write`` replaces only the description and the table."""
    if not path.exists():
        return table
    m = re.search(r"^## Decontamination\n(.*?)(?=^## |\Z)", path.read_text(), re.S | re.M)
    if m is None:
        return table
    paras = [p for p in m.group(1).strip().split("\n\n") if p.strip()]
    history = [p for p in paras if not p.startswith(("Machine:", "|"))]
    return "\n\n".join([table, *history])


if __name__ == "__main__":
    main()
