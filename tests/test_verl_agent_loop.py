"""The sampling temperature from our trainer mode to vLLM and to the actor's log-probs (CPU; veRL's venv).

Runs veRL 0.9.1's own classes: the prompt batch from veRL's ``RLHFDataset`` and ``collate_fn`` over our parquet,
prepared by our trainer mode (:func:`prepare_gen_batch`); veRL's TransferQueue agent-loop worker
(``AgentLoopWorkerTQ``, the class its manager starts as a Ray actor, built here in-process from a composed config)
which routes every sample to the loop its ``agent_name`` names, loaded from our ``agent_loops.yaml``; our loop's
request to a stand-in LLM server that records the sampling parameters and returns tokens; the trajectories it
stores. Then veRL's own ``_compute_old_log_prob`` / ``_update_actor`` of the v1 trainer, through our trainer mode's
overrides, with a stand-in actor worker group that records the ``extra_info`` veRL sends it. The TransferQueue is
an in-memory stand-in (the real one needs Ray actors) that stores what veRL's worker puts and returns it as
``list_of_dict_to_tensordict`` builds it. Not run here: vLLM itself and veRL's FSDP actor (GPU).
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("verl")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model, save_tiny

    tok = build_char_tokenizer()
    base = tmp_path_factory.mktemp("agent")
    return save_tiny(build_tiny_model(tok), tok, base / "hf"), tok, base


def _config(model: Path, base: Path, temperature: float = 0.6):
    import verl
    from hydra import compose, initialize_config_dir

    from acereason.integrations.verl_export import AGENT_LOOPS_YAML

    loops = base / "agent_loops.yaml"
    loops.write_text(AGENT_LOOPS_YAML)  # as `acereason export verl` writes it
    with initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer" / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={model}", "actor_rollout_ref.rollout.name=vllm",
            "data.max_prompt_length=512", "data.max_response_length=16",
            f"actor_rollout_ref.rollout.temperature={temperature}",
            "actor_rollout_ref.rollout.agent.default_agent_loop=acereason_single_turn",
            f"actor_rollout_ref.rollout.agent.agent_loop_config_path={loops}"])


class FakeTQ:
    """In-memory stand-in for the TransferQueue calls veRL's agent-loop worker and trainer make."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.tags: list[tuple[str, dict]] = []

    async def async_kv_put(self, key: str, partition_id: str, tag: dict | None = None, **_: Any) -> None:
        self.tags.append((key, dict(tag or {})))

    async def async_kv_batch_put(self, keys: list[str], fields: Any, tags: Any = None, partition_id: str = "") -> None:
        for i, key in enumerate(keys):
            td = fields[i]
            self.rows[key] = {k: td[k] for k in list(td.keys())}  # td[k] unwraps non-tensor data

    def kv_batch_get(self, keys: list[str], partition_id: str, select_fields: list[str] | None = None) -> Any:
        from verl.utils.tensordict_utils import list_of_dict_to_tensordict

        fields = select_fields or list(self.rows[keys[0]])
        return list_of_dict_to_tensordict([{f: self.rows[k][f] for f in fields} for k in keys])

    def kv_batch_put(self, keys: list[str], partition_id: str, fields: Any = None, tags: Any = None) -> Any:
        from transfer_queue import KVBatchMeta

        for i, key in enumerate(keys):
            for f in list(fields.keys()):
                self.rows[key][f] = fields[f][i]
        return KVBatchMeta(partition_id=partition_id, keys=list(keys), tags=[{} for _ in keys])


