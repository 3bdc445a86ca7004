"""Generate the shared inputs of the prediction benchmarks (ferkit's bench_predict.py and bench_fer.py for the PyPI
`fer` package measure the SAME files): 640x480 JPEG photos with 1 and 5 real faces each, 4000x3000 photos with 1-10
faces of 20-400 px, and a 30 s 640x480 30 fps video with 2 faces drifting across it.

Faces are RAF-DB test images (100x100 aligned RGB, research-only, read from ../shared/data and never copied into the
repo), pasted at known places on a smooth random background; the boxes are written to boxes.json.

    .venv/bin/python benchmarks/bench_inputs.py --out outputs/bench_inputs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RAF = ROOT.parent / "shared" / "data" / "rafdb" / "DATASET" / "test"
W, H = 640, 480


def load_faces(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` RAF-DB test faces (RGB 100x100), drawn from every class folder with a fixed seed."""
    files = sorted(RAF.glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"No RAF-DB faces under {RAF}; the benchmark inputs need ../shared/data/rafdb.")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(files), size=n, replace=False)
    return [cv2.cvtColor(cv2.imread(str(files[i])), cv2.COLOR_BGR2RGB) for i in picks]


def background(rng: np.random.Generator) -> np.ndarray:
    """A smooth colour background (upsampled noise), so detectors see texture but no faces."""
    small = rng.integers(40, 220, size=(6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)


def paste(canvas: np.ndarray, face: np.ndarray, x: int, y: int, size: int) -> list[int]:
    canvas[y : y + size, x : x + size] = cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
    return [x, y, x + size, y + size]


def compose(faces: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list[list[int]]]:
    """One 640x480 canvas with ``faces`` in a non-overlapping grid of cells, each 90-130 px, jittered."""
    canvas = background(rng)
    n = len(faces)
    cols = 1 if n == 1 else 3
    rows = int(np.ceil(n / cols))
    cw, ch = W // cols, H // rows
    boxes = []
    for k, face in enumerate(faces):
        size = int(rng.integers(90, min(131, cw - 10, ch - 10)))
        cx, cy = (k % cols) * cw, (k // cols) * ch
        x = cx + int(rng.integers(5, cw - size - 4))
        y = cy + int(rng.integers(5, ch - size - 4))
        boxes.append(paste(canvas, face, x, y, size))
    return canvas, boxes


def make_photos(out: Path, faces_per_image: int, count: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    pool = load_faces(faces_per_image * count, seed)
    folder = out / f"photos_{faces_per_image}face"
    folder.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for i in range(count):
        img, b = compose(pool[i * faces_per_image : (i + 1) * faces_per_image], rng)
        name = f"img{i:03d}.jpg"
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        boxes[name] = b
    (folder / "boxes.json").write_text(json.dumps(boxes, indent=1))
    return boxes


def make_large_photos(out: Path, count: int, seed: int = 13) -> dict:
    """4000x3000 photos (12 MP, a phone's) with 1-10 faces of 20-400 px each, never overlapping; JPEG q90."""
    rng = np.random.default_rng(seed)
    folder = out / "photos_12mp"
    folder.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for i in range(count):
        small = rng.integers(40, 220, size=(6, 8, 3), dtype=np.uint8)
        canvas = cv2.resize(small, (4000, 3000), interpolation=cv2.INTER_CUBIC)
        placed: list[list[int]] = []
        n = int(rng.integers(1, 11))
        for face in load_faces(n, seed + i):
            for _ in range(50):  # rejection sampling for a free spot
                size = int(rng.integers(20, 401))
                x, y = int(rng.integers(0, 4000 - size)), int(rng.integers(0, 3000 - size))
                if all(x + size < b[0] or b[2] < x or y + size < b[1] or b[3] < y for b in placed):
                    placed.append(paste(canvas, face, x, y, size))
                    break
        name = f"img{i:03d}.jpg"
        cv2.imwrite(str(folder / name), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        boxes[name] = placed
    (folder / "boxes.json").write_text(json.dumps(boxes, indent=1))
    return boxes


def make_video(path: Path, seconds: float = 30.0, fps: int = 30, seed: int = 3) -> None:
    """Two faces drifting left/right (sinusoidally) on a fixed background; mp4v-encoded."""
    rng = np.random.default_rng(seed)
    faces, bg = load_faces(2, seed), background(rng)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    for i in range(int(seconds * fps)):
        t = i / fps
        frame = bg.copy()
        paste(frame, faces[0], int(110 + 80 * np.sin(t / 2)), 150, 120)
        paste(frame, faces[1], int(420 + 60 * np.sin(t / 3 + 1)), 170, 110)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/bench_inputs")
    ap.add_argument("--count", type=int, default=40, help="photos per face count")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--large", type=int, default=10, help="4000x3000 photos with 1-10 faces of 20-400 px")
    args = ap.parse_args()
    out = Path(args.out)
    for n, seed in ((1, 11), (5, 12)):
        make_photos(out, n, args.count, seed)
    make_large_photos(out, args.large)
    make_video(out / "video_30s.mp4", args.seconds)
    print(
        f"wrote {out}/photos_1face, {out}/photos_5face ({args.count} each), {out}/photos_12mp ({args.large}) and "
        f"{out}/video_30s.mp4"
    )


if __name__ == "__main__":
    main()
