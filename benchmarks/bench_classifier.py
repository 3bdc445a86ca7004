"""Classifier-only throughput (faces/s) of a ferkit model: torch vs ONNX Runtime fp32 vs ONNX Runtime int8,
at batch 1 and batch 64, on preprocessed inputs (no detection, no decoding).

    .venv/bin/python benchmarks/bench_classifier.py --arch fercnet_s --json outputs/bench_classifier.json

Without --model it times a randomly initialised model of --arch (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def faces_per_s(fn, batch: np.ndarray, min_seconds: float) -> float:
    """Run ``fn(batch)`` (after 3 warm-up calls) until ``min_seconds`` pass; faces per second."""
    for _ in range(3):
        fn(batch)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn(batch)
        n += len(batch)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="checkpoint folder (default: random --arch)")
    ap.add_argument("--arch", default="fercnet_s")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing window per configuration")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="intra-op threads for torch and ONNX Runtime "
        "(default: their own defaults, = cores); 1 avoids OpenMP stalls on a busy shared CPU",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch

    from ferkit.export import export_model
    from ferkit.inference.backends import OnnxBackend, TorchBackend
    from ferkit.models import create_model, load_model, save_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_classifier_"))
    ckpt = args.model or save_checkpoint(create_model(args.arch).eval(), tmp / "ckpt")
    net, meta = load_model(ckpt)
    fp32 = export_model(ckpt, "onnx", tmp / "model.onnx", num_check=16)
    int8 = export_model(ckpt, "onnx", tmp / "model.int8.onnx", int8=True, num_check=64)
    backends = {
        "torch": TorchBackend(net, meta),
        "onnx-fp32": OnnxBackend(fp32.path, fp32.metadata, args.threads),
        "onnx-int8": OnnxBackend(int8.path, int8.metadata, args.threads),
    }
    size, chans = int(meta["image_size"]), int(meta["in_chans"])
    rows = []
    for bs in (int(b) for b in args.batches.split(",")):
        x = np.random.default_rng(0).standard_normal((bs, chans, size, size)).astype(np.float32)
        for name, fn in backends.items():
            rate = faces_per_s(fn, x, args.seconds)
            rows.append({"backend": name, "batch": bs, "faces_per_s": round(rate, 1)})
            print(f"{meta['arch']} {name:9s} batch {bs:3d}: {rate:8.1f} faces/s", flush=True)
    result = {
        "arch": meta["arch"],
        "weights": "random init" if not args.model else str(args.model),
        "input": f"{chans}x{size}x{size}",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "int8_max_abs_diff": int8.max_abs_diff,
        "rows": rows,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
