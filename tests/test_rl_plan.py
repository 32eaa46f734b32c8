"""The memory plan: parameter counts from config.json, monotone components, --plan and the refusal."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from acereason.cli import app
from acereason.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model
from acereason.rl.plan import GIB, plan_recipe, recipe_shape, shape_from_config
from acereason.rl.recipe import recipe_from_dict
from tests.test_trainer import recipe_dict, save_recipe

QWEN_15B = {"vocab_size": 151936, "hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12,
            "num_key_value_heads": 2, "intermediate_size": 8960, "tie_word_embeddings": True, "model_type": "qwen2"}


def _recipe(**train):
    stage = {"name": "s", "domain": "math", "data": ["x"], "max_prompt_tokens": 1024, "max_response_tokens": 8192,
             "rollouts_per_prompt": 8, "prompts_per_step": 128, "steps": 1}
    return recipe_from_dict({"model": {"path": "m", **train.pop("model", {})}, "train": train, "stages": [stage]},
                            check_files=False)


def test_parameter_count_matches_the_built_model():
    tok = build_char_tokenizer()
    for arch in ("qwen2", "llama"):
        model = build_tiny_model(tok, TinyModelConfig(arch=arch, layers=3, hidden=96, heads=4, kv_heads=2))
        shape = shape_from_config(model.config.to_dict())
        assert shape.params == sum(p.numel() for p in model.parameters())
    assert shape_from_config(QWEN_15B).params == 1_543_714_304  # Qwen2.5-1.5B's published count
    r = recipe_from_dict({"model": {"tiny": True}, "stages": [{"name": "a", "domain": "math", "data": ["x"],
                                                               "max_response_tokens": 8, "steps": 1}]},
                         check_files=False)
    assert recipe_shape(r).params == sum(p.numel() for p in build_tiny_model(tok).parameters())


def test_components_follow_the_settings():
    shape = shape_from_config(QWEN_15B)
    plain = plan_recipe(_recipe(micro_batch_size=1), "cuda", shape)[0]
    ckpt = plan_recipe(_recipe(micro_batch_size=1, model={"gradient_checkpointing": True}), "cuda", shape)[0]
    bf16 = plan_recipe(_recipe(micro_batch_size=1, model={"gradient_checkpointing": True, "bf16_autocast": True}),
                       "cuda", shape)[0]
    assert plain.parts["weights"] == shape.params * 4 and plain.parts["optimizer"] == 2 * shape.params * 4
    assert ckpt.parts["activations"] < plain.parts["activations"] / 5
    assert bf16.parts["activations"] < ckpt.parts["activations"]
    assert plain.parts["reference"] == 0
    assert plan_recipe(_recipe(kl_coef=0.1), "cuda", shape)[0].parts["reference"] == shape.params * 4
    hf = plan_recipe(_recipe(sampler="hf"), "cuda", shape)[0]
    static = plan_recipe(_recipe(sampler="static"), "cuda", shape)[0]
    assert hf.parts["kv_cache"] > static.parts["kv_cache"]  # the HF loop's resize holds two buffers
    # KV cache: 64 rows x (1024 + 8192) positions x 28 layers x 2 x 256 x 4 bytes, static rounds to 256
    assert static.parts["kv_cache"] == 64 * 9216 * 28 * 2 * 256 * 4
    assert plain.peak == max(plain.sampling, plain.update) > 10 * GIB


def test_plan_prints_a_table_and_refusal_names_stage_and_shortfall(tmp_path: Path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps(QWEN_15B))
    data = recipe_dict(max_response_tokens=8192)
    data["model"] = {"path": "m"}
    data["train"]["reward_fn"] = None
    path = save_recipe(tmp_path, data)
    res = CliRunner().invoke(app, ["train", str(path), "--plan", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "kv_cache" in res.stdout and "\na " in res.stdout and "available RAM" in res.stdout
    res = CliRunner().invoke(app, ["train", str(path), "--device", "cpu", "--out", str(tmp_path / "r")])
    err = res.stderr.strip()
    assert res.exit_code == 2 and len(err.splitlines()) == 1, res.output
    assert "stage 'a'" in err and "short by" in err and "--ignore-memory-plan" in err
    assert not (tmp_path / "r").exists()  # refused before anything was loaded or written


def test_bad_config_json_is_one_line(tmp_path: Path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"hidden_size": 8}))
    data = recipe_dict()
    data["model"] = {"path": "m"}
    data["train"]["reward_fn"] = None
    path = save_recipe(tmp_path, data)
    res = CliRunner().invoke(app, ["train", str(path), "--plan", "--device", "cpu"])
    assert res.exit_code == 2 and "config.json" in res.stderr and "num_attention_heads" in res.stderr


def _saved_bytes(model, ids, autocast: bool) -> int:
    """Bytes of the non-parameter tensors autograd saves in a forward of the decoder (unique storages)."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            seen.setdefault(st.data_ptr(), st.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        model.model(input_ids=ids)
    return sum(seen.values())


def test_activation_count_matches_what_autograd_saves():
    """The plan's per-layer count against the tensors autograd really keeps (fp32 and bf16 autocast), and the
    checkpointed count against the layer inputs kept plus one layer's set recomputed in the backward."""
    import torch

    from acereason.rl.plan import plan_stage

    tok = build_char_tokenizer()
    layers, rows, seq = 3, 2, 128
    model = build_tiny_model(tok, TinyModelConfig(layers=layers, hidden=256, heads=4, kv_heads=2, intermediate=768))
    model.train()
    shape = shape_from_config(model.config.to_dict())
    ids = torch.randint(3, len(tok) - 8, (rows, seq), generator=torch.Generator().manual_seed(0))
    stage = {"name": "s", "domain": "math", "data": ["x"], "max_prompt_tokens": 64, "max_response_tokens": seq - 64,
             "rollouts_per_prompt": rows, "prompts_per_step": 1, "steps": 1}
    for autocast in (False, True):
        full = _saved_bytes(model, ids, autocast)
        model.gradient_checkpointing_enable()
        kept = _saved_bytes(model, ids, autocast)
        model.gradient_checkpointing_disable()
        for ckpt, measured in ((False, full), (True, kept + full / layers)):
            r = recipe_from_dict({"model": {"tiny": True, "gradient_checkpointing": ckpt, "bf16_autocast": autocast},
                                  "train": {"micro_batch_size": rows}, "stages": [stage]}, check_files=False)
            est = plan_stage(shape, r, r.stages[0], "cpu").parts["activations"]
            assert abs(est / measured - 1) < 0.10, (autocast, ckpt, est, measured)