class StandInServer:
    """veRL's LLM server client as the agent loop calls it: records each request, returns a few tokens."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def generate(self, request_id: str, prompt_ids: list[int], sampling_params: dict, **_: Any) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        self.requests.append(dict(sampling_params))
        n = 2 + len(self.requests) % 4  # varying lengths: veRL stores them as nested tensors
        return TokenOutput(token_ids=[5 + i for i in range(n)], log_probs=[-0.5] * n)


def _dataset(tok: Any, base: Path, n: int = 3):
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import create_rl_dataset

    from acereason.demo.tasks import math_task
    from acereason.integrations.verl_export import write_problems_parquet
    from acereason.rl.recipe import Recipe

    rng = random.Random(0)
    problems = [math_task(rng).problem.model_copy(update={"id": f"p{i}"}) for i in range(n)]
    recipe = Recipe.model_validate({"name": "t", "model": {"tiny": True}, "stages": [
        {"name": "s", "domain": "math", "data": ["x"], "epochs": 3, "max_response_tokens": 16}]})
    path = base / "train.parquet"
    write_problems_parquet(problems, path, recipe)
    cfg = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 4096, "filter_overlong_prompts": False,
                            "truncation": "error", "return_raw_chat": True, "shuffle": False})
    return create_rl_dataset([str(path)], cfg, tok, None, is_train=True)


def _rollout(config: Any, batch_dict: dict, monkeypatch: pytest.MonkeyPatch, *, global_steps: int = 1):
    """veRL's TQ agent-loop worker over one prepared batch: (server requests, stored trajectories, fake TQ)."""
    import transfer_queue as tq
    from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopWorkerTQ
    from verl.utils import tensordict_utils as tu

    fake = FakeTQ()
    monkeypatch.setattr(tq, "init", lambda *a, **k: None)
    monkeypatch.setattr(tq, "async_kv_put", fake.async_kv_put)
    monkeypatch.setattr(tq, "async_kv_batch_put", fake.async_kv_batch_put)
    server = StandInServer()
    worker = AgentLoopWorkerTQ.__ray_actor_class__(config, server, None, None)  # the class the Ray actor runs
    # the stand-in model's character tokenizer is not Qwen's: use veRL's generic token builder, not the Qwen one
    worker.hf_model_type = None
    batch = tu.get_tensordict(batch_dict)
    tu.assign_non_tensor_data(batch, "global_steps", global_steps)

    async def go() -> None:
        await worker.generate_sequences(batch)
        while worker.background_tasks:
            await asyncio.gather(*list(worker.background_tasks))

    asyncio.run(go())
    assert {t["status"] for _, t in fake.tags} == {"running", "finished"}, fake.tags  # no loop failed
    return server.requests, fake.rows, fake


def test_sampling_params_at() -> None:
    from acereason.integrations.verl_agent_loop import sampling_params_at

    base = {"temperature": 0.6, "top_p": 1.0, "top_k": -1, "logprobs": True}
    assert sampling_params_at(base, 0.8) == {**base, "temperature": 0.8} and base["temperature"] == 0.6
    assert sampling_params_at(base, None) == base
    greedy = {**base, "temperature": 0, "top_p": 1.0}
    assert sampling_params_at(greedy, 0.8) == greedy  # greedy stays greedy
    for bad in (0.0, -1.0, float("nan"), "hot"):
        with pytest.raises(ValueError, match="acereason_temperature"):
            sampling_params_at(base, bad)


def test_agent_loop_names_agree_with_the_export() -> None:
    from acereason.integrations.verl_agent_loop import AGENT_NAME, agent_loops_yaml
    from acereason.integrations.verl_export import AGENT_LOOPS_YAML
    from acereason.integrations.verl_overrides import AGENT_LOOP

    assert AGENT_LOOP == AGENT_NAME and agent_loops_yaml() == AGENT_LOOPS_YAML


