#!/usr/bin/env bash
# Accuracy of a checkpoint (default: the shipped model) on the three standard test sets, each used whole as the
# face (no detection), as in the peer table of docs/model-card.md. Writes one report per set and a comparison.
#   bash benchmarks/eval_default_model.sh [CHECKPOINT] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-src/ferkit/assets/default}
OUT=${2:-outputs/eval_default}
FERKIT=${FERKIT:-.venv/bin/ferkit}
DATA=../shared/data
"$FERKIT" evaluate --model "$MODEL" --data $DATA/fer2013 --split usage_test --out "$OUT/fer2013_privatetest"
"$FERKIT" evaluate --model "$MODEL" --data $DATA/ferplus --split test --label-mode majority --no-latency \
    --out "$OUT/ferplus_test_majority"
"$FERKIT" evaluate --model "$MODEL" --data $DATA/rafdb --split test --no-latency --out "$OUT/rafdb_test"
"$FERKIT" compare "$OUT/fer2013_privatetest" "$OUT/ferplus_test_majority" "$OUT/rafdb_test" \
    --names "FER2013 PrivateTest,FER+ test (majority),RAF-DB test" --out "$OUT/compare"
