"""Per-face identities across video frames (greedy IoU matching) and temporal smoothing of each face's class
probabilities (exponential moving average), so a label does not flicker between frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_ALPHA = 0.3  # EMA weight of the newest frame: ~6 frames of memory, 0.2 s at 30 fps
DEFAULT_IOU_MATCH = 0.3  # a face continues a track when their boxes overlap at least this much
DEFAULT_MAX_MISSED = 15  # frames a track survives unseen (a face turned away, a missed detection)


def smoothing_constants() -> dict:
    """The tracking constants as published by ``GET /v1/models``, so the web page smooths as Python does."""
    return {"ema_weight": DEFAULT_ALPHA, "iou_match": DEFAULT_IOU_MATCH, "max_missed": DEFAULT_MAX_MISSED}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes ``a`` (N x 4) and ``b`` (M x 4) in x1, y1, x2, y2 -> N x M."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]).clip(0) * (x[:, 3] - x[:, 1]).clip(0)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def resolve_smoothing(smoothing) -> float | None:
    """``"auto"``/``"ema"``/True -> the default EMA weight; ``"none"``/None/False/0 -> off; a float in (0, 1]
    -> that weight (1 = no smoothing)."""
    if smoothing in ("auto", "ema", True):
        return DEFAULT_ALPHA
    if smoothing in ("none", None, False, 0, 0.0, "off"):
        return None
    try:
        alpha = float(smoothing)
    except (TypeError, ValueError):
        alpha = -1.0
    if not 0.0 < alpha <= 1.0:
        raise ValueError(
            f"smoothing={smoothing!r} is not valid; use 'auto', 'none' or an EMA weight in (0, 1] (smaller = smoother)."
        )
    return alpha


@dataclass
class _Track:
    track_id: int
    box: np.ndarray
    probs: np.ndarray
    missed: int = 0


class FaceTracker:
    """Match each frame's faces to the previous ones by IoU; smooth the probabilities of matched faces.

    A face whose best IoU with every live track is below ``iou_threshold`` starts a new track; a track unseen
    for more than ``max_missed`` frames is dropped.
    """

    def __init__(
        self,
        alpha: float | None = DEFAULT_ALPHA,
        iou_threshold: float = DEFAULT_IOU_MATCH,
        max_missed: int = DEFAULT_MAX_MISSED,
    ) -> None:
        self.alpha, self.iou_threshold, self.max_missed = alpha, iou_threshold, max_missed
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, boxes: np.ndarray, probs: np.ndarray) -> tuple[list[int], np.ndarray]:
        """``boxes`` N x 4, ``probs`` N x C of this frame -> (track ids, smoothed probs N x C)."""
        boxes, probs = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(probs, np.float64)
        ids, out = [0] * len(boxes), probs.copy()
        matched: set[int] = set()
        if self._tracks and len(boxes):
            iou = box_iou(boxes, np.stack([t.box for t in self._tracks]))
            # Greedy: best pairs first; good enough for a handful of faces per frame.
            for flat in np.argsort(-iou, axis=None):
                i, j = divmod(int(flat), iou.shape[1])
                if iou[i, j] < self.iou_threshold:
                    break
                if ids[i] or j in matched:
                    continue
                track = self._tracks[j]
                if self.alpha is not None:
                    track.probs = self.alpha * probs[i] + (1 - self.alpha) * track.probs
                else:
                    track.probs = probs[i]
                track.box, track.missed = boxes[i], 0
                ids[i], out[i] = track.track_id, track.probs
                matched.add(j)
        for j, track in enumerate(self._tracks):
            if j not in matched:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for i in range(len(boxes)):
            if not ids[i]:
                self._tracks.append(_Track(self._next_id, boxes[i], probs[i]))
                ids[i] = self._next_id
                self._next_id += 1
        return ids, out
