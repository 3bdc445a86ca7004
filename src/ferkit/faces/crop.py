"""The canonical face crop: one similarity warp of 4 landmarks (eyes, nose, mouth centre) onto a fixed template,
as face-recognition pipelines align to 5-point templates (e.g. ArcFace's 112 px template).

Every model input in ferkit is made here: training data preparation (``ferkit.data`` decoding and its cache),
``evaluate``, ``predict``, serving and the metadata written by ``export`` all call ``crop_face`` then
``to_model_input``. A checkpoint records its ``CropSpec`` in its metadata; checkpoints without one keep the crop
they were trained with (``legacy``: whole crop resized, or box + 15% margin with a level eye line).

``TEMPLATE`` is the median BlazeFace landmark layout of 400 FER2013 training crops (left/right eye, nose tip, mouth
centre, as fractions of the crop side; x made symmetric): aligning to FER2013's own framing moves its 48 px crops
least and keeps the whole face in view. Measured with ``benchmarks/measure_template.py`` (399 of 400 crops found).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from ferkit.faces.types import Detection, key_points

TEMPLATE: tuple[tuple[float, float], ...] = ((0.313, 0.390), (0.687, 0.390), (0.500, 0.595), (0.500, 0.775))
LEGACY_MARGIN = 0.15
# A face crop handed in as a whole image is padded by this fraction of its side before landmarks are searched:
# BlazeFace misses faces that touch the frame edge (FER2013: 377/400 found unpadded, 399/400 at 0.25).
CROP_PAD = 0.25
# BlazeFace score a face in a crop needs for its landmarks to be used: part of the crop's definition (the shipped
# models were trained on crops made with it), so it stays fixed when the detector's own default moves.
LANDMARK_THRESHOLD = 0.5


@dataclass(frozen=True)
class CropSpec:
    """How a model's input is cut from an image. ``kind``: "template" (landmark similarity warp onto
    ``template``) or "legacy" (pre-template checkpoints). ``size`` x ``size`` pixels, ``channels`` 1 (gray) or 3."""

    size: int
    channels: int
    kind: str = "template"
    template: tuple[tuple[float, float], ...] = field(default=TEMPLATE)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["template"] = [list(p) for p in self.template]
        return d

    @property
    def data_crop(self) -> str:
        """The ``data.crop`` that cuts dataset images as this spec does: "template", or "resize" (the file resized)
        for legacy checkpoints."""
        return "template" if self.kind == "template" else "resize"

    @classmethod
    def from_metadata(cls, meta: dict) -> CropSpec:
        """The spec stored in checkpoint/export metadata (``crop``), or ``legacy`` when absent."""
        size, channels = int(meta.get("image_size", 48)), int(meta.get("in_chans", 1))
        crop = meta.get("crop")
        if not crop:
            return cls(size, channels, "legacy")
        if crop.get("kind") not in ("template", "legacy"):
            raise ValueError(
                f"Unknown crop kind {crop.get('kind')!r} in model metadata; expected 'template' or 'legacy'."
            )
        tpl = tuple(tuple(float(v) for v in p) for p in crop.get("template", TEMPLATE))
        if len(tpl) != 4 or any(len(p) != 2 for p in tpl):
            raise ValueError(f"Model metadata crop.template must be 4 (x, y) points, got {crop.get('template')!r}.")
        return cls(size, channels, crop["kind"], tpl)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2 x 3 least-squares similarity (rotation, uniform scale, shift) mapping ``src`` K x 2 onto ``dst`` K x 2.
    Umeyama (1991) in closed form, written out because cv2.estimateAffinePartial2D only offers robust fits that
    drop points at random when there are 4 of them."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)  # 2 x 2
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) >= 0 else -1.0])
    rot = u @ sign @ vt
    scale = (sig * np.diag(sign)).sum() / max(var, 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def warp(image: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """``image`` warped by the 2 x 3 matrix ``m`` into ``size x size`` (edges replicated). Large shrinks first
    area-resize the image: warpAffine has no area filter, and a bilinear warp from 300 px to 48 px aliases."""
    import cv2

    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    if scale < 0.5:
        image, m = _source_region(image, m, size)
        f = 2.0 * scale
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        m = m @ np.array([[1 / fx, 0, 0], [0, 1 / fy, 0], [0, 0, 1]])
        image = small
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _source_region(image: np.ndarray, m: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` that the ``size x size`` crop reads (plus a few px for the filters), and ``m`` moved
    to it: the area-resize before a large shrink then costs the face's pixels, not the whole frame's."""
    import cv2

    corners = cv2.invertAffineTransform(m) @ np.array([[0, size, 0, size], [0, 0, size, size], [1, 1, 1, 1]])
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(math.floor(v)) - 4) for v in corners.min(1))
    x1, y1 = min(w, int(math.ceil(corners[0].max())) + 4), min(h, int(math.ceil(corners[1].max())) + 4)
    if x1 <= x0 or y1 <= y0:  # the crop lies wholly outside the frame: keep the frame (edges replicate)
        return image, m
    shift = np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1]])
    return image[y0:y1, x0:x1], m @ shift


