"""Run an evaluation: sample k responses per problem, verify, write every sample, compute the tables.

Every sample and its verdict goes to ``OUT/samples.jsonl`` (appended and flushed per chunk of prompts);
a rerun reads it first and generates only the samples that are missing, so it never regenerates a
finished sample and a crash loses at most one chunk. ``OUT/fingerprint.json`` records what the samples
were made from (:mod:`acereason.eval.fingerprint`); a rerun with another model, other settings or changed
benchmark problems is refused instead of resumed. ``OUT/results.json`` is rewritten atomically at the end.
Defaults are the paper's protocol: temperature 0.6, top-p 0.95, the paper's prompts.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acereason.atomic import write_json
from acereason.cli_util import check_range
from acereason.eval import fingerprint
from acereason.eval.benchmarks import Benchmark
from acereason.eval.metrics import summarize
from acereason.progress import Tracker
from acereason.prompts import CODE_INSTRUCTION, MATH_INSTRUCTION, build_messages
from acereason.schema import EvalRecord, Problem, Verdict


@dataclass
class EvalSettings:
    """Sampling and grading settings (paper defaults)."""

    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    k: int | None = None
    """Samples per problem; None = each benchmark's paper value (avg@64 AIME, avg@4 MATH-500, avg@8 LCB)."""
    seed: int = 0
    chunk_prompts: int = 32
    timeout_s: float = 30.0
    workers: int | None = None
    math_instruction: str = MATH_INSTRUCTION
    code_instruction: str = CODE_INSTRUCTION
    system_prompt: str | None = None
    backend: str = "hf"
    limit: int | None = None
    """Evaluate only the first ``limit`` problems of each benchmark (file order); None = all."""

    def __post_init__(self) -> None:
        check_range("k", self.k, ge=1)  # 0 must not silently mean "the paper's k"
        check_range("limit", self.limit, ge=1)
        check_range("chunk_prompts", self.chunk_prompts, ge=1)


ScoreFn = Callable[[Sequence[Problem], Sequence[str]], list[Verdict]]


