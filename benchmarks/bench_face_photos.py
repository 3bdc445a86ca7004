"""Faces that fill the photo: dataset face crops handed to the default detector as whole photos (as a user with
cropped faces, headshots or close-up selfies does), with and without BlazeFace's padded whole-frame view, its
face mesh check of unsure detections and its MTCNN fallback.
Validation data only (RAF-DB training faces, FER2013 PublicTest); a photo counts as found when its largest
detection spans at least half of it.

    .venv/bin/python benchmarks/bench_face_photos.py --count 600 --side 400
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ferkit.data import load_dataset  # noqa: E402
from ferkit.faces.blazeface import BlazeFaceDetector  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SETS = (("RAF-DB train", "rafdb", "train"), ("FER2013 PublicTest", "fer2013", "usage_val"))


def fills(dets, side: int) -> bool:
    if not dets:
        return False
    d = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return d.box[2] - d.box[0] >= 0.5 * side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=600, help="faces per set (seeded pick)")
    ap.add_argument("--side", type=int, default=400, help="photo side the crop is resized to")
    args = ap.parse_args()
    detectors = {
        "padded view + checks + MTCNN fallback (default)": BlazeFaceDetector(),
        "padded view + checks (face mesh, second opinion)": BlazeFaceDetector(fallback=False),
        "padded view": BlazeFaceDetector(verify=False, fallback=False),
        "levels only": BlazeFaceDetector(frame_view=False, verify=False, fallback=False),
    }
    print("| set | " + " | ".join(detectors) + " |\n|---|" + "---|" * len(detectors))
    for name, folder, split in SETS:
        ds = load_dataset(str(DATA / folder), split)
        pick = np.random.default_rng(0).choice(len(ds), size=min(args.count, len(ds)), replace=False)
        found = dict.fromkeys(detectors, 0)
        for i in pick:
            img = np.asarray(ds.read_image(int(i)))
            img = np.repeat(img[:, :, None], 3, 2) if img.ndim == 2 else img
            photo = cv2.resize(img, (args.side, args.side), interpolation=cv2.INTER_CUBIC)
            for key, det in detectors.items():
                found[key] += fills(det(photo), args.side)
        print(f"| {name} ({len(pick)}) | " + " | ".join(str(v) for v in found.values()) + " |")


if __name__ == "__main__":
    main()