def test_scheduled_temperature_reaches_the_server_and_the_trajectories(tiny, monkeypatch) -> None:
    """Epoch 1 of the code stage's schedule (0.6 -> 0.8 -> 1.0) with the config at 0.6: every request carries 0.8,
    with the epoch's group size per prompt; the trajectories record 0.8. Control: a batch without our field
    samples at the config's 0.6 through the same loop."""
    from verl.utils.dataset.rl_dataset import collate_fn

    from acereason.integrations.verl_agent_loop import SAMPLED_KEY, TEMPERATURE_FIELD
    from acereason.integrations.verl_trainer import EpochTracker, StageSpec, batch_temperature, prepare_gen_batch

    model, tok, base = tiny
    ds = _dataset(tok, base)
    tracker = EpochTracker(StageSpec(epochs=3, temperature_schedule=(0.6, 0.8, 1.0), rollouts_schedule=(2, 3)))
    tracker.end_epoch(next_step=2)
    assert (tracker.temperature, tracker.group_size) == (0.8, 3)
    raw = collate_fn([ds[i] for i in range(3)])
    prepared = prepare_gen_batch(raw, tracker)
    assert list(prepared["agent_name"]) == ["acereason_single_turn"] * 3 and "agent_name" not in raw
    requests, rows, fake = _rollout(_config(model, base, temperature=0.6), prepared, monkeypatch, global_steps=2)
    assert len(requests) == 9 and {r["temperature"] for r in requests} == {0.8}  # 3 prompts x group size 3
    assert {r["top_p"] for r in requests} == {1.0}
    assert len(rows) == 9 and {float(r[TEMPERATURE_FIELD]) for r in rows.values()} == {0.8}
    assert {r["extra_fields"][SAMPLED_KEY] for r in rows.values()} == {0.8}
    assert batch_temperature([r["extra_fields"] for r in rows.values()], default=0.6) == 0.8
    # epoch-wise removal keys on the prompt: the row's extra_info is its own field of the stored trajectory
    from acereason.integrations.verl_trainer import rollout_prompt_ids

    got = fake.kv_batch_get(list(rows), "train", ["uid", "extra_info"])
    assert sorted(set(rollout_prompt_ids(list(got["extra_info"]), list(got["uid"])))) == ["p0", "p1", "p2"]
    # control: the same loop without the per-sample field (e.g. a validation batch) keeps the config's value
    plain = dict(prepared)
    plain.pop(TEMPERATURE_FIELD)
    requests, rows, _ = _rollout(_config(model, base, temperature=0.6), plain, monkeypatch)
    assert {r["temperature"] for r in requests} == {0.6}
    assert {r["extra_fields"][SAMPLED_KEY] for r in rows.values()} == {0.6}


def test_batch_temperature_refuses_mixed_batches() -> None:
    from acereason.integrations.verl_agent_loop import SAMPLED_KEY
    from acereason.integrations.verl_trainer import batch_temperature

    assert batch_temperature([{}, {"turn_scores": []}], default=0.6) == 0.6  # another agent loop: the config's
    with pytest.raises(ValueError, match="several temperatures"):
        batch_temperature([{SAMPLED_KEY: 0.6}, {SAMPLED_KEY: 0.8}], default=0.6)


class StandInActor:
    """veRL's actor worker group as the v1 trainer calls it: records the extra_info of each call."""

    def __init__(self, fake: FakeTQ) -> None:
        self.fake, self.calls = fake, []

    def compute_log_prob(self, batch: Any) -> Any:
        import torch

        self.calls.append(("compute_log_prob", dict(batch.extra_info)))
        for k in batch.keys:  # per-token outputs over prompt + response, as veRL's engine writes them
            n = len(self.fake.rows[k]["input_ids"])
            self.fake.rows[k]["log_probs"] = torch.full((n,), -0.5)
            self.fake.rows[k]["entropy"] = torch.full((n,), 0.3)
        return batch

    def update_actor(self, batch: Any) -> Any:
        self.calls.append(("update_actor", dict(batch.extra_info)))
        return {"metrics": {"mfu": 0.0, "pg_loss": [0.0]}}


def _trainer(config: Any, tracker: Any, fake: FakeTQ):
    from acereason.integrations.verl_trainer import AceReasonTrainer

    assert AceReasonTrainer is not None
    trainer = object.__new__(AceReasonTrainer)  # its __init__ starts veRL's GPU workers; the methods need only:
    trainer.config, trainer.ace, trainer.ace_spec = config, tracker, tracker.spec
    trainer.actor_rollout_wg = StandInActor(fake)
    return trainer