def find_crop_face(image: np.ndarray) -> Detection | None:
    """The most confident face in an image that is already a face crop (dataset images, ``--detector none``,
    box-only detections), in its px, or None: BlazeFace short-range on the crop padded by ``CROP_PAD``."""
    import cv2

    h, w = image.shape[:2]
    p = int(round(CROP_PAD * max(h, w)))
    padded = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
    dets = _crop_finder()(padded)
    if not dets:
        return None
    best = max(dets, key=lambda d: d.score)
    return Detection(tuple(v - p for v in best.box), best.score, best.landmarks - np.float32(p))


def find_crop_landmarks(image: np.ndarray) -> np.ndarray | None:
    """4 key points of ``find_crop_face``, or None."""
    face = find_crop_face(image)
    return None if face is None else key_points(face.landmarks)


def _crop_finder():
    """One single-threaded finder per process (a decode pool's forked workers build their own session)."""
    import os

    from ferkit.faces.blazeface import BlazeFaceDetector

    pid = os.getpid()
    if pid not in _FINDERS:
        _FINDERS[pid] = BlazeFaceDetector(
            threshold=LANDMARK_THRESHOLD,
            model="short",
            min_face=0,
            threads=1,
            frame_view=False,
            verify=False,
            fallback=False,
        )
    return _FINDERS[pid]


_FINDERS: dict = {}


@lru_cache(maxsize=1)
def landmark_model_digest() -> str:
    """A digest of the bundled BlazeFace graph that places the crop's landmarks: part of the crop's definition, so
    the decoded cache (``data.cache.cache_key``) is rebuilt when the file changes. A rewrite of the graph with the
    same outputs up to float rounding still moved 1,021 of 3,589 FER2013 PrivateTest crops by up to 3 grey levels."""
    import hashlib

    from ferkit.faces.blazeface import ASSETS, NETS

    return hashlib.sha1((ASSETS / NETS["short"].file).read_bytes()).hexdigest()[:16]


def template_points(spec: CropSpec) -> np.ndarray:
    return np.asarray(spec.template, np.float64) * spec.size


def face_points(image: np.ndarray, det: Detection | None) -> np.ndarray | None:
    """The 4 key points for the warp: the detector's landmarks; else searched inside the detection's box (or the
    whole image when ``det`` is None, i.e. the image is a face crop); None when no face is found there."""
    pts = key_points(det.landmarks) if det is not None else None
    if pts is not None:
        return pts
    if det is None:
        return find_crop_landmarks(to_rgb3(image))
    x1, y1, x2, y2 = (int(round(v)) for v in det.box)
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    pts = find_crop_landmarks(to_rgb3(image[y1:y2, x1:x2]))
    return None if pts is None else pts + [x1, y1]


