#!/usr/bin/env bash
# Detectors and end-to-end prediction vs the PyPI `fer` package, one run on the same files (docs/benchmarks.md).
# fer lives in its own venv (see benchmarks/bench_fer.py); inputs from benchmarks/bench_inputs.py.
set -euo pipefail
cd "$(dirname "$0")/.."
FERVENV=${FERVENV:-/work/fervenv}
uptime
.venv/bin/python benchmarks/bench_classifier.py --model src/ferkit/assets/default --batches 1,64 --seconds 3 \
    --json outputs/bench_classifier.json
.venv/bin/python benchmarks/bench_predict.py --inputs outputs/bench_inputs --detectors blazeface,centerface,haar \
    --video-limit 300 --out outputs/bench_predict.json
"$FERVENV/bin/python" benchmarks/bench_fer.py --inputs outputs/bench_inputs --max-frames 300 --json outputs/bench_fer.json
uptime