def read_samples(path: Path) -> list[EvalRecord]:
    """Finished samples; an unterminated last line (a crash mid-write) is ignored."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(EvalRecord.model_validate_json(line))
        except ValueError:
            continue
    return out


def _difficulty_key(p: Problem) -> str | None:
    for key in ("level", "difficulty", "source_difficulty"):
        v = p.meta.get(key)
        if isinstance(v, str | int | float) and not isinstance(v, bool) and str(v):
            return str(v)
    if p.difficulty is not None:
        return f"{min(int(p.difficulty * 4), 3) * 25}-{min(int(p.difficulty * 4), 3) * 25 + 25}%"
    return None


def _month_key(p: Problem) -> str | None:
    d = p.meta.get("contest_date") or p.meta.get("estimated_date")
    return d[:7] if isinstance(d, str) and len(d) >= 7 else None


def _breakdown(problems: list[Problem], per: dict[str, list[bool]], key: Callable[[Problem], str | None]) -> dict:
    groups: dict[str, list[list[bool]]] = defaultdict(list)
    for p in problems:
        k = key(p)
        if k is not None and p.id in per:
            groups[k].append(per[p.id])
    return {k: {"n": len(v), "avg_at_k": sum(sum(o) / len(o) for o in v) / len(v)} for k, v in sorted(groups.items())}


def evaluate(generate: Any, suites: list[tuple[Benchmark, list[Problem]]], out_dir: str | Path,
             settings: EvalSettings | None = None, label: str | None = None, model_name: str = "",
             score_fn: ScoreFn | None = None, progress: bool = True, model_id: dict[str, str] | None = None,
             fresh: bool = False) -> dict[str, Any]:
    """Evaluate ``generate`` (a :class:`acereason.generate.base.Generator`) on each benchmark suite.

    ``model_id`` identifies the model in ``OUT/fingerprint.json`` (:func:`fingerprint.model_identity`; None:
    unknown, then only settings and benchmarks guard the samples). Existing samples made under another
    fingerprint raise :class:`~acereason.schema.DataError`, unless ``fresh`` discards them first.
    Returns (and writes to ``OUT/results.json``) per-benchmark avg@k with standard error and bootstrap
    CI, pass@k, truncation rate, and breakdowns by difficulty and by month.
    """
    s = settings or EvalSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp = fingerprint.build(model_id, s, suites)  # over every problem: --limit changes what is asked, not how
    ks = {spec.name: spec.k if s.k is None else s.k for spec, _ in suites}
    fingerprint.bind(out, fp, fresh, info={"k": ks, "limit": s.limit})
    totals = {spec.name: len(problems) for spec, problems in suites}
    suites = [(spec, problems[: s.limit]) for spec, problems in suites]
    samples_path = out / "samples.jsonl"
    have: dict[tuple[str, str], dict[int, EvalRecord]] = defaultdict(dict)
    for rec in read_samples(samples_path):
        have[(rec.benchmark, rec.problem_id)][rec.sample_index] = rec
    if score_fn is None:
        from acereason.verify import score_batch

        def score_fn(ps: Sequence[Problem], rs: Sequence[str]) -> list[Verdict]:
            return score_batch(ps, rs, timeout_s=s.timeout_s, workers=s.workers)

    generated = 0
    t0 = time.perf_counter()
    with open(samples_path, "a", encoding="utf-8") as fh:
        for spec, problems in suites:
            k = ks[spec.name]
            todo = [(p, [i for i in range(k) if i not in have[(spec.name, p.id)]]) for p in problems]
            todo = [(p, missing) for p, missing in todo if missing]
            with Tracker(f"{spec.name} (k={k})", total=len(problems) * k, unit="samples", enabled=progress) as bar:
                bar.update(len(problems) * k - sum(len(m) for _, m in todo), info="already sampled")
                generated += _sample(generate, spec, todo, s, score_fn, have, fh, bar)
    results: dict[str, Any] = {"label": label or out.name, "model": model_name, "model_id": model_id,
                               "fingerprint": fingerprint.short_hash(fp), "limit": s.limit,
                               "created": datetime.now(UTC).isoformat(timespec="seconds"),
                               "settings": {**asdict(s), "generated_now": generated,
                                            "wall_s": round(time.perf_counter() - t0, 3)},
                               "benchmarks": {}}
    for spec, problems in suites:
        k = ks[spec.name]
        # only the current problems' first k samples count: rows of other problems (dropped, or past --limit)
        # and extra sample indices stay in samples.jsonl but never enter a table
        per = {p.id: [have[(spec.name, p.id)][i].correct for i in range(k)] for p in problems}
        recs = [have[(spec.name, p.id)][i] for p in problems for i in range(k)]
        summary = summarize(list(per.values()), seed=s.seed)
        summary.update(domain=spec.domain, n_problems_total=totals[spec.name],
                       by_difficulty=_breakdown(problems, per, _difficulty_key),
                       by_month=_breakdown(problems, per, _month_key),
                       truncated_frac=sum(r.finish_reason == "length" for r in recs) / max(len(recs), 1),
                       mean_response_tokens=sum(r.meta.get("response_tokens", 0) for r in recs) / max(len(recs), 1),
                       reasons=dict(sorted(Counter(r.reason for r in recs).items())))
        results["benchmarks"][spec.name] = summary
    write_json(out / "results.json", results, indent=1)
    return results


def _sample(generate: Any, spec: Benchmark, todo: list[tuple[Problem, list[int]]], s: EvalSettings,
            score_fn: ScoreFn, have: dict[tuple[str, str], dict[int, EvalRecord]], fh: Any, bar: Tracker) -> int:
    """Generate and grade the missing samples ``todo`` of one benchmark, appending each chunk's records to
    ``fh`` (flushed) and to ``have``; returns how many samples were generated."""
    from acereason.generate.base import SamplingParams

    generated = 0
    # problems missing the same number of samples are sampled together (one n per generate call)
    by_need: dict[int, list[tuple[Problem, list[int]]]] = defaultdict(list)
    for p, missing in todo:
        by_need[len(missing)].append((p, missing))
    for need, items in sorted(by_need.items()):
        for start in range(0, len(items), s.chunk_prompts):
            chunk = items[start: start + s.chunk_prompts]
            msgs = [build_messages(p, s.math_instruction, s.code_instruction, s.system_prompt) for p, _ in chunk]
            params = SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                                    seed=s.seed + start + 7919 * need)
            outs = generate.generate(msgs, need, params)
            flat_p = [p for (p, _), group in zip(chunk, outs, strict=True) for _ in group]
            flat_c = [c for group in outs for c in group]
            verdicts = iter(score_fn(flat_p, [c.text for c in flat_c]))
            for (p, missing), group in zip(chunk, outs, strict=True):
                for idx, c in zip(missing, group, strict=True):
                    v = next(verdicts)
                    rec = EvalRecord(benchmark=spec.name, problem_id=p.id, sample_index=idx, response=c.text,
                                     finish_reason=c.finish_reason, correct=v.correct, reason=v.reason,
                                     extracted=v.extracted, meta={"response_tokens": len(c.token_ids)})
                    have[(spec.name, p.id)][idx] = rec
                    fh.write(rec.model_dump_json() + "\n")
            fh.flush()
            generated += len(flat_c)
            bar.update(advance=len(flat_c), info=f"{start + len(chunk)}/{len(items)} prompts needing {need}")
    return generated
