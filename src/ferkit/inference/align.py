"""Face crops the classifier can read: level the eye line (when landmarks exist), add a margin, square crop at
the model's input size in one affine warp, then channels and normalisation from the model's metadata."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ferkit.inference.detect import Detection

DEFAULT_MARGIN = 0.15


def eye_angle(landmarks: np.ndarray | None) -> float:
    """Angle in degrees of the line from the left to the right eye (0 when level or unknown)."""
    if landmarks is None or len(landmarks) < 2:
        return 0.0
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def align_face(image: np.ndarray, det: Detection, size: int, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """RGB ``size x size`` uint8 crop of ``det``: a square of side ``max(w, h) * (1 + margin)`` around the box
    centre, rotated so the eyes are level; pixels outside the frame are edge-replicated."""
    import cv2

    x1, y1, x2, y2 = det.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + margin)
    # Warp to at most 2x the target size, then area-resize: warpAffine has no area filter, and a direct
    # bilinear warp from a 300 px face to 48 px aliases.
    warp = int(max(size, min(round(side), 2 * size)))
    m = cv2.getRotationMatrix2D((cx, cy), eye_angle(det.landmarks), warp / side)
    m[0, 2] += warp / 2 - cx
    m[1, 2] += warp / 2 - cy
    crop = cv2.warpAffine(image, m, (warp, warp), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if warp != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop


def crop_to_size(image: np.ndarray, size: int) -> np.ndarray:
    """A frame that is already a face crop: resized to ``size x size`` (area filter when shrinking)."""
    import cv2

    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def preprocess(crops: Sequence[np.ndarray], in_chans: int, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """RGB uint8 crops (all ``S x S x 3``) -> float32 ``N x in_chans x S x S``, scaled to [0, 1] and normalised."""
    import cv2

    if in_chans == 1:
        # Same ITU-R 601 luma weights as torchvision's rgb_to_grayscale used in training.
        batch = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in crops])[:, None]  # N x 1 x S x S
    else:
        batch = np.stack(crops).transpose(0, 3, 1, 2)  # N x 3 x S x S
    mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((batch.astype(np.float32) / 255.0 - mean) / std)