def test_actor_log_probs_use_the_sampling_temperature(tiny, monkeypatch) -> None:
    """veRL's own _compute_old_log_prob and _update_actor (v1 trainer) through our trainer mode: the actor is
    asked for log-probs and the update at the temperature the batch was sampled at (0.8), not the config's 0.6.
    Control: veRL's methods without our hook send 0.6 (issue 18's mismatch)."""
    import transfer_queue as tq
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
    from verl.utils.dataset.rl_dataset import collate_fn

    from acereason.integrations.verl_trainer import EpochTracker, StageSpec, prepare_gen_batch

    model, tok, base = tiny
    ds = _dataset(tok, base)
    tracker = EpochTracker(StageSpec(epochs=3, temperature_schedule=(0.6, 0.8, 1.0)))
    tracker.end_epoch(next_step=2)
    config = _config(model, base, temperature=0.6)
    _, rows, fake = _rollout(config, prepare_gen_batch(collate_fn([ds[i] for i in range(2)]), tracker), monkeypatch)
    monkeypatch.setattr(tq, "kv_batch_get", fake.kv_batch_get)
    monkeypatch.setattr(tq, "kv_batch_put", fake.kv_batch_put)

    def meta() -> Any:
        return KVBatchMeta(partition_id="train", keys=list(rows), tags=[{} for _ in rows])

    control = _trainer(_config(model, base, temperature=0.6), tracker, fake)
    PPOTrainerSync._compute_old_log_prob(control, meta(), {})
    assert control.actor_rollout_wg.calls[-1][1]["temperature"] == 0.6  # what veRL alone would do
    trainer = _trainer(config, tracker, fake)
    metrics: dict = {}
    batch = trainer._compute_old_log_prob(meta(), metrics)
    trainer._update_actor(batch, metrics)
    assert [(name, info["temperature"]) for name, info in trainer.actor_rollout_wg.calls] == [
        ("compute_log_prob", 0.8), ("update_actor", 0.8)]
    assert metrics["acereason/sampling_temperature"] == 0.8 and metrics["actor/entropy"] == pytest.approx(0.3)


def test_entropy_targeted_temperature_reaches_the_next_batch(tiny, monkeypatch) -> None:
    """entropy_target: after a step whose entropy (veRL's actor/entropy) is under the target the tracker raises the
    temperature; the next prepared batch is sampled at it, and the actor is asked for it too."""
    import transfer_queue as tq
    from transfer_queue import KVBatchMeta
    from verl.utils.dataset.rl_dataset import collate_fn

    from acereason.integrations.verl_trainer import EpochTracker, StageSpec, entropy_temperature, prepare_gen_batch

    model, tok, base = tiny
    ds = _dataset(tok, base)
    tracker = EpochTracker(StageSpec(epochs=1, temperature=0.6, entropy_target=0.5))
    config = _config(model, base, temperature=0.6)
    raw = collate_fn([ds[i] for i in range(2)])
    _, rows, fake = _rollout(config, prepare_gen_batch(raw, tracker), monkeypatch)
    monkeypatch.setattr(tq, "kv_batch_get", fake.kv_batch_get)
    monkeypatch.setattr(tq, "kv_batch_put", fake.kv_batch_put)
    trainer = _trainer(config, tracker, fake)
    metrics: dict = {}
    batch = trainer._compute_old_log_prob(KVBatchMeta(partition_id="train", keys=list(rows),
                                                      tags=[{} for _ in rows]), metrics)
    trainer._update_actor(batch, metrics)  # entropy 0.3 < target 0.5: the temperature goes up
    t1 = entropy_temperature(0.6, 0.3, 0.5)
    assert tracker.temperature == pytest.approx(t1) and t1 > 0.6
    requests, rows2, fake2 = _rollout(config, prepare_gen_batch(raw, tracker), monkeypatch, global_steps=2)
    assert requests and all(r["temperature"] == pytest.approx(t1) for r in requests)
    monkeypatch.setattr(tq, "kv_batch_get", fake2.kv_batch_get)
    monkeypatch.setattr(tq, "kv_batch_put", fake2.kv_batch_put)
    trainer.actor_rollout_wg = StandInActor(fake2)
    trainer._compute_old_log_prob(KVBatchMeta(partition_id="train", keys=list(rows2), tags=[{} for _ in rows2]), {})
    assert trainer.actor_rollout_wg.calls[-1][1]["temperature"] == pytest.approx(t1)
