"""veRL reward manager ``acereason``: samples judged in batches by our pooled verifiers under one deadline.

Imports veRL: load it only where veRL is installed (veRL's reward workers, ``.venv-verl``). veRL 0.9.1 finds
it two ways, both veRL's own: registered by name (``@register("acereason")``, done when veRL loads our plugin,
:mod:`acereason.integrations.verl_plugin`; then ``reward.reward_manager.name=acereason``), or by import
(``reward.reward_manager.source=importlib``, ``module.path=pkg://acereason.integrations.verl_reward_manager``,
``name=AceReasonRewardManager``), which is what ``acereason export verl`` writes.

veRL calls ``run_single`` once per sample, concurrently on each reward worker's event loop (streamed from
the agent loops while rollouts finish, or all of a batch at once from ``compute_score_batch``). This manager
collects the samples that arrive within ``window_s`` (or ``max_batch`` of them) and judges them together
with :func:`acereason.integrations.verl_batch.score_rows`: one sandbox pool, every verification bounded by
``timeout_s`` from its start, the batch by :func:`~acereason.integrations.verl_batch.batch_deadline`, and an
``asyncio`` backstop past that deadline, so a reward never hangs the run (veRL's naive and DAPO managers call
the reward function with no timeout). The code judge returns a verdict only once the program's process tree
is dead and reaped, so no process outlives its verdict; a solution that raises scores ``runtime_error``, 0.

``reward_extra_info`` carries, for every sample, ``score``, ``acc`` (raw 0/1 accuracy, what dynamic
sampling and our trainer extension filter on), ``verifier_failed``, ``code_tests_frac``, ``overlong``
(1 when the response hit ``data.max_response_length`` without an end-of-sequence token) and the verdict
breakdown ``verdict/accepted|wrong|time_limit|runtime_error|no_code|timeout|verifier_error`` (0/1 each;
their means are the class fractions, logged by our trainer extension as ``reward/verdict/<class>``).

Knobs (optional, in the run's config): ``+acereason.reward.timeout_s`` (per verification, default 30),
``+acereason.reward.workers`` (concurrent math verifications, default one per core),
``+acereason.reward.window_s`` (collection window, default 0.05 s), ``+acereason.reward.max_batch`` (default
4096). A custom ``reward.custom_reward_function`` is not used by this manager (it judges with our verifiers).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from acereason.integrations.verl_batch import Row, batch_deadline, result_dict, score_rows
from acereason.schema import Verdict

__all__ = ["AceReasonRewardManager"]

_BACKSTOP_S = 5.0  # past the batch deadline, the asyncio backstop gives up on the verifier thread


def _knobs(config: Any) -> dict[str, Any]:
    node = None
    try:
        node = config.get("acereason", None)
        node = node.get("reward", None) if node is not None else None
    except AttributeError:
        node = None
    return dict(node) if node else {}


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        return dict(value)
    except (TypeError, ValueError):
        return {}


@register("acereason")
class AceReasonRewardManager(RewardManagerBase):
    """Batches concurrent ``run_single`` calls and judges each batch with our verifiers under one deadline."""

    def __init__(self, config: Any, tokenizer: Any, compute_score: Any = None, reward_router_address: Any = None,
                 reward_model_tokenizer: Any = None, **kwargs: Any) -> None:
        super().__init__(config, tokenizer, compute_score)
        knobs = _knobs(config)
        self.timeout_s = float(knobs.get("timeout_s", 30.0))
        self.workers = int(knobs["workers"]) if knobs.get("workers") else None
        self.window_s = float(knobs.get("window_s", 0.05))
        self.max_batch = int(knobs.get("max_batch", 4096))
        if self.timeout_s <= 0 or self.window_s < 0 or self.max_batch < 1:
            raise ValueError(f"acereason.reward: timeout_s > 0, window_s >= 0, max_batch >= 1 required, got {knobs}")
        data_cfg = config.get("data", None) if hasattr(config, "get") else None
        self.max_response_length = int(data_cfg.get("max_response_length", 0) or 0) if data_cfg else 0
        self._pending: list[tuple[Row, asyncio.Future[Verdict]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="acereason-reward")
        self.batches: list[dict[str, float]] = []
        """Per judged batch: ``n``, ``seconds``, ``deadline_s`` (for tests and benchmarks; last 100 kept)."""

    # ---- one sample -> row ----
    def _row(self, data: DataProto) -> tuple[Row, bool]:
        item = data[-1:][0]  # multi-sequence outputs: the reward is the last sequence's
        response_ids = item.batch["responses"]
        width = response_ids.shape[-1]
        valid = int(item.batch["attention_mask"][-width:].sum())
        ids = response_ids[:valid]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        eos = getattr(self.tokenizer, "eos_token_id", None)
        eos_ids = set(eos if isinstance(eos, list | tuple) else [eos]) - {None}
        ended = valid > 0 and int(ids[-1]) in eos_ids
        limit = self.max_response_length or width
        overlong = valid >= limit and not ended
        nt = item.non_tensor_batch
        reward_model = _as_dict(nt.get("reward_model"))
        extra = _as_dict(nt.get("extra_info"))
        return Row(str(nt.get("data_source") or ""), text, reward_model.get("ground_truth"), extra), overlong

    # ---- batching ----
    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            asyncio.get_running_loop().create_task(self._judge(batch))

    async def _judge(self, batch: list[tuple[Row, asyncio.Future[Verdict]]]) -> None:
        loop = asyncio.get_running_loop()
        rows = [r for r, _ in batch]
        deadline = batch_deadline(len(rows), self.timeout_s, self.workers)
        t0 = time.monotonic()
        try:
            verdicts = await asyncio.wait_for(
                loop.run_in_executor(self._executor, score_rows, rows, self.timeout_s, self.workers),
                timeout=deadline + _BACKSTOP_S)
        except TimeoutError:
            verdicts = [Verdict(correct=False, reason="timeout",
                                detail=f"batch exceeded its {deadline:.0f}s deadline")] * len(rows)
        except Exception as err:  # a verifier bug: every sample says so (0, verifier_error), the run goes on
            verdicts = [Verdict(correct=False, reason="error", detail=f"{type(err).__name__}: {err}"[:300])] * len(rows)
        self.batches = [*self.batches[-99:], {"n": len(rows), "seconds": time.monotonic() - t0,
                                              "deadline_s": deadline}]
        for (_, fut), v in zip(batch, verdicts, strict=True):
            if not fut.done():
                fut.set_result(v)

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        """veRL's per-sample entry: ``{"reward_score", "reward_extra_info"}`` once this sample's batch is judged."""
        row, overlong = self._row(data)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Verdict] = loop.create_future()
        self._pending.append((row, fut))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._flush)
        verdict = await fut
        info: dict[str, Any] = result_dict(verdict)
        info["overlong"] = float(overlong)
        return {"reward_score": info["score"], "reward_extra_info": info}
