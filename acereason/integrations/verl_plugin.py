"""Our veRL plugin: importing it registers the ``acereason`` reward manager and trainer mode, and the agent loop
``acereason_single_turn``, with veRL.

veRL 0.9.1 imports it itself, in every process that imports ``verl`` (driver, task runner, reward workers):
through the ``verl.plugins`` entry point group (``acereason = acereason.integrations.verl_plugin`` in our
``pyproject.toml``; loaded unless ``VERL_USE_EXTERNAL_PLUGINS=none``), or by name with
``VERL_USE_EXTERNAL_MODULES=acereason.integrations.verl_plugin``. veRL swallows a failing entry point at debug
level, so :func:`registered` reports what this import achieved (and ``acereason export verl`` runs ask for the
reward manager by import path, which needs no plugin at all).
"""

from __future__ import annotations

from typing import Any

__all__ = ["registered"]

_STATE: dict[str, Any] = {}

from acereason.integrations import verl_reward_manager  # noqa: E402  registers reward manager "acereason"

_STATE["reward_manager"] = verl_reward_manager.AceReasonRewardManager

from acereason.integrations import verl_agent_loop  # noqa: E402  registers agent loop "acereason_single_turn"

_STATE["agent_loop"] = verl_agent_loop.AceReasonSingleTurnAgentLoop

from acereason.integrations import verl_trainer  # noqa: E402  registers trainer mode "acereason" when possible

_STATE["trainer"] = verl_trainer.AceReasonTrainer


def registered() -> dict[str, bool]:
    """Which of our veRL extensions this process registered."""
    return {k: v is not None for k, v in _STATE.items()}
