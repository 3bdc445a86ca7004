"""BlazeFace score thresholds on the validation scenes: how many pasted faces are found, whether the largest
detection is the face and whether the most confident one is (what `ferkit evaluate --detect-faces` scores:
``evaluate.main_face``), and how many false detections come with them, for a grid of whole-frame-level and
finer-level thresholds. Never reads a test split.

    .venv/bin/python benchmarks/make_pipeline_set.py --sets val --limit 2000 --out outputs/pipeline_val
    .venv/bin/python benchmarks/tune_detector.py --scenes outputs/pipeline_val

A detection matches the pasted face when its centre lies in the face's square and its width is 0.25-1.3x the
square's (BlazeFace boxes are tighter than a dataset crop, and the face is turned up to 12 degrees, so IoU is a
poor test here). Every anchor over 0.3 is kept per view once (``BlazeFaceDetector.candidates``: the pyramid's levels
and the padded whole-frame view); each threshold pair is then applied after, the first to the whole-frame views.

``--verify``: the face mesh check of unsure detections instead (``blazeface.VERIFY_BAND``), at the default
threshold: for each band under it and each face-presence threshold, faces found, false detections and how many
unsure detections the face mesh ran on; the first row (band 0) is the threshold alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ferkit.faces import blazeface as bf  # noqa: E402
from ferkit.inference.evaluate import main_face  # noqa: E402

FLOOR = 0.3
NMS_IOU = 0.3  # BlazeFaceDetector's default


def matches(det_box, face) -> bool:
    cx, cy = (det_box[0] + det_box[2]) / 2, (det_box[1] + det_box[3]) / 2
    ratio = (det_box[2] - det_box[0]) / (face[2] - face[0])
    return face[0] <= cx <= face[2] and face[1] <= cy <= face[3] and 0.25 <= ratio <= 1.3


def score(raw, coarse: float, fine: float) -> tuple[int, int, int, int]:
    """(faces found, scenes whose largest detection is the face, scenes whose most confident one is, false
    detections)."""
    found = largest_ok = top_ok = false = 0
    for face, cands in raw:
        boxes, kps, scores = [], [], []
        for whole, (b, k, s), _ in cands:  # BlazeFaceDetector.candidates: per view, whether it is a whole-frame one
            keep = s >= (coarse if whole else fine)
            boxes.append(b[keep]), kps.append(k[keep]), scores.append(s[keep])
        if not sum(map(len, scores)):
            continue
        dets = bf._weighted_nms(np.concatenate(boxes), np.concatenate(kps), np.concatenate(scores), NMS_IOU)
        hits = [matches(d.box, face) for d in dets]
        largest = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        found += any(hits)
        largest_ok += matches(largest.box, face)
        top_ok += matches(main_face(dets).box, face)
        false += hits.count(False)
    return found, largest_ok, top_ok, false


def verify_grid(folder: Path, bands: list[float], presences: list[float]) -> dict:
    """{(band, presence): [found, false, face mesh runs]} over the scenes of ``folder``."""
    from ferkit.faces.facemesh import face_presence

    det = bf.BlazeFaceDetector()
    boxes = json.loads((folder / "boxes.json").read_text())
    cells = {(b, p): [0, 0, 0] for b in bands for p in presences}
    for rel, face in boxes.items():
        img = cv2.cvtColor(cv2.imread(str(folder / rel)), cv2.COLOR_BGR2RGB)
        for band in bands:
            faces, maybe = det.sure_and_unsure(img, bf.auto_min_face(*img.shape[:2]), band)
            probs = face_presence(img, maybe)
            for p in presences:
                hits = [matches(d.box, face) for d in faces + [d for d, q in zip(maybe, probs) if q >= p]]
                cell = cells[band, p]
                cell[0] += any(hits)
                cell[1] += hits.count(False)
                cell[2] += len(maybe)
    return cells


def main_verify(scenes: Path, bands: list[float], presences: list[float]) -> None:
    folders = sorted(p for p in scenes.iterdir() if (p / "boxes.json").is_file())
    grids = {f.name: verify_grid(f, bands, presences) for f in folders}
    print(f"threshold {bf.THRESHOLD}; cells: faces found / false detections / face mesh runs")
    print("| band under the threshold | face presence >= | " + " | ".join(grids) + " |")
    print("|---|---|" + "---|" * len(grids))
    for band, p in itertools.product(bands, presences):
        if band == 0 and p != presences[0]:
            continue
        cells = [" / ".join(map(str, grids[n][band, p])) for n in grids]
        print(f"| {band} | {p if band else '-'} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", default="outputs/pipeline_val")
    ap.add_argument("--level-step", type=float, default=bf.LEVEL_STEP)
    ap.add_argument("--min-net-face", type=int, default=bf.MIN_NET_FACE)
    ap.add_argument("--grid", default="0.4,0.5,0.6,0.7", help="thresholds tried on each kind of level")
    ap.add_argument("--verify", action="store_true", help="the face mesh check of unsure detections instead")
    ap.add_argument("--bands", default="0,0.1,0.15,0.2")
    ap.add_argument("--presences", default="0.12,0.5,0.88")
    args = ap.parse_args()
    bf.LEVEL_STEP, bf.MIN_NET_FACE = args.level_step, args.min_net_face  # both modes search the same pyramid
    if args.verify:
        floats = lambda v: [float(x) for x in v.split(",")]  # noqa: E731
        return main_verify(Path(args.scenes), floats(args.bands), floats(args.presences))
    det = bf.BlazeFaceDetector(threshold=FLOOR)
    sets = {}
    for folder in sorted(p for p in Path(args.scenes).iterdir() if (p / "boxes.json").is_file()):
        boxes = json.loads((folder / "boxes.json").read_text())
        images = (cv2.cvtColor(cv2.imread(str(folder / rel)), cv2.COLOR_BGR2RGB) for rel in boxes)
        sets[folder.name] = [
            (face, det.candidates(img, bf.auto_min_face(*img.shape[:2]), FLOOR))
            for face, img in zip(boxes.values(), images)
        ]
    grid = [float(v) for v in args.grid.split(",")]
    names = list(sets)
    cells = "found / largest is the face / most confident is the face / false"
    print(f"level step {args.level_step}, min net face {args.min_net_face}; cells: {cells}")
    print("| whole-frame level | finer levels | " + " | ".join(f"{n} ({len(sets[n])})" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for coarse, fine in itertools.product(grid, grid):
        cells = [" / ".join(map(str, score(sets[n], coarse, fine))) for n in names]
        print(f"| {coarse} | {fine} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
