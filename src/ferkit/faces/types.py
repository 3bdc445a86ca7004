"""The one face-detection record every detector returns and the canonical crop reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detection:
    """A face: ``box`` (x1, y1, x2, y2) float pixels, ``score`` in [0, 1], ``landmarks`` K x 2 or None.

    Landmark layouts, left/right as seen in the image: 5 points (CenterFace): left eye, right eye, nose, left mouth
    corner, right mouth corner; 6 points (BlazeFace): left eye, right eye, nose tip, mouth centre, left ear tragion,
    right ear tragion. ``key_points`` reduces both to the 4 points the canonical crop uses.
    """

    box: tuple[float, float, float, float]
    score: float = 1.0
    landmarks: np.ndarray | None = None


def key_points(landmarks: np.ndarray | None) -> np.ndarray | None:
    """4 x 2 float32 (left eye, right eye, nose, mouth centre) from a 5- or 6-point layout, else None."""
    if landmarks is None:
        return None
    lm = np.asarray(landmarks, np.float32)
    if lm.shape == (5, 2):
        return np.stack([lm[0], lm[1], lm[2], (lm[3] + lm[4]) / 2])
    if lm.shape in ((6, 2), (4, 2)):
        return lm[:4].copy()
    return None


def shrink_for_detection(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the long side is at most ``max_side`` (detection cost grows with pixels); returns (image, scale)."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return image, scale


def unscale(dets: list[Detection], sx: float, sy: float) -> list[Detection]:
    """Detections found in an image ``sx`` x ``sy`` times the size of the frame they belong to (a shrunk or a
    smaller-decoded copy), in the frame's px: the same list when both are 1, else scaled copies."""
    if (sx, sy) == (1.0, 1.0):
        return dets
    per = (sx, sy, sx, sy)
    return [
        Detection(
            tuple(v / f for v, f in zip(d.box, per)),
            d.score,
            None if d.landmarks is None else d.landmarks / np.float32([sx, sy]),
        )
        for d in dets
    ]