def fallback_matrix(image: np.ndarray, det: Detection | None, spec: CropSpec) -> np.ndarray:
    """No landmarks found: a face crop (``det`` None) is resized whole, i.e. taken to be framed like the template
    already; a box is scaled so its square spans the template's framing (the box as the crop)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (0.0, 0.0, float(w), float(h)) if det is None else det.box
    side = max(x2 - x1, y2 - y1, 1.0)
    s = spec.size / side
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[s, 0, spec.size / 2 - s * cx], [0, s, spec.size / 2 - s * cy]])


def _legacy_matrix(image: np.ndarray, det: Detection | None, spec: CropSpec) -> np.ndarray:
    """The crop of checkpoints trained before the template: whole image resized, or a square of the box side
    x (1 + 15%) rotated so the eyes are level."""
    import cv2

    if det is None:
        h, w = image.shape[:2]
        return np.array([[spec.size / w, 0, 0], [0, spec.size / h, 0]])
    x1, y1, x2, y2 = det.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + LEGACY_MARGIN)
    pts = key_points(det.landmarks)
    angle = 0.0 if pts is None else math.degrees(math.atan2(pts[1, 1] - pts[0, 1], pts[1, 0] - pts[0, 0]))
    m = cv2.getRotationMatrix2D((cx, cy), angle, spec.size / side)
    m[0, 2] += spec.size / 2 - cx
    m[1, 2] += spec.size / 2 - cy
    return m


def crop_matrix(image: np.ndarray, det: Detection | None, spec: CropSpec) -> tuple[np.ndarray, bool]:
    """(2 x 3 warp from ``image`` to the model crop, whether landmarks were used)."""
    if spec.kind == "legacy":
        return _legacy_matrix(image, det, spec), False
    pts = face_points(image, det)
    if pts is None:
        return fallback_matrix(image, det, spec), False
    return similarity(pts, template_points(spec)), True


def to_rgb3(image: np.ndarray) -> np.ndarray:
    """Gray ``H x W`` / ``H x W x 1`` or RGB(A) uint8 as RGB ``H x W x 3``."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def to_channels(crop: np.ndarray, channels: int) -> np.ndarray:
    """RGB ``S x S x 3`` (or gray) uint8 -> ``S x S x channels``; gray uses ITU-R 601 luma (as PIL and torchvision)."""
    import cv2

    if channels == 1:
        gray = (
            crop
            if crop.ndim == 2
            else (crop[:, :, 0] if crop.shape[2] == 1 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))
        )
        return gray[:, :, None]
    if channels == 3:
        return to_rgb3(crop)
    raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels!r}.")


def crop_face(image: np.ndarray, spec: CropSpec, det: Detection | None = None) -> np.ndarray:
    """The model's crop of one face: uint8 ``size x size x channels``.

    ``image``: gray or RGB uint8 frame. ``det``: a detection in it, or None when ``image`` is itself a face crop
    (dataset images, ``--detector none``).
    """
    rgb = to_rgb3(image)  # once: the landmark search and the warp both read RGB
    m, _ = crop_matrix(rgb, det, spec)
    return to_channels(warp(rgb, m, spec.size), spec.channels)


def to_model_input(crops, mean, std) -> np.ndarray:
    """uint8 crops (N x S x S x C, or a list of S x S x C) -> float32 N x C x S x S, scaled to [0, 1] then
    normalised with the model's ``mean``/``std`` (one value, or one per channel)."""
    batch = np.stack(list(crops)) if not isinstance(crops, np.ndarray) else crops
    if batch.ndim == 3:
        batch = batch[..., None]
    batch = batch.transpose(0, 3, 1, 2)  # N x C x S x S
    c = batch.shape[1]
    mean = np.broadcast_to(np.asarray(mean, np.float32).reshape(-1), (c,)).reshape(1, c, 1, 1)
    std = np.broadcast_to(np.asarray(std, np.float32).reshape(-1), (c,)).reshape(1, c, 1, 1)
    return np.ascontiguousarray((batch.astype(np.float32) / 255.0 - mean) / std)
