"""The trainer's typed progress (acereason/rl/stage_state.py): it reads and writes exactly the checkpoint JSON
the trainer wrote before the types existed, refuses bad keys naming them, and its few mutators (take,
record_group, next_epoch) do what the trainer's hand-written dict updates did."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from acereason.rl.checkpoint import latest_checkpoint
from acereason.rl.recipe import load_recipe
from acereason.rl.stage_state import RunState, StageState
from acereason.rl.trainer import Trainer
from acereason.schema import DataError
from tests.test_trainer import recipe_dict, save_recipe


def old_checkpoint_state() -> dict[str, Any]:
    """A ``state.json`` as the trainer wrote it before StageState (taken from a 3-stage run: one finished stage,
    one mid-epoch with solved prompts removed, entropy-adapted temperature, truncated prompts counted)."""
    return {
        "global_step": 14, "optim_stage": "s2", "stage_index": 1,
        "stages": {
            "s1": {"active": ["t0", "t1", "t2"], "done": True, "epoch": 1, "filtered": {"difficulty_cap": 3},
                   "history": {"t0": [3, 4], "t1": [0, 8], "t2": [4, 4]}, "load_dropped": {"difficulty_cap": 3},
                   "pos": 2, "solved_this_epoch": [], "step": 5, "temperature": 1.0},
            "s2": {"active": ["t1", "t3"], "done": False, "epoch": 1,
                   "filtered": {"prompt_too_long": 4, "solved_every_rollout": 4}, "history": {"t1": [1, 12]},
                   "load_dropped": {}, "pos": 1, "solved_this_epoch": ["t3"], "step": 9, "temperature": 0.1},
        },
    }


def dumped(state: dict[str, Any]) -> str:
    return json.dumps(state, indent=1, sort_keys=True)  # exactly how save_checkpoint writes state.json


def test_an_old_checkpoint_loads_and_writes_back_byte_identical() -> None:
    old = old_checkpoint_state()
    run = RunState.from_json(copy.deepcopy(old))
    assert (run.stage_index, run.global_step, run.optim_stage) == (1, 14, "s2")
    s2 = run.stages["s2"]
    assert (s2.step, s2.epoch, s2.pos, s2.done, s2.temperature) == (9, 1, 1, False, 0.1)
    assert s2.active == ["t1", "t3"] and s2.solved_this_epoch == ["t3"] and s2.history == {"t1": (1, 12)}
    assert run.stages["s1"].load_dropped == {"difficulty_cap": 3} and s2.load_dropped == {}
    assert dumped(run.to_json()) == dumped(old)


def test_round_trip_through_json_text() -> None:
    st = StageState(step=3, epoch=2, pos=7, active=["b", "a"], filtered={"x": 1}, solved_this_epoch=["a"],
                    history={"a": (2, 2), "b": (0, 4)}, temperature=0.7, done=True, load_dropped={"no_answer": 2})
    run = RunState(stage_index=1, global_step=9, optim_stage="s", stages={"s": st, "fresh": StageState()})
    back = RunState.from_json(json.loads(dumped(run.to_json())))
    assert back == run
    assert dumped(back.to_json()) == dumped(run.to_json())


def test_keys_an_older_trainer_did_not_write_get_their_default() -> None:
    old = old_checkpoint_state()
    del old["stages"]["s2"]["load_dropped"]
    del old["optim_stage"]
    run = RunState.from_json(copy.deepcopy(old))
    assert run.stages["s2"].load_dropped is None and run.optim_stage is None
    assert dumped(run.to_json()) == dumped(old)  # and they stay unwritten until set
    fresh = StageState().to_json()
    assert "load_dropped" not in fresh and fresh["active"] is None and fresh["temperature"] is None


@pytest.mark.parametrize(("edit", "field", "words"), [
    (lambda s: s["stages"]["s2"].update(bogus=1), "stages.s2.bogus", "unknown key"),
    (lambda s: s["stages"]["s2"].pop("pos"), "stages.s2.pos", "missing"),
    (lambda s: s["stages"]["s1"].update(pos="2"), "stages.s1.pos", "integer"),
    (lambda s: s["stages"]["s1"].update(done=1), "stages.s1.done", "true or false"),
    (lambda s: s["stages"]["s1"]["history"].update(t9=[1]), "stages.s1.history", "[solved, total]"),
    (lambda s: s["stages"]["s1"].update(active="t0"), "stages.s1.active", "list of prompt ids"),
    (lambda s: s.pop("global_step"), "global_step", "missing"),
    (lambda s: s.update(extra=0), "extra", "unknown key"),
])
def test_a_bad_key_is_refused_naming_it(edit: Any, field: str, words: str) -> None:
    state = old_checkpoint_state()
    edit(state)
    with pytest.raises(DataError) as err:
        RunState.from_json(state, "run/checkpoints/step-00000014/state.json")
    assert err.value.field == field and words in str(err.value)
    assert str(err.value).startswith("run/checkpoints/step-00000014/state.json: field '" + field)


def test_take_advances_the_position_by_what_it_returns() -> None:
    st = StageState(active=list("abcde"))
    order = ["c", "a", "e", "b", "d"]
    assert st.take(order, 2) == ["c", "a"] and st.pos == 2
    assert st.take(order, 1) == ["e"] and st.pos == 3
    assert st.take(order, 5) == ["b", "d"] and st.pos == 5  # the epoch's tail: fewer than asked
    assert st.take(order, 3) == [] and st.pos == 5


def test_record_group_accumulates_history_and_marks_fully_solved_prompts_once() -> None:
    st = StageState(active=["a", "b"])
    st.record_group("a", 4, 4)
    st.record_group("b", 1, 4)
    st.record_group("a", 2, 4)
    st.record_group("a", 8, 8)
    assert st.history == {"a": (14, 16), "b": (1, 4)}
    assert st.solved_this_epoch == ["a"]


@pytest.mark.parametrize("remove", [True, False])
def test_next_epoch_resets_the_position_and_removes_solved_prompts_when_asked(remove: bool) -> None:
    st = StageState(epoch=0, pos=4, active=["a", "b", "c", "d"], filtered={"solved_every_rollout": 1},
                    solved_this_epoch=["c", "a"], temperature=0.6)
    removed = st.next_epoch(remove)
    assert (st.epoch, st.pos, st.solved_this_epoch, st.temperature) == (1, 0, [], 0.6)
    if remove:
        assert removed == 2 and st.active == ["b", "d"] and st.filtered == {"solved_every_rollout": 3}
    else:
        assert removed == 0 and st.active == ["a", "b", "c", "d"] and st.filtered == {"solved_every_rollout": 1}
    assert st.next_epoch(remove) == 0 and st.epoch == 2  # nothing solved in the new epoch yet


def test_a_trainer_checkpoint_round_trips_and_a_damaged_one_stops_the_resume(tmp_path: Path) -> None:
    raw = recipe_dict(steps=3, prompts_per_step=20, remove_solved_each_epoch=True)
    recipe = load_recipe(save_recipe(tmp_path, raw))
    run = tmp_path / "run"
    final = Trainer(recipe, run, progress=False).run()
    path = latest_checkpoint(run / "checkpoints")
    assert path is not None
    text = (path / "state.json").read_text()
    assert dumped(RunState.from_json(json.loads(text)).to_json()) == text == dumped(final)
    st = final["stages"]["a"]
    # 32 prompts, 20 a step: 20, the epoch's last 12, then a new epoch (solved prompts removed) from position 0
    assert st["step"] == 3 and st["epoch"] == 1 and st["pos"] == min(20, len(st["active"]))
    assert len(st["active"]) + st["filtered"].get("solved_every_rollout", 0) == 32
    damaged = json.loads(text)
    damaged["stages"]["a"]["position"] = damaged["stages"]["a"].pop("pos")
    (path / "state.json").write_text(dumped(damaged))
    with pytest.raises(DataError, match=r"field 'stages\.a\.position': unknown key"):
        Trainer(recipe, run, resume=True, progress=False)
