#!/usr/bin/env bash
# Check `acereason export verl` against the real veRL: build a separate venv with veRL (no vLLM, CPU torch)
# and acereason, as a cluster node has them, then run the slow test tests/test_verl_hydra.py, which
# composes veRL's ppo_trainer.yaml with the overrides of every run of configs/acereason-7b.yaml and validates
# them with veRL's own checks, builds veRL's dataset over our parquet and loads our reward through veRL.
#   scripts/verl_check.sh                 # VERL_VERSION=0.9.1, venv .venv-verl (VERL_VENV to change)
# Idempotent: an existing venv that imports verl is reused (the test itself takes ~30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
VERL_VERSION="${VERL_VERSION:-0.9.1}"
VENV="${VERL_VENV:-.venv-verl}"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import verl, hydra, acereason" 2>/dev/null; then
  # veRL without its GPU stack (vllm, flash-attn): only what importing verl, composing and validating its
  # config, building its RL dataset and loading a reward function need. Pins follow verl's own metadata.
  "$VENV/bin/pip" install -q "verl==$VERL_VERSION" --no-deps
  "$VENV/bin/pip" install -q torch==2.13.0 hydra-core "omegaconf<2.4" "antlr4-python3-runtime==4.9.*" packaging \
    numpy pandas "pyarrow>=19" dill codetiming ray "tensordict>=0.8,<=0.10,!=0.9.0" \
    "transformers>=5.5.3,<5.11,!=5.6.0" datasets pillow
  "$VENV/bin/pip" install -q -e .
fi
VERL_PYTHON="$PWD/$VENV/bin/python" .venv/bin/python -m pytest -q -m slow tests/test_verl_hydra.py "$@"
