#!/usr/bin/env bash
# Check the veRL integration against the real veRL: build a separate venv with veRL (no vLLM, CPU torch)
# and acereason, as a cluster node has them, then run
#   * tests/test_verl_hydra.py (from the main venv): composes veRL's ppo_trainer.yaml with the overrides of
#     every run of configs/acereason-7b.yaml, validates them with veRL's own checks, builds veRL's dataset
#     over our parquet and loads our reward manager and trainer through veRL;
#   * tests/test_verl_reward_manager.py, test_verl_plugin.py, test_verl_trainer.py, test_verl_agent_loop.py
#     (inside the veRL venv): the batch reward manager through veRL's RewardLoopWorker and DataProto, the
#     plugin found by veRL's entry-point discovery, the trainer extension's epoch-boundary logic on veRL's data
#     structures, the scheduled / entropy-targeted temperature through veRL's agent-loop worker (stand-in LLM
#     server) and into the actor's extra_info through veRL's v1 trainer methods (stand-in actor).
#   scripts/verl_check.sh                 # VERL_VERSION=0.9.1, venv .venv-verl (VERL_VENV to change)
# Idempotent: an existing venv that imports verl and finds our plugin is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
VERL_VERSION="${VERL_VERSION:-0.9.1}"
VENV="${VERL_VENV:-.venv-verl}"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
PLUGIN_CHECK='import verl, hydra, aiohttp, pytest, acereason
from importlib.metadata import entry_points
assert any(e.value == "acereason.integrations.verl_plugin" for e in entry_points(group="verl.plugins"))'
if ! "$VENV/bin/python" -c "$PLUGIN_CHECK" 2>/dev/null; then
  # veRL without its GPU stack (vllm, flash-attn): only what importing verl, composing and validating its
  # config, building its RL dataset, its reward loop and loading a reward need. Pins follow verl's metadata.
  "$VENV/bin/pip" install -q "verl==$VERL_VERSION" --no-deps
  "$VENV/bin/pip" install -q torch==2.13.0 hydra-core "omegaconf<2.4" "antlr4-python3-runtime==4.9.*" packaging \
    numpy pandas "pyarrow>=19" dill codetiming ray "tensordict>=0.8,<=0.10,!=0.9.0" \
    "transformers>=5.5.3,<5.11,!=5.6.0" datasets pillow aiohttp pytest cachetools uvicorn fastapi peft \
    "TransferQueue>=0.1.10" torchdata
  "$VENV/bin/pip" install -q -e .  # also registers our veRL plugin (entry point group verl.plugins)
fi
VERL_PYTHON="$PWD/$VENV/bin/python" .venv/bin/python -m pytest -q -m slow tests/test_verl_hydra.py "$@"
"$VENV/bin/python" -m pytest -q -m slow tests/test_verl_reward_manager.py tests/test_verl_plugin.py \
  tests/test_verl_trainer.py tests/test_verl_agent_loop.py "$@"
