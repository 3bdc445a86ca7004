#!/usr/bin/env bash
# The one prepared GPU run of the default-model issue (item 5): configs/gpu_resnet18_112.yaml, then its best
# checkpoint scored on the validation splits (FER2013 PublicTest, FER+ val). Test splits are left for the final
# report. Results land in $OUT (the device tool's output folder) or outputs/gpu_run.
#   bash benchmarks/gpu_run.sh            # on the lent GPU machine (checks that CUDA is there)
#   bash benchmarks/gpu_run.sh --smoke    # on the CPU: 8 images per class, 1 epoch, 48 px (a few minutes)
# If it beats the CPU default on validation, distil it into fercnet_s (not automated yet: its soft labels would
# become the student's training targets) and say so in docs/model-card.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/gpu_run}
PY=${PY:-.venv/bin/python}
FERKIT=${FERKIT:-.venv/bin/ferkit}
DATA=${DATA:-../shared/data}
EXTRA=()
if [ "${1:-}" = "--smoke" ]; then
    EXTRA=(data.max_per_class=8 stages.0.epochs=1 data.workers=2 data.batch_size=16 data.image_size=48 device=cpu)
else
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run with --smoke on a CPU')"
fi
mkdir -p "$OUT"
"$FERKIT" train configs/gpu_resnet18_112.yaml data.path=$DATA/ferplus \
    "data.extra_train=[{path: $DATA/fer2013, split: usage_train}, {path: $DATA/rafdb, split: train}]" \
    "${EXTRA[@]}" --out "$OUT" --name resnet18_112 2>&1 | tee "$OUT/train.log"
"$FERKIT" evaluate --model "$OUT/resnet18_112/best" --data $DATA/fer2013 --split usage_val --no-latency \
    --out "$OUT/eval_publictest"
"$FERKIT" evaluate --model "$OUT/resnet18_112/best" --data $DATA/ferplus --split val --label-mode majority \
    --no-latency --out "$OUT/eval_ferplus_val"
