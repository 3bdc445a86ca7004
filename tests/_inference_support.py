"""Helpers for the inference/detection tests: real RAF-DB faces pasted on canvases at known places, a short
generated video of moving faces, and a small random checkpoint (so these tests do not depend on the shipped weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RAFDB_TEST = DATA / "rafdb" / "DATASET" / "test"


def rafdb_faces(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` RAF-DB test faces (aligned 100x100 RGB), a fixed pick across the 7 class folders."""
    if not RAFDB_TEST.is_dir():
        pytest.skip(f"RAF-DB test faces not found at {RAFDB_TEST} (../shared/data is absent)")
    files = sorted(RAFDB_TEST.glob("*/*.jpg"))
    pick = np.random.default_rng(seed).choice(len(files), size=n, replace=False)
    return [np.asarray(Image.open(files[i]).convert("RGB")) for i in pick]


def compose_canvas(
    faces: list[np.ndarray], boxes: list[tuple[int, int, int]], size=(640, 480), seed: int = 0
) -> np.ndarray:
    """Paste each face resized to ``s`` px at ``(x, y, s)`` on a noisy, textured background; RGB uint8 HxWx3."""
    import cv2

    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(90, 200, size=3)
    canvas = np.clip(base + rng.normal(0, 12, size=(h, w, 3)), 0, 255).astype(np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 3)
    for face, (x, y, s) in zip(faces, boxes):
        canvas[y : y + s, x : x + s] = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC)
    return canvas


def make_video(path: Path, n_frames: int = 24, fps: float = 12.0, noise: float = 0.0, seed: int = 0) -> list:
    """An mp4 of two real faces drifting right (2 px/frame) on a 320x240 canvas; returns the per-frame boxes."""
    import cv2

    faces = rafdb_faces(2, seed=0)  # a pair both detectors find in every frame
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    boxes_per_frame = []
    for i in range(n_frames):
        boxes = [(10 + 2 * i, 60, 110), (190 + i, 70, 100)]
        frame = compose_canvas(faces, boxes, size=(320, 240), seed=1).astype(np.float32)
        if noise:
            frame += rng.normal(0, noise, frame.shape)
        writer.write(cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
        boxes_per_frame.append(boxes)
    writer.release()
    return boxes_per_frame


def make_checkpoint(folder: Path, arch: str = "simple_cnn", seed: int = 0) -> Path:
    import torch

    from ferkit.models import create_model, save_checkpoint

    torch.manual_seed(seed)
    return save_checkpoint(create_model(arch, num_classes=7).eval(), folder)


def box_iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)
