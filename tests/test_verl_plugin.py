"""Our veRL plugin is found and loaded the way veRL 0.9.1 loads plugins (in veRL's venv; skips without veRL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("verl")

pytestmark = pytest.mark.slow

_PROBE = """
import json, sys
import verl  # veRL discovers and imports plugins here, before anything of ours is imported
from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY
from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
print(json.dumps({"ours_imported": "acereason.integrations.verl_plugin" in sys.modules,
                  "reward_manager": getattr(REWARD_MANAGER.get("acereason"), "__name__", None),
                  "trainer": getattr(TRAINER_REGISTRY.get("acereason"), "__name__", None),
                  "agent_loop": (_agent_loop_registry.get("acereason_single_turn") or {}).get("_target_")}))
"""


LOOP = "acereason.integrations.verl_agent_loop.AceReasonSingleTurnAgentLoop"


def _probe(**env: str) -> dict:
    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, cwd="/",
                         env={**os.environ, **env})
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_entry_point_is_loaded_by_import_verl() -> None:
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="verl.plugins") if e.name == "acereason"] == [
        "acereason.integrations.verl_plugin"]
    got = _probe(VERL_USE_EXTERNAL_PLUGINS="auto")
    assert got == {"ours_imported": True, "reward_manager": "AceReasonRewardManager", "trainer": "AceReasonTrainer",
                   "agent_loop": LOOP}


def test_plugin_discovery_off_and_external_modules() -> None:
    """Control: with veRL's discovery off nothing of ours registers; VERL_USE_EXTERNAL_MODULES loads it by name."""
    off = _probe(VERL_USE_EXTERNAL_PLUGINS="none")
    assert off == {"ours_imported": False, "reward_manager": None, "trainer": None, "agent_loop": None}
    named = _probe(VERL_USE_EXTERNAL_PLUGINS="none", VERL_USE_EXTERNAL_MODULES="acereason.integrations.verl_plugin")
    assert named == {"ours_imported": True, "reward_manager": "AceReasonRewardManager",
                     "trainer": "AceReasonTrainer", "agent_loop": LOOP}
