"""Frames/s of `ferkit batch` (Ray Data, local or a cluster) against `ferkit predict` on the same folder of videos.

The videos are benchmarks/bench_inputs.py's 640x480 30 fps clips of two RAF-DB faces (different faces and motion
per video). Both commands run as subprocesses and are timed wall to wall, start-up included (model load; for batch
also Ray's start), so a few seconds of video understate batch; the rows of both are checked to be the same count.
Writes a JSON and prints a Markdown table. Do not run it beside a training job: it measures the CPU.

    .venv/bin/python benchmarks/bench_batch.py --videos 8 --seconds 20 --out outputs/bench_batch.json
    .venv/bin/python benchmarks/bench_batch.py --videos 2 --seconds 1 --out /tmp/bb.json      # a few-second check
    .venv/bin/python benchmarks/bench_batch.py --address auto ...                             # on a `ray start` cluster
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inputs import make_video  # noqa: E402

FERKIT = [sys.executable, "-m", "ferkit"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each video")
    ap.add_argument("--num-workers", type=int, default=None, help="local Ray CPUs (default: all cores)")
    ap.add_argument("--address", default=None, help="Ray cluster to join instead of a local Ray")
    ap.add_argument("--chunk-frames", type=int, default=300)
    ap.add_argument("--model", default=None)
    ap.add_argument("--work", default=None, help="folder for the videos and outputs (default: a temporary one)")
    ap.add_argument("--out", default="outputs/bench_batch.json")
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="bench_batch_"))
    videos = work / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for i in range(args.videos):
        path = videos / f"clip{i:02d}.mp4"
        if not path.exists():
            make_video(path, seconds=args.seconds, fps=30, seed=3 + i)
    frames = args.videos * int(args.seconds * 30)
    model = ["--model", args.model] if args.model else []

    t_predict = timed([*FERKIT, "predict", str(videos), "--csv", str(work / "predict.csv"), *model])
    batch_out = work / "batch_out"
    cmd = [*FERKIT, "batch", str(videos), "--out", str(batch_out), "--no-progress", *model]
    cmd += ["--chunk-frames", str(args.chunk_frames)]
    cmd += ["--address", args.address] if args.address else []
    cmd += ["--num-workers", str(args.num_workers)] if args.num_workers else []
    if batch_out.exists():  # a rerun would skip every source
        for p in sorted(batch_out.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
    t_batch = timed(cmd)

    import pyarrow.parquet as pq

    with open(work / "predict.csv", newline="") as f:
        predict_rows = sum(1 for r in csv.DictReader(f) if r["status"] == "ok")
    batch_rows = pq.read_table(batch_out / "faces").num_rows
    result = {
        "videos": args.videos,
        "seconds_each": args.seconds,
        "frames": frames,
        "predict_s": round(t_predict, 2),
        "batch_s": round(t_batch, 2),
        "predict_fps": round(frames / t_predict, 1),
        "batch_fps": round(frames / t_batch, 1),
        "rows_predict": predict_rows,
        "rows_batch": batch_rows,
        "num_workers": args.num_workers or (None if args.address else os.cpu_count()),
        "address": args.address,
        "chunk_frames": args.chunk_frames,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("| command | frames | wall s | frames/s | face rows |\n|---|---|---|---|---|")
    print(f"| ferkit predict | {frames} | {t_predict:.1f} | {frames / t_predict:.1f} | {predict_rows} |")
    print(f"| ferkit batch | {frames} | {t_batch:.1f} | {frames / t_batch:.1f} | {batch_rows} |")
    if predict_rows != batch_rows:
        print(f"WARNING: predict wrote {predict_rows} face rows, batch {batch_rows}", file=sys.stderr)


if __name__ == "__main__":
    main()
