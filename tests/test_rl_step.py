"""The step's pieces without a Trainer: a stand-in sampler, hand-made groups."""

from __future__ import annotations

import pytest

from acereason.generate.base import Completion
from acereason.rl.batch import StepStats
from acereason.rl.data import select_entry_prompts
from acereason.rl.recipe import StageCfg
from acereason.rl.step import Rollouts, collect_rollouts, next_temperature, replay_mix, score_groups
from acereason.schema import Problem, Verdict


def prob(i: int) -> Problem:
    return Problem(id=f"p{i}", domain="math", prompt=f"q{i}", answer=str(i), source="t")


def stage(**kw) -> StageCfg:
    return StageCfg(**{"name": "s", "domain": "math", "data": ["x"], "max_response_tokens": 4, "steps": 1,
                       "rollouts_per_prompt": 2, "prompts_per_step": 2, **kw})


class FakeSampler:
    """Problem ``pN`` is correct on rollout j when ``correct[N][j]``; records each call."""

    def __init__(self, correct: dict[int, list[bool]]) -> None:
        self.correct, self.calls = correct, []

    def __call__(self, problems, group_size, temperature, top_p, max_tokens, seed):
        self.calls.append(([p.id for p in problems], group_size, seed))
        outs = [[Completion("x", [1, 2], "length" if j == 0 else "stop", [5]) for j in range(group_size)]
                for _ in problems]
        vs = [[Verdict(correct=self.correct[int(p.id[1:])][j], reason="t") for j in range(group_size)]
              for p in problems]
        return Rollouts(list(problems), outs, vs, 1.0, 2.0, truncated_prompts=1)


def test_resample_draws_from_the_callers_order_until_enough_groups_are_mixed():
    sampler = FakeSampler({0: [True, True], 1: [False, True], 2: [False, False], 3: [True, False], 4: [True, False]})
    order = [prob(2), prob(3), prob(4)]
    drawn = []

    def draw(k):
        take, order[:] = order[:k], order[k:]
        drawn.append(k)
        return take

    r = collect_rollouts(sampler, stage(zero_variance_groups="resample"), [prob(0), prob(1)], 2, 1.0, (0, 1, 2), draw)
    assert [p.id for p in r.problems] == ["p0", "p1", "p2", "p3"]
    assert drawn == [1, 1] and r.resampled == 2 and r.truncated_prompts == 3 and r.t_gen == 3.0
    assert len({c[2] for c in sampler.calls}) == 3  # every round its own seed
    kept = collect_rollouts(FakeSampler(sampler.correct), stage(), [prob(0)], 2, 1.0, (0,), draw)
    assert kept.resampled == 0 and order == [prob(4)]  # keep: never draws


def test_score_groups_masks_zero_variance_and_truncated_and_reports_passes():
    r = FakeSampler({0: [True, True], 1: [False, True]})([prob(0), prob(1)], 2, 1.0, 1.0, 4, 0)
    s = score_groups(r, {"p0"}, stage(zero_variance_groups="drop", overlong_filtering=True), "grpo")
    assert [x.train_mask for x in s.samples] == [False, False, False, True]
    assert s.passes == [("p0", 2, 2)] and s.zero_variance == 1 and s.mixed == 1 and s.truncated == 2
    assert s.samples[2].advantage < 0 < s.samples[3].advantage and s.samples[0].advantage == 0
    keep = score_groups(r, set(), stage(), "grpo")
    assert all(x.train_mask for x in keep.samples) and keep.passes == []


def test_next_temperature_and_replay_mix():
    stats = StepStats(loss=0.0, entropy=0.6, grad_norm=0.0, kl=0.0, tokens=10)
    assert next_temperature(stage(), 1.0, stats) is None
    assert next_temperature(stage(entropy_target=0.3), 1.0, stats) < 1.0  # too much entropy: cool down
    replay = [prob(i) for i in range(10, 20)]
    mixed = replay_mix(stage(replay_data=["r"], replay_fraction=0.5), [prob(0), prob(1)], replay, seed=3)
    assert mixed[:2] == [prob(0), prob(1)] and len(mixed) == 4
    assert mixed == replay_mix(stage(replay_data=["r"], replay_fraction=0.5), [prob(0), prob(1)], replay, seed=3)


@pytest.mark.parametrize("filt, kept", [
    (None, ["p0", "p1", "p2"]), ({"samples": 2, "max_pass_rate": 0.5}, ["p1", "p2"])])
def test_entry_filter_with_a_stand_in_sampler(filt, kept):
    sampler = FakeSampler({0: [True, True], 1: [False, True], 2: [False, False]})
    ids, dropped = select_entry_prompts(sampler, stage(pass_rate_filter=filt), 0, [prob(0), prob(1), prob(2)],
                                        seed=0, generation_batch_size=2, load_dropped={"no_answer": 1})
    assert ids == kept
    assert dropped == ({"no_answer": 1} if filt is None else {"no_answer": 1, "pass_rate_above_max": 1})


def test_one_name_for_the_group_size():
    """The group size G is ``group_size`` in the step's Sampler, the trainer's sampler, the advantages and the
    step's metrics (the recipe spells it ``rollouts_per_prompt``/``rollouts_schedule``, read via
    ``StageCfg.group_size_at``)."""
    import inspect

    from acereason.rl import algos, step
    from acereason.rl.trainer import Trainer

    for fn in (step.Sampler.__call__, Trainer._rollouts, step.collect_rollouts, step.step_metrics,
               algos.group_advantages):
        assert "group_size" in inspect.signature(fn).parameters, fn.__qualname__
        assert "n" not in inspect.signature(fn).parameters, fn.__qualname__
