"""Throughput of the PyPI `fer` package (Justin Shenk's FER: Haar cascade + its default quantised TFLite emotion
model) on the same inputs as ferkit's prediction benchmark, for the comparison in docs/benchmarks.md.

`fer` pins TensorFlow and old torch, so it lives in its own venv, never in ferkit's dependencies:

    python3 -m venv /work/fervenv && /work/fervenv/bin/pip install fer
    .venv/bin/python benchmarks/bench_inputs.py --out outputs/bench_inputs
    /work/fervenv/bin/python benchmarks/bench_fer.py --inputs outputs/bench_inputs --json outputs/bench_fer.json

End-to-end = decode the JPEG/video frame + detect + classify every face, one image at a time (fer has no batching).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def bench_photos(detector, folder: Path, repeat: int = 3) -> dict:
    """Images/s end to end as the median of ``repeat`` passes (as bench_predict.py), and recall against boxes.json
    (a face is found at IoU >= 0.4, as bench_predict.py)."""
    import cv2

    truth = json.loads((folder / "boxes.json").read_text())
    files = sorted(folder.glob("*.jpg"))
    detector.detect_emotions(cv2.imread(str(files[0])))  # warm-up (TFLite interpreter, cascade)
    found, total, times = 0, 0, []
    for _ in range(repeat):
        faces, boxes, start = 0, {}, time.perf_counter()
        for f in files:
            res = detector.detect_emotions(cv2.imread(str(f)))  # fer takes BGR like cv2.imread returns
            faces += len(res)
            boxes[f.name] = [(x, y, x + w, y + h) for x, y, w, h in (r["box"] for r in res)]
        times.append(time.perf_counter() - start)
    sec = statistics.median(times)
    for name, gt in truth.items():
        found += sum(max((_iou(g, b) for b in boxes.get(name, [])), default=0) >= 0.4 for g in gt)
        total += len(gt)
    return {
        "images": len(files),
        "faces_found": faces,
        "seconds": round(sec, 3),
        "images_per_s": round(len(files) / sec, 2),
        "images_per_s_passes": [round(len(files) / t, 1) for t in times],
        "recall": round(found / max(total, 1), 4),
        "faces_total": total,
    }


def bench_video(detector, path: Path, max_frames: int | None) -> dict:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames, faces, start = 0, 0, time.perf_counter()
    while max_frames is None or frames < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        faces += len(detector.detect_emotions(bgr))
        frames += 1
    sec = time.perf_counter() - start
    cap.release()
    return {"frames": frames, "faces_found": faces, "seconds": round(sec, 3), "fps": round(frames / sec, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description="Benchmark the PyPI fer package (Haar + TFLite) on ferkit's bench inputs.")
    ap.add_argument("--inputs", default="outputs/bench_inputs", help="folder written by benchmarks/bench_inputs.py")
    ap.add_argument("--max-frames", type=int, default=None, help="stop the video after this many frames")
    ap.add_argument("--repeat", type=int, default=3, help="photo passes; the median is reported")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()

    import fer
    import tensorflow as tf
    from fer.fer import FER

    detector = FER()  # defaults: Haar cascade, use_tflite=True (emotion_model_quantized.tflite)
    inputs = Path(args.inputs)
    result = {
        "package": f"fer {fer.__version__}",
        "tensorflow": tf.__version__,
        "detector": "haar (fer default)",
        "model": "emotion_model_quantized.tflite (fer default)",
        "cpu_count": os.cpu_count(),
    }
    for sub in ("photos_1face", "photos_5face", "photos_12mp"):
        if (inputs / sub).is_dir():
            result[sub] = bench_photos(detector, inputs / sub, args.repeat)
            print(f"fer {sub}: {result[sub]}", flush=True)
    result["video"] = bench_video(detector, inputs / "video_30s.mp4", args.max_frames)
    print(f"fer video: {result['video']}", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
