"""Pipeline-accuracy scenes: test faces put into larger frames, so `ferkit evaluate --detect-faces` measures what a
user gets through the detector (issue: default model v2, item 2). Seeded and documented, never selected on.

Each test face (RAF-DB test, 100 px aligned RGB; FER2013 PrivateTest, 48 px gray) is scaled to 72-220 px, turned by
up to +-12 degrees, and pasted at a random place on a 640x480 scene: a smooth random colour field plus blurred
shapes, so detectors see texture but no other face. The face's square keeps its own pixels; the corners that a
rotation uncovers show the scene. Scenes go into class folders (`<out>/<set>/<emotion>/<id>.jpg`, JPEG q90),
readable as `--split all`, with each face's box in `<out>/<set>/boxes.json`:

    .venv/bin/python benchmarks/make_pipeline_set.py --out outputs/pipeline
    .venv/bin/ferkit evaluate --detect-faces --model src/ferkit/assets/default \
        --data outputs/pipeline/rafdb_test --split all --out outputs/pipeline_eval/rafdb_test
    .venv/bin/python benchmarks/make_pipeline_set.py --sets val --limit 2000 --out outputs/pipeline_val   # tuning
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
W, H = 640, 480


def scene(rng: np.random.Generator) -> np.ndarray:
    small = rng.integers(30, 225, size=(5, 7, 3), dtype=np.uint8)
    canvas = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(2, 6))):  # a few soft shapes, so the background is not a plain gradient
        colour = tuple(int(c) for c in rng.integers(0, 255, size=3))
        centre = (int(rng.integers(0, W)), int(rng.integers(0, H)))
        axes = (int(rng.integers(20, 160)), int(rng.integers(20, 160)))
        cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return cv2.GaussianBlur(canvas, (0, 0), 4)


def place(face: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """``face`` (RGB) scaled, rotated and pasted on a new scene; returns the RGB frame and the pasted square's
    box (x1, y1, x2, y2) before rotation."""
    canvas = scene(rng)
    size = int(rng.integers(72, 221))
    angle = float(rng.uniform(-12, 12))
    x = int(rng.integers(0, W - size))
    y = int(rng.integers(0, H - size))
    m = cv2.getRotationMatrix2D((face.shape[1] / 2, face.shape[0] / 2), angle, size / face.shape[1])
    m[:, 2] += [x + size / 2 - face.shape[1] / 2, y + size / 2 - face.shape[0] / 2]
    warped = cv2.warpAffine(face, m, (W, H), flags=cv2.INTER_CUBIC)
    mask = cv2.warpAffine(np.full(face.shape[:2], 255, np.uint8), m, (W, H), flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    return (warped * alpha + canvas * (1 - alpha)).round().astype(np.uint8), [x, y, x + size, y + size]


def build(name: str, data: str, split: str, out: Path, seed: int, limit: int | None) -> int:
    """Scenes for ``limit`` faces of ``data``/``split`` (all when None) under ``out/name/<emotion>/``, and their face
    boxes in ``out/name/boxes.json`` (keyed by the scene's path under ``out/name``)."""
    from ferkit.data import load_dataset

    ds = load_dataset(data, split)
    rng = np.random.default_rng(seed)
    boxes: dict[str, list[int]] = {}
    idx = np.arange(len(ds)) if limit is None else np.sort(rng.choice(len(ds), size=min(limit, len(ds)), replace=False))
    for i in idx:
        img = np.asarray(ds.read_image(int(i)))
        rgb = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        label = ds.classes[int(ds.labels[i])]
        folder = out / name / label
        folder.mkdir(parents=True, exist_ok=True)
        frame, boxes[f"{label}/{Path(ds.source_ids[i]).stem}.jpg"] = place(rgb, rng)
        cv2.imwrite(
            str(folder / f"{Path(ds.source_ids[i]).stem}.jpg"),
            cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 90],
        )
    (out / name / "boxes.json").write_text(json.dumps(boxes, indent=0))
    return len(idx)


# The reported sets are test splits, read only for a version's final report. The "val" sets are for tuning the
# detector and crop without touching them: FER2013 PublicTest (FER2013's validation split) and RAF-DB training
# faces (RAF-DB has no validation split; its training faces are seen by the classifier, so accuracy on them is
# flattering, but detection is unaffected).
SETS = {
    "test": (("rafdb_test", "rafdb", "test"), ("fer2013_privatetest", "fer2013", "usage_test")),
    "val": (("fer2013_publictest", "fer2013", "usage_val"), ("rafdb_train", "rafdb", "train")),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/pipeline")
    ap.add_argument("--sets", choices=sorted(SETS), default="test", help="test splits (reports) or val (tuning)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="faces per set (default: the whole split)")
    args = ap.parse_args()
    out = Path(args.out)
    for name, data, split in SETS[args.sets]:
        n = build(name, str(DATA / data), split, out, args.seed, args.limit)
        print(f"wrote {n} scenes to {out / name}")


if __name__ == "__main__":
    main()
