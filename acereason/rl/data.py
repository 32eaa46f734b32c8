"""Which prompts a stage trains on: loading, caps and the stage-entry pass-rate filter."""

from __future__ import annotations

from collections import Counter
from typing import Any

from acereason.rl.recipe import Recipe, StageCfg
from acereason.rl.seeding import derived_seed
from acereason.rl.step import Sampler
from acereason.schema import DataError, Problem, read_problems


def load_stage_problems(recipe: Recipe, stage: StageCfg, state: dict[str, Any],
                        replay: bool = False) -> list[Problem]:
    """The stage's usable problems (or its replay problems), in file order, ids unique.

    ``state`` is the run's state as a mapping (``{"stages": {name: {"history": ..., ...}}}``, as checkpoints
    store it): it gives the pass history ``only_unsolved_from`` reads and receives the stage's
    ``load_dropped`` counts (first load only).

    Dropped: other-domain rows (replay keeps them), math rows without a gold answer, problems above
    ``difficulty_max`` and, with ``only_unsolved_from``, problems every rollout solved in that stage.
    """
    files = stage.replay_data if replay else stage.data
    out: list[Problem] = []
    seen: set[str] = set()
    dropped: Counter[str] = Counter()
    history = None
    if stage.only_unsolved_from and not replay:
        history = state["stages"].get(stage.only_unsolved_from, {}).get("history", {})
    for f in files:
        path = recipe.resolve(f)
        for p in read_problems(path):
            if p.id in seen:
                raise DataError(path, None, f"duplicate problem id {p.id!r} in the stage's data", field="id")
            seen.add(p.id)
            if not replay and p.domain != stage.domain:
                dropped["other_domain"] += 1
                continue
            if p.domain == "math" and p.answer is None:
                dropped["no_answer"] += 1
                continue
            score = p.meta.get("difficulty_score")
            if stage.difficulty_max is not None and isinstance(score, int | float) and score > stage.difficulty_max:
                dropped["difficulty_cap"] += 1
                continue
            if history is not None:
                solved, total = history.get(p.id, (0, 0))
                if total and solved == total:
                    dropped["solved_in_" + str(stage.only_unsolved_from)] += 1
                    continue
            out.append(p)
    if not out:
        raise DataError(files[0] if files else None, None, f"stage {stage.name!r} has no usable problems "
                        f"(dropped: {dict(dropped)})")
    if not replay:
        state["stages"].setdefault(stage.name, {}).setdefault("load_dropped", dict(dropped))
    return out


def select_entry_prompts(sample: Sampler, stage: StageCfg, index: int, pool: list[Problem], seed: int,
                         generation_batch_size: int,
                         load_dropped: dict[str, int]) -> tuple[list[str], dict[str, int]]:
    """Active prompt ids at stage entry and the filtered counts (``load_dropped`` plus the filter's). With
    ``pass_rate_filter`` each prompt is sampled ``samples`` times by ``sample`` (the entering policy), seeded from
    the run's ``seed`` and the stage ``index``, and kept only if its pass rate lies in [min, max] (paper: <= 6/16)."""
    filt = stage.pass_rate_filter
    dropped = dict(load_dropped)
    if filt is None:
        return [p.id for p in pool], dropped
    keep: list[str] = []
    chunk = max(1, generation_batch_size // max(filt.samples, 1))
    for start in range(0, len(pool), chunk):
        part = pool[start: start + chunk]
        verdicts = sample(part, filt.samples, stage.temperature_at(0), stage.top_p,
                          filt.max_tokens or stage.max_response_tokens,
                          seed=derived_seed(seed, index, 99991, start)).verdicts
        for p, group in zip(part, verdicts, strict=True):
            rate = sum(v.correct for v in group) / len(group)
            if rate > filt.max_pass_rate:
                dropped["pass_rate_above_max"] = dropped.get("pass_rate_above_max", 0) + 1
            elif rate < filt.min_pass_rate:
                dropped["pass_rate_below_min"] = dropped.get("pass_rate_below_min", 0) + 1
            else:
                keep.append(p.id)
    return keep, dropped
