"""MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded Convolutional Networks"):
a 12 px proposal network (P-Net) slid over an image pyramid, then two networks that re-score and refine each
proposal from its own 24 px and 48 px crop (R-Net, O-Net; O-Net adds 5 landmarks), run with ONNX Runtime.

ferkit uses it where BlazeFace finds nothing (``BlazeFaceDetector(fallback=True)``, the default): its last stage
reads a tight 48 px crop of the face, and it finds faces that fill a pasted square or touch the frame edges, which
BlazeFace (trained on faces with context around them) misses; on the validation scenes it found the face in 8 of
the 26 and 8 of the 29 frames where BlazeFace found none, at the fallback's 0.9 (docs/benchmarks.md). It is also
a detector of its own (``--detector mtcnn``), the one the ``fer`` package offers as ``mtcnn=True``.

The ONNX files in ``ferkit/assets/detectors/`` were exported from the weights in the MIT-licensed facenet-pytorch
2.6.0 wheel by ``benchmarks/convert_mtcnn.py`` (licence: ``assets/detectors/LICENSE.md``); each graph takes uint8
RGB and scales it itself.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ferkit.faces.types import Detection, FaceSearch, overlap

THRESHOLDS = (0.6, 0.7)  # P-Net and R-Net score thresholds (the paper's); O-Net's is the detector's ``threshold``
FACTOR = 0.709  # pyramid step (the paper's: each level has half the pixels of the one before)
NETS = ("mtcnn_pnet.onnx", "mtcnn_rnet.onnx", "mtcnn_onet.onnx")


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, most confident first; ``by_min``: overlap is the
    intersection over the smaller box (MTCNN's last stage, which also drops a box inside a larger face)."""
    order, keep = np.argsort(-scores), []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        order = rest[overlap(boxes[i], boxes[rest], by_min) <= iou]
    return np.array(keep, dtype=np.int64)


def _refine(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by the networks' regression (offsets of each side, as fractions of the box's width/height)."""
    wh = np.tile(boxes[:, 2:4] - boxes[:, 0:2], 2)
    return boxes + offsets * wh


def _square(boxes: np.ndarray) -> np.ndarray:
    """Each box as the square on its long side, same centre (the next network reads square crops)."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).max(1, keepdims=True) / 2
    return np.concatenate([c - half, c + half], 1)


def _cut(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """``box`` of ``image`` resized to ``size`` x ``size``; the parts outside the frame are black, as in the
    networks' training crops."""
    import cv2

    x1, y1 = (int(math.floor(v)) for v in box[:2])
    x2, y2 = max(x1 + 1, int(math.ceil(box[2]))), max(y1 + 1, int(math.ceil(box[3])))
    h, w = image.shape[:2]
    crop = np.zeros((y2 - y1, x2 - x1, 3), np.uint8)
    sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if sx2 > sx1 and sy2 > sy1:
        crop[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    interp = cv2.INTER_AREA if x2 - x1 > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


class MTCNNDetector(FaceSearch):
    """MTCNN on ONNX Runtime. ``threshold``: O-Net's face probability (0.7, the paper's); ``min_face``: smallest
    face side in px searched for (None: ``types.auto_min_face`` of the frame); ``max_side``: shrink the frame
    to this long side first; ``threads``: ONNX Runtime threads per call (1: prediction runs frames in parallel)."""

    name = "mtcnn"
    parallel_safe = True  # stateless; ONNX Runtime sessions may be run from several threads at once
    MIN_FACE, MIN_SIDE = 12, 24  # P-Net's window; the smallest frame it reads

    def __init__(
        self, threshold: float = 0.7, min_face: int | None = None, max_side: int | None = None, threads: int = 1
    ):
        from ferkit.faces.blazeface import asset_session

        self._options(threshold, min_face, max_side)
        self.pnet, self.rnet, self.onet = (asset_session(f, threads, os.getpid()) for f in NETS)

    def detect_at(self, image: np.ndarray, min_face: int) -> list[Detection]:
        """Faces of at least ``min_face`` px in ``image`` (RGB uint8), in its px."""
        boxes = self._propose(image, max(self.MIN_FACE, min_face))
        if len(boxes):
            boxes = self._rescore(image, boxes)
        if not len(boxes):
            return []
        offsets, marks, prob = self._onet(image, boxes)
        ok = prob >= self.threshold
        boxes, offsets, marks, prob = boxes[ok], offsets[ok], marks[ok], prob[ok]
        wh = boxes[:, 2:4] - boxes[:, 0:2]
        points = np.stack(
            [boxes[:, None, 0] + wh[:, None, 0] * marks[:, :5], boxes[:, None, 1] + wh[:, None, 1] * marks[:, 5:]], 2
        )
        boxes = _refine(boxes, offsets)
        keep = nms(boxes, prob, 0.7, by_min=True)
        return [
            Detection(tuple(float(v) for v in boxes[i]), float(prob[i]), points[i].astype(np.float32)) for i in keep
        ]

    def face_probability(self, image: np.ndarray, dets: list[Detection]) -> np.ndarray:
        """O-Net's probability that each detection's square box in ``image`` (another detector's) shows a face."""
        boxes = _square(np.array([d.box for d in dets], np.float64).reshape(-1, 4))
        return self._onet(image, boxes)[2] if len(boxes) else np.zeros(0, np.float32)

    def _onet(self, image: np.ndarray, boxes: np.ndarray) -> list[np.ndarray]:
        """O-Net on each square box's 48 px crop: box offsets (n x 4), landmarks (n x 10), face probability (n)."""
        return self.onet.run(None, {"image": np.stack([_cut(image, b, 48) for b in boxes])})

    def _propose(self, image: np.ndarray, min_face: int) -> np.ndarray:
        """P-Net over the pyramid: squared candidate boxes (n x 4) in ``image`` px."""
        import cv2

        h, w = image.shape[:2]
        s, found, level = 12.0 / min_face, [], image
        while min(h, w) * s >= 12:
            # each level from the one before: area-resizing the whole frame for every level took 8 of MTCNN's 11 ms
            # on a face-free 640x480 frame (now 4 of 7); faces found on the validation scenes: the same within 2
            level = cv2.resize(level, (math.ceil(w * s), math.ceil(h * s)), interpolation=cv2.INTER_AREA)
            offsets, prob = self.pnet.run(None, {"image": level[None]})
            ys, xs = np.nonzero(prob[0] >= THRESHOLDS[0])
            if len(ys):  # each output cell sees a 12 px window at stride 2 of the level
                cells = np.stack([xs, ys, xs, ys], 1) * 2.0 + [0, 0, 12, 12]
                boxes, scores = cells / s, prob[0, ys, xs]
                keep = nms(boxes, scores, 0.5)
                found.append((boxes[keep], scores[keep], offsets[0][:, ys, xs].T[keep]))
            s *= FACTOR
        if not found:
            return np.zeros((0, 4))
        boxes, scores, offsets = (np.concatenate([f[k] for f in found]) for k in range(3))
        keep = nms(boxes, scores, 0.7)
        return _square(_refine(boxes[keep], offsets[keep]))

    def _rescore(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """R-Net on each candidate's 24 px crop: the squared boxes it keeps."""
        offsets, prob = self.rnet.run(None, {"image": np.stack([_cut(image, b, 24) for b in boxes])})
        ok = prob >= THRESHOLDS[1]
        boxes, offsets, prob = boxes[ok], offsets[ok], prob[ok]
        keep = nms(boxes, prob, 0.7)
        return _square(_refine(boxes[keep], offsets[keep]))
