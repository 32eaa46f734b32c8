"""The shipped recipes encode the paper's schedule (DESIGN.md "The recipe")."""

from __future__ import annotations

from pathlib import Path

import pytest

from acereason.rl.recipe import load_recipe

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("size,cap", [("7b", 5), ("14b", 7)])
def test_paper_schedule(size: str, cap: int) -> None:
    r = load_recipe(CONFIGS / f"acereason-{size}.yaml", check_files=False)
    assert [(s.domain, s.max_response_tokens) for s in r.stages] == [
        ("math", 8192), ("math", 16384), ("math", 24576), ("code", 24576), ("code", 32768), ("math", 32768)]
    t = r.train
    assert t.updates_per_batch == 1 and t.kl_coef == 0 and t.loss_aggregation == "token-mean"
    assert t.advantage == "grpo" and t.clip_eps is None
    m8, m16, m24, c24, c32, m32 = r.stages
    assert all(s.prompts_per_step == 128 for s in r.stages)
    assert [m8.rollouts_per_prompt, m16.rollouts_per_prompt, m24.rollouts_per_prompt] == [8, 16, 16]
    assert all(s.lr == 1e-6 for s in (m8, m16, m24, m32)) and c24.lr == c32.lr == 5e-6
    assert m24.pass_rate_filter.max_pass_rate == pytest.approx(6 / 16)
    assert m32.pass_rate_filter.max_pass_rate == pytest.approx(6 / 16) and m32.only_unsolved_from == "math-24k"
    assert c24.temperature == 0.6 and c24.rollouts_per_prompt == 8 and c24.difficulty_max == cap
    assert c32.difficulty_max is None and c32.remove_solved_each_epoch
    assert c32.temperature_at(0) == 0.6 and c32.temperature_at(9) == 1.0
    assert c32.group_size_at(0) == 8 and c32.group_size_at(5) == 16
    assert m8.overlong_filtering and m16.overlong_filtering and not c32.overlong_filtering
    assert not m32.overlong_filtering


def test_demo_recipe_in_code_is_configs_demo_yaml() -> None:
    import yaml

    from acereason.demo.recipe import DEMO_RECIPE

    assert yaml.safe_load((CONFIGS / "demo.yaml").read_text()) == DEMO_RECIPE


def test_a_relative_base_dir_is_made_absolute_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from acereason.demo.recipe import demo_recipe
    from acereason.rl.recipe import recipe_from_dict

    monkeypatch.chdir(tmp_path)
    r = load_recipe(CONFIGS / "demo.yaml", check_files=False, overrides={"base_dir": "runs/demo"})
    assert r.base_dir == tmp_path.resolve() / "runs" / "demo"
    assert r.resolve(r.model.path) == tmp_path.resolve() / "runs" / "demo" / "sft"
    assert r.resolve(r.stages[0].data[0]) == tmp_path.resolve() / "runs" / "demo" / "data" / "rl_math.jsonl"
    (tmp_path / "runs" / "demo" / "sft").mkdir(parents=True)  # the demo's files, where its recipe says
    (tmp_path / "runs" / "demo" / "data").mkdir()
    for f in ("rl_math.jsonl", "rl_code.jsonl"):
        (tmp_path / "runs" / "demo" / "data" / f).write_text("")
    built = recipe_from_dict({**demo_recipe(), "base_dir": "runs/demo"})  # files checked
    assert built.base_dir.is_absolute() and built.resolve("sft").is_dir()
    assert recipe_from_dict({**demo_recipe(), "base_dir": "."}, check_files=False).base_dir == tmp_path.resolve()


def test_algorithm_names_are_defined_once() -> None:
    """The recipe's algorithm fields are typed by the enums of rl/names.py, the same objects the math and the
    step use; a recipe's plain strings load to those members and dump back to the same strings (issue 16)."""
    import yaml

    from acereason.rl import algos, names
    from acereason.rl.recipe import StageCfg, TrainCfg, recipe_from_dict
    from acereason.schema import DataError

    assert algos.AdvantageEstimator is names.AdvantageEstimator and algos.LossAggregation is names.LossAggregation
    typed = {TrainCfg.model_fields["advantage"].annotation: names.AdvantageEstimator,
             TrainCfg.model_fields["loss_aggregation"].annotation: names.LossAggregation,
             TrainCfg.model_fields["sampler"].annotation: names.SamplerKind,
             StageCfg.model_fields["zero_variance_groups"].annotation: names.ZeroVarianceGroups,
             StageCfg.model_fields["prompt_overflow"].annotation: names.PromptOverflow}
    assert all(k is v for k, v in typed.items())
    raw = yaml.safe_load((CONFIGS / "demo.yaml").read_text(encoding="utf-8"))
    raw["train"] = {**(raw.get("train") or {}), "advantage": "dr_grpo", "loss_aggregation": "seq-mean-token-sum"}
    raw["stages"][0]["zero_variance_groups"] = "resample"
    r = recipe_from_dict(raw, check_files=False)
    assert r.train.advantage is names.AdvantageEstimator.DR_GRPO and r.train.advantage == "dr_grpo"
    assert r.stages[0].zero_variance_groups is names.ZeroVarianceGroups.RESAMPLE
    dumped = r.model_dump(mode="json")
    assert dumped["train"]["loss_aggregation"] == "seq-mean-token-sum" and type(dumped["train"]["advantage"]) is str
    raw["train"]["advantage"] = "ppo"
    with pytest.raises(DataError, match=r"field 'train.advantage': Input should be 'grpo' or 'dr_grpo'"):
        recipe_from_dict(raw, source="r.yaml", check_files=False)
