"""The trainer extension's epoch-boundary and loss-mask logic on veRL's own data structures (CPU; veRL's venv).

Generation is a stand-in (a fixed "policy" that solves some prompts); the dataset is veRL's RLHFDataset over our
exported parquet; the batch is veRL's DataProto with our reward manager's reward_extra_info.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("verl")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model, save_tiny

    tok = build_char_tokenizer()
    return save_tiny(build_tiny_model(tok), tok, tmp_path_factory.mktemp("tiny") / "hf"), tok


def _dataset(tmp: Path, tok, n: int = 12):
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import create_rl_dataset

    from acereason.demo.tasks import math_task
    from acereason.integrations.verl_export import write_problems_parquet
    from acereason.rl.recipe import Recipe

    rng = random.Random(0)
    problems = [math_task(rng).problem.model_copy(update={"id": f"p{i}"}) for i in range(n)]
    recipe = Recipe.model_validate({"name": "t", "model": {"tiny": True}, "stages": [
        {"name": "s", "domain": "math", "data": ["x"], "epochs": 3, "max_response_tokens": 64}]})
    path = tmp / "train.parquet"
    write_problems_parquet(problems, path, recipe)
    cfg = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 4096, "filter_overlong_prompts": False,
                            "truncation": "error", "return_raw_chat": True, "shuffle": False})
    return create_rl_dataset([str(path)], cfg, tok, None, is_train=True), problems


def test_loss_mask_overlong_and_zero_variance_on_raw_accuracy(tiny) -> None:
    from acereason.integrations.verl_data import dataproto_batch
    from acereason.integrations.verl_trainer import StageSpec, extra_values, loss_mask

    _, tok = tiny
    rows = [{"prompt": [{"role": "user", "content": "q"}], "data_source": "d", "reward_model": {}, "extra_info": {}}]
    data = dataproto_batch(tok, rows * 6, ["a", "bb", "c", "dd", "e", "ff"], max_response_length=4,
                           uids=["g1"] * 3 + ["g2"] * 3)
    mask = data.batch["attention_mask"][:, -4:].clone()
    # reward_extra_info as veRL stores it per sample; shaped score differs from raw acc in g2 (all acc 0)
    infos = [{"reward_extra_info": {"acc": a, "score": s, "overlong": o}} for a, s, o in
             [(1, 1, 0), (0, 0, 1), (1, 1, 0), (0, 0.5, 0), (0, 0.2, 0), (0, 0, 0)]]
    acc, over = extra_values(infos, "acc"), extra_values(infos, "overlong")
    uids = list(data.non_tensor_batch["uid"])
    keep, m = loss_mask(mask, uids, acc, over, StageSpec(overlong_filtering=True, zero_variance_groups="drop"))
    assert [bool(r.any()) for r in keep] == [True, False, True, False, False, False]
    assert m["acereason/zero_variance_frac"] == 0.5 and m["acereason/overlong_frac"] == pytest.approx(1 / 6)
    same, _ = loss_mask(mask, uids, acc, over, StageSpec())  # keep / no overlong filtering: mask unchanged
    assert bool((same == mask).all())
    # everything excluded: the mask stays (no empty token-mean)
    allzero, m2 = loss_mask(mask, uids, [0] * 6, over, StageSpec(zero_variance_groups="drop"))
    assert bool((allzero == mask).all()) and m2["acereason/loss_excluded_frac"] == 0.0


def _run_epochs(tracker, dataset, solves, batch: int, stop_after_step: int | None = None, start_step: int = 1):
    """Drive epochs as the trainer does: batches from the dataset, stand-in rollouts, boundary on exhaustion."""
    from acereason.integrations.verl_trainer import prompt_id, remove_prompts

    step = start_step
    seen_per_epoch: list[list[str]] = []
    while not tracker.finished:
        ids = [prompt_id(dataset.dataframe[i]) for i in range(len(dataset))]
        seen_per_epoch.append(ids)
        start = (step - tracker.epoch_start_steps[-1]) * batch
        for k in range(start, len(ids) - len(ids) % batch, batch):
            chunk = ids[k:k + batch]
            g = tracker.group_size
            tracker.record([p for p in chunk for _ in range(g)],
                           [float(solves(p, j)) for p in chunk for j in range(g)])
            if stop_after_step is not None and step == stop_after_step:
                return step, seen_per_epoch
            step += 1
        remove_prompts(dataset, tracker.end_epoch(step))
    return step, seen_per_epoch


def test_epochwise_removal_schedules_and_resume_at_boundary(tiny, tmp_path: Path) -> None:
    from acereason.integrations.verl_trainer import EpochTracker, StageSpec

    _, tok = tiny
    spec = StageSpec(epochs=3, temperature_schedule=(0.6, 0.8, 1.0), rollouts_schedule=(8, 16),
                     remove_solved_each_epoch=True)

    def solves(pid: str, j: int) -> bool:  # p0..p3 always solved; p4 solved by all but one rollout
        k = int(pid[1:])
        return k < 4 or (k == 4 and j > 0)

    ds, _ = _dataset(tmp_path, tok)
    t = EpochTracker(spec)
    assert (t.temperature, t.group_size) == (0.6, 8)
    _, seen = _run_epochs(t, ds, solves, batch=4)
    assert len(seen) == 3 and len(seen[0]) == 12
    assert seen[1] == seen[2] == [f"p{i}" for i in range(4, 12)]  # solved in all rollouts: gone after epoch 1
    assert t.removed == ["p0", "p1", "p2", "p3"] and "p4" not in t.removed
    assert (t.epoch, t.temperature, t.group_size) == (3, 1.0, 16)
    assert t.epoch_start_steps == [1, 4, 6, 8]

    # the same run, interrupted at the last step of epoch 1 and resumed from the saved state: same epochs
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    ds2, _ = _dataset(tmp_path / "b", tok)
    t2 = EpochTracker(spec)
    step, _ = _run_epochs(t2, ds2, solves, batch=4, stop_after_step=3)
    t2.save(tmp_path / "ckpt")
    ds3, _ = _dataset(tmp_path / "c", tok)
    back = EpochTracker.load(spec, tmp_path / "ckpt")
    assert back is not None and back.epoch == 0 and back.epoch_at(3) == 0
    from acereason.integrations.verl_trainer import remove_prompts

    remove_prompts(ds3, back.removed)
    remove_prompts(ds3, back.end_epoch(step + 1))  # the dataloader was exhausted: the boundary comes first
    _, seen3 = _run_epochs(back, ds3, solves, batch=4, start_step=step + 1)
    assert len(seen3) == 2 and seen3[0] == seen[1]  # epoch 2 runs (not skipped), without the solved prompts
    assert back.epoch_start_steps == t.epoch_start_steps and back.removed == t.removed


def test_entropy_targeted_temperature() -> None:
    from acereason.integrations.verl_trainer import EpochTracker, StageSpec

    t = EpochTracker(StageSpec(temperature=0.6, entropy_target=0.3))
    t.after_step(0.1)  # entropy below target: hotter
    hot = t.temperature
    assert hot > 0.6
    t.after_step(0.9)  # above: colder
    assert t.temperature < hot
    t.end_epoch(5)  # no schedule: the adapted temperature carries over the epoch boundary
    assert t.temperature < hot and t.temperature != 0.6
