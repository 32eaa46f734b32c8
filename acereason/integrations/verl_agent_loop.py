"""Agent loop ``acereason_single_turn``: veRL's single-turn loop at the temperature our trainer mode chose.

veRL 0.9.1's agent-loop workers (Ray actors, ``AgentLoopWorkerTQ``) build one ``sampling_params`` dict per
batch from ``actor_rollout_ref.rollout.temperature`` of the config they were started with, and pass every
field of the prompt batch to the loop named by the sample's ``agent_name`` as keyword arguments. So the
temperature schedule (0.6 -> 0.8 -> 1.0 across the code stage's epochs) and the entropy-targeted temperature
travel as a per-sample field: our trainer mode (:mod:`acereason.integrations.verl_trainer`) writes
``acereason_temperature`` and ``agent_name = "acereason_single_turn"`` into every prompt batch it fetches, and
this loop sends that temperature to vLLM instead of the config's. Without the field (validation batches,
other trainers) it samples with the ``sampling_params`` it was given; greedy requests (temperature 0, from
veRL's ``__do_sample__``) stay greedy.

The loop records the temperature it actually sent in the output's ``extra_fields`` (``SAMPLED_KEY``), which
veRL stores with the trajectory in the TransferQueue; the trainer reads it back to set the temperature the
actor divides the logits by (``extra_info["temperature"]``), so the loss's distribution is the sampler's.

Registered with veRL's ``register`` when our plugin is imported, and listed in ``DIR/agent_loops.yaml``
(``actor_rollout_ref.rollout.agent.agent_loop_config_path``, written by ``acereason export verl``), which veRL's
workers load themselves, so the loop is found even where plugin discovery did not run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["AGENT_NAME", "SAMPLED_KEY", "TEMPERATURE_FIELD", "AceReasonSingleTurnAgentLoop", "agent_loops_yaml",
           "sampling_params_at"]

AGENT_NAME = "acereason_single_turn"
TEMPERATURE_FIELD = "acereason_temperature"
"""Per-sample field of the prompt batch: the temperature to sample this prompt's rollouts at."""
SAMPLED_KEY = "acereason_sampled_temperature"
"""Key in the trajectory's ``extra_fields``: the temperature the request to the server carried."""
TARGET = "acereason.integrations.verl_agent_loop.AceReasonSingleTurnAgentLoop"


def sampling_params_at(sampling_params: Mapping[str, Any], temperature: Any) -> dict[str, Any]:
    """``sampling_params`` with ``temperature`` replaced by the per-sample one (a copy).

    ``temperature`` None leaves the given parameters; a greedy request (temperature 0) stays greedy. A value
    that is not a finite positive number is refused with a one-line error naming the field.
    """
    out = dict(sampling_params)
    if temperature is None:
        return out
    if hasattr(temperature, "item"):  # numpy / torch scalars from veRL's batch
        temperature = temperature.item()
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"{TEMPERATURE_FIELD}: not a number: {temperature!r}") from None
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"{TEMPERATURE_FIELD}: must be a finite temperature > 0, got {temperature!r}")
    if float(out.get("temperature", 1.0)) == 0.0:  # greedy (validation or __do_sample__=False): keep it
        return out
    out["temperature"] = t
    return out


def agent_loops_yaml() -> str:
    """The ``agent_loop_config_path`` file veRL's agent-loop workers load (a list of hydra targets)."""
    return f"- name: {AGENT_NAME}\n  _target_: {TARGET}\n"


try:
    from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, register
    from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop
except ImportError as _err:  # veRL without its agent-loop stack: no agent loop
    logger.warning("acereason: veRL's agent loop is not importable (%s); agent loop %r unavailable", _err, AGENT_NAME)
    AceReasonSingleTurnAgentLoop: Any = None
else:

    @register(AGENT_NAME)
    class AceReasonSingleTurnAgentLoop(SingleTurnAgentLoop):  # type: ignore[no-redef]
        """veRL's single-turn loop, sampling at the sample's ``acereason_temperature`` (see the module doc)."""

        async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
            params = sampling_params_at(sampling_params, kwargs.get(TEMPERATURE_FIELD))
            output = await super().run(params, **kwargs)
            output.extra_fields[SAMPLED_KEY] = float(params["temperature"])
            return output
