#!/usr/bin/env bash
# Accuracy of a checkpoint (default: the shipped model) on the three standard test sets, each image used whole as
# the face (the model's own crop: landmarks found in the image and warped onto its template), as in the peer table
# of docs/model-card.md; then the pipeline number: the same RAF-DB test and FER2013 PrivateTest faces put into
# 640x480 scenes (benchmarks/make_pipeline_set.py, seeded) and scored through the default detector
# (`ferkit evaluate --detect-faces`). Writes one report per set and a comparison.
#   bash benchmarks/eval_default_model.sh [CHECKPOINT] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-src/ferkit/assets/default}
OUT=${2:-outputs/eval_default}
FERKIT=${FERKIT:-.venv/bin/ferkit}
PY=${PY:-.venv/bin/python}
DATA=../shared/data
PIPE=${PIPE:-outputs/pipeline}
"$FERKIT" evaluate --model "$MODEL" --data $DATA/fer2013 --split usage_test --no-latency --out "$OUT/fer2013_privatetest"
"$FERKIT" evaluate --model "$MODEL" --data $DATA/ferplus --split test --label-mode majority --no-latency \
    --out "$OUT/ferplus_test_majority"
"$FERKIT" evaluate --model "$MODEL" --data $DATA/rafdb --split test --no-latency --out "$OUT/rafdb_test"
[ -d "$PIPE/rafdb_test" ] && [ -d "$PIPE/fer2013_privatetest" ] || "$PY" benchmarks/make_pipeline_set.py --out "$PIPE"
for SET in rafdb_test fer2013_privatetest; do
    "$FERKIT" evaluate --detect-faces --model "$MODEL" --data "$PIPE/$SET" --split all --out "$OUT/pipeline_$SET"
done
"$FERKIT" compare "$OUT/fer2013_privatetest" "$OUT/ferplus_test_majority" "$OUT/rafdb_test" \
    "$OUT/pipeline_fer2013_privatetest" "$OUT/pipeline_rafdb_test" \
    --names "FER2013 PrivateTest,FER+ test (majority),RAF-DB test,FER2013 PrivateTest in scenes,RAF-DB test in scenes" \
    --out "$OUT/compare"
