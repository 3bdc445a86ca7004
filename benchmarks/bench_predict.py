"""End-to-end ferkit prediction speed on the shared benchmark inputs (benchmarks/bench_inputs.py): photos/s on 640x480
photos with 1 and 5 faces, per detector, with the detection rate against the known boxes; and fps on the 30 s 640x480
video. Uses the packaged default model when one ships, else a randomly initialised fercnet_s (speed does not depend
on the weights). Writes a JSON and prints a Markdown table.

    .venv/bin/python benchmarks/bench_inputs.py --out outputs/bench_inputs      # once
    .venv/bin/python benchmarks/bench_predict.py --inputs outputs/bench_inputs --out outputs/bench_predict.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path


def _model(arg: str | None) -> tuple[str | None, str]:
    """(model for EmotionRecognizer, description). No ``--model``: the packaged default exactly as ``ferkit predict``
    runs it with no flags (None: its int8 ``model.onnx`` on the CPU). Not its folder: a checkpoint folder is loaded
    with torch and exported to an fp32 ONNX graph in memory, which classifies at less than half the speed (runs
    before 2026-11-29 21:30 UTC measured that by mistake; docs/benchmarks.md)."""
    from ferkit.inference.backends import DEFAULT_MODEL_DIR

    if arg:
        return arg, arg
    if (DEFAULT_MODEL_DIR / "model.onnx").is_file():
        return None, "packaged default model (model.onnx, as `ferkit predict` runs it)"
    import torch

    from ferkit.models import create_model, save_checkpoint

    torch.manual_seed(0)
    folder = Path(tempfile.mkdtemp()) / "fercnet_s"
    save_checkpoint(create_model("fercnet_s").eval(), folder)
    return str(folder), "randomly initialised fercnet_s (no default model bundled yet)"


def _iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def bench_photos(rec, folder: Path, repeat: int = 3, full_decode: bool = False) -> dict:
    """Images/s as the median of ``repeat`` passes over the folder (one pass of 40 photos takes ~0.3 s, so a single
    pass moves by tens of percent on a shared machine), and recall against boxes.json. ``full_decode``: keep the
    images (as ``predict --save`` does), which decodes large JPEGs at full size instead of smaller."""
    truth = json.loads((folder / "boxes.json").read_text())
    files = sorted(folder.glob("*.jpg"))
    rec.predict(files[:2])  # warm-up (session init, allocator)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        frames = rec.predict(files, keep_images=full_decode)
        times.append(time.perf_counter() - t0)
    dt = statistics.median(times)
    found = total = false_pos = found_100 = total_100 = 0
    for fr in frames:
        gt = truth[Path(fr.source).name]
        boxes = [f.box for f in fr.faces]
        hits = [max((_iou(g, b) for b in boxes), default=0) >= 0.4 for g in gt]
        found += sum(hits)
        found_100 += sum(h for h, g in zip(hits, gt) if g[2] - g[0] >= 100)  # the 12 MP criterion: faces >= 100 px
        total_100 += sum(g[2] - g[0] >= 100 for g in gt)
        false_pos += sum(max(_iou(g, b) for g in gt) < 0.4 for b in boxes)
        total += len(gt)
    return {
        "images": len(files),
        "seconds": dt,
        "images_per_s": len(files) / dt,
        "images_per_s_passes": [round(len(files) / t, 1) for t in times],
        "faces_found": found,
        "faces_total": total,
        "detection_rate": found / total,
        "faces_found_100px": found_100,
        "faces_total_100px": total_100,
        "false_positives": false_pos,
        "_frames": frames,  # for agreement(); dropped before the JSON is written
    }


def agreement(a: list, b: list) -> dict:
    """Faces of two runs on the same photos (``b``: the full decode): per face of ``b``, the nearest face of ``a``;
    how many have the same label, the largest box corner deviation (share of the face width) and probability
    difference."""
    same = n = 0
    dev = diff = 0.0
    for fa, fb in zip(a, b):
        for face in fb.faces:
            near = max(fa.faces, key=lambda f: _iou(f.box, face.box), default=None)
            if near is None:
                continue
            n, same = n + 1, same + (near.label == face.label)
            dev = max(dev, max(abs(u - v) for u, v in zip(near.box, face.box)) / (face.box[2] - face.box[0]))
            diff = max(diff, max(abs(near.probs[k] - p) for k, p in face.probs.items()))
    return {"faces": n, "same_label": same, "max_box_deviation": round(dev, 4), "max_prob_difference": round(diff, 4)}


def bench_video(rec, video: Path, limit: int | None) -> dict:
    rec.predict(video, limit=5)  # warm-up
    t0 = time.perf_counter()
    n = faces = 0
    for fr in rec.iter_predict(video, limit=limit):
        n += 1
        faces += len(fr.faces)
    dt = time.perf_counter() - t0
    return {"frames": n, "seconds": dt, "fps": n / dt, "faces_per_frame": faces / max(n, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", default="outputs/bench_inputs")
    ap.add_argument("--model", default=None)
    ap.add_argument("--detectors", default="blazeface,centerface,haar")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--video-limit", type=int, default=None, help="frames of the video to run (default all)")
    ap.add_argument("--detect-every", default="1,3", help="video: detector strides to measure")
    ap.add_argument("--repeat", type=int, default=3, help="photo passes; the median is reported")
    ap.add_argument("--out", default="outputs/bench_predict.json")
    args = ap.parse_args()

    import torch

    from ferkit.inference import EmotionRecognizer

    inputs = Path(args.inputs)
    if not (inputs / "video_30s.mp4").is_file():
        raise SystemExit(f"{inputs} has no benchmark inputs; run benchmarks/bench_inputs.py --out {inputs} first.")
    model, desc = _model(args.model)
    results = {
        "model": desc,
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "photos": {},
        "video": {},
    }
    for det in args.detectors.split(","):
        rec = EmotionRecognizer(model, detector=det, backend=args.backend, smoothing="none")
        results["backend"] = rec.model_info["backend"]
        for sub in ("photos_1face", "photos_5face", "photos_12mp"):
            if not (inputs / sub).is_dir():
                continue
            runs = [(sub, False)] + [(f"{sub}_full_decode", True)] * (sub == "photos_12mp" and det == "blazeface")
            for name, full in runs:  # 12 MP also without the smaller JPEG decode (EmotionRecognizer.draft_factor)
                r = bench_photos(rec, inputs / sub, args.repeat, full)
                results["photos"][f"{det}/{name}"] = r
                if full:
                    r["agreement_with_smaller_decode"] = agreement(
                        results["photos"][f"{det}/{sub}"]["_frames"], r["_frames"]
                    )
                    print(f"{det:10s} smaller vs full decode: {r['agreement_with_smaller_decode']}", flush=True)
                print(
                    f"{det:10s} {name}: {r['images_per_s']:.1f} img/s, detection {r['faces_found']}/"
                    f"{r['faces_total']} (faces >= 100 px {r['faces_found_100px']}/{r['faces_total_100px']})"
                    f", false positives {r['false_positives']}",
                    flush=True,
                )
        for every in (int(k) for k in args.detect_every.split(",")):
            vrec = EmotionRecognizer(model, detector=det, backend=args.backend, detect_every=every)
            r = bench_video(vrec, inputs / "video_30s.mp4", args.video_limit)
            results["video"][f"{det}/every{every}"] = r
            print(
                f"{det:10s} video detect_every={every}: {r['fps']:.1f} fps over {r['frames']} frames, "
                f"{r['faces_per_frame']:.2f} faces/frame",
                flush=True,
            )
    for r in results["photos"].values():
        r.pop("_frames")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nmodel: {desc}; backend {results['backend']}\n")
    print(
        "| detector | photos 1 face: img/s (recall) | photos 5 faces: img/s (recall) | 12 MP photos: img/s (recall) "
        "| video fps (every frame) | video fps (detect every 3rd) |"
    )
    print("|---|---|---|---|---|---|")
    for det in args.detectors.split(","):
        cells = []
        for sub in ("photos_1face", "photos_5face", "photos_12mp"):
            r = results["photos"].get(f"{det}/{sub}")
            cells.append(f"{r['images_per_s']:.1f} ({r['faces_found']}/{r['faces_total']})" if r else "-")
        v = results["video"]
        print(
            f"| {det} | {' | '.join(cells)} | {v.get(f'{det}/every1', {}).get('fps', float('nan')):.1f} | "
            f"{v.get(f'{det}/every3', {}).get('fps', float('nan')):.1f} |"
        )


if __name__ == "__main__":
    main()
