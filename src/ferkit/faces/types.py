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


def overlap(box: np.ndarray, boxes: np.ndarray, by_min: bool = False) -> np.ndarray:
    """Intersection over union of ``box`` (4,) with each of ``boxes`` (n x 4), or with ``by_min`` over the smaller
    of the two areas (a box inside another overlaps it fully)."""
    ix1, iy1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    ix2, iy2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    other = np.minimum(area(box), area(boxes)) if by_min else area(box) + area(boxes) - inter
    return inter / np.maximum(other, 1e-9)


def auto_min_face(h: int, w: int) -> int:
    """Default smallest face searched for: a tenth of the long side (64 px on 640x480), at most 100 px (so 100 px
    faces on a 12 MP phone photo are found with no flags), at least 32 px."""
    return int(min(100, max(32, round(max(h, w) / 10))))


class FaceSearch:
    """What the detectors that search a frame for faces down to ``min_face`` px share (BlazeFace, MTCNN): checking
    ``threshold``/``min_face``/``max_side``, the default smallest face (``auto_min_face``), shrinking the frame to
    ``max_side`` and searching a JPEG decoded smaller as the whole file. Subclasses set ``MIN_FACE`` and
    ``MIN_SIDE`` (the smallest values they accept) and implement ``detect_at(image, min_face)`` in ``image``'s px."""

    MIN_FACE, MIN_SIDE = 0, 16

    def _options(self, threshold: float, min_face: int | None, max_side: int | None) -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"det_threshold must be in (0, 1), got {threshold!r} (CLI: --det-threshold).")
        if (min_face is not None and min_face < self.MIN_FACE) or (max_side is not None and max_side < self.MIN_SIDE):
            raise ValueError(
                f"min_face must be >= {self.MIN_FACE} and det_size >= {self.MIN_SIDE} for {self.name}, got "
                f"{min_face!r} and {max_side!r} (CLI: --min-face, --det-size)."
            )
        self.threshold, self.min_face, self.max_side = threshold, min_face, max_side

    def min_face_at(self, h: int, w: int) -> float:
        """The smallest face side searched for in an ``h x w`` frame, in its px: ``min_face``, or ``auto_min_face``
        of the frame as detection sees it (shrunk to ``max_side`` when set)."""
        if self.min_face is not None:
            return self.min_face
        shrink = min(1.0, self.max_side / max(h, w)) if self.max_side else 1.0
        return auto_min_face(round(h * shrink), round(w * shrink)) / shrink

    def __call__(self, image: np.ndarray, frame_scale: float = 1.0) -> list[Detection]:
        """Faces in ``image`` (RGB), in its px. ``frame_scale``: ``image`` is a frame decoded at this fraction of
        its size (a JPEG draft, ``data.images.decode_image``); faces are searched for as in the whole frame."""
        h, w = image.shape[:2]
        min_face = self.min_face_at(round(h / frame_scale), round(w / frame_scale)) * frame_scale
        scale = 1.0
        if self.max_side:
            image, scale = shrink_for_detection(image, self.max_side)
        return unscale(self.detect_at(image, round(min_face * scale)), scale, scale)

    def detect_at(self, image: np.ndarray, min_face: int) -> list[Detection]:
        """Faces of at least ``min_face`` px in ``image`` (RGB uint8, already shrunk), in its px."""
        raise NotImplementedError


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
