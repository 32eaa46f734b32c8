#!/usr/bin/env bash
# The most complete end-to-end run that exists today (replaced by `acereason demo` once the demo lands):
# convert every real source in ../shared/data (when present) and HumanEval to our schema, then summarise.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
OUT=${OUT:-out/pipeline}
DATA=${ACEREASON_SHARED_DATA:-../shared/data}
mkdir -p "$OUT"

"$BIN/acereason" data convert humaneval --out "$OUT/humaneval.jsonl"
if [ -d "$DATA" ]; then
  "$BIN/acereason" data convert "$DATA/math500/test.jsonl" "$DATA/qwen25math_aime24/test.jsonl" \
    "$DATA/aime2025/test.jsonl" "$DATA/qwen25math_amc23/test.jsonl" --out "$OUT/math_eval.parquet"
  "$BIN/acereason" data convert "$DATA/deepscaler/train/aime.json" "$DATA/deepscaler/train/math.json" \
    "$DATA/deepscaler_subset/deepscaler.json" --out "$OUT/math_train.parquet"
  "$BIN/acereason" data convert "$DATA/rllm_code/train/livecodebench.json" "$DATA/rllm_code/train/leetcode.json" \
    "$DATA/coderl_apps/train" "$DATA/rllm_code/train/verify.json" --out "$OUT/code_train.parquet"
  "$BIN/acereason" data stats "$OUT/math_eval.parquet" "$OUT/math_train.parquet" "$OUT/code_train.parquet" \
    "$OUT/humaneval.jsonl"
else
  echo "note: $DATA not found; converted HumanEval only"
  "$BIN/acereason" data stats "$OUT/humaneval.jsonl"
fi
