"""``EmotionRecognizer``: any source -> frames -> faces (detect, align) -> classifier batches -> result objects.

One code path for everything: a photo is a batch of one, a folder or video is many frames whose faces go through
the classifier together; video and webcam frames also get per-face track ids and smoothed probabilities.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from ferkit.extras import require, torch_available
from ferkit.faces.crop import CropSpec, crop_face, to_model_input
from ferkit.faces.detectors import create_detector
from ferkit.inference.backends import load_classifier, torch_checkpoint
from ferkit.inference.prefetch import map_ahead
from ferkit.inference.results import Explanation, FaceResult, FrameResult
from ferkit.inference.sources import DRAFT_FACTORS, Frame, in_file_px, is_webcam, iter_frames
from ferkit.inference.tracking import FaceTracker, resolve_smoothing
from ferkit.onnxrt import usable_cores

log = logging.getLogger(__name__)


class EmotionRecognizer:
    """Recognise facial emotions in photos, folders, globs, videos, webcams and arrays.

    ``model``: None (the packaged default), a checkpoint folder, model.safetensors, an exported .onnx or TorchScript
    .pt. ``detector``: a name from ``ferkit.faces.detectors.DETECTORS`` ("auto" = blazeface; "none": inputs are
    already face crops) or a callable ``image -> list[Detection]``; ``det_threshold``, ``min_face`` (px) and
    ``det_size`` (long side a frame is shrunk to before detection) tune it (None: the detector's defaults).
    ``backend``: "auto" (ONNX Runtime on CPU when installed) | "torch" | "onnx". ``smoothing``: "auto"/"ema" (EMA
    over video frames), "none", or an EMA weight in (0, 1]; photos are never smoothed. ``detect_every``: on video,
    run the detector every N-th frame and reuse the last boxes in between (1 = every frame). Faces are cut with the
    model's own crop (``ferkit.faces.crop``, from its metadata).
    """

    def __init__(
        self,
        model=None,
        detector="auto",
        backend: str = "auto",
        device: str = "cpu",
        smoothing="auto",
        batch_size: int = 64,
        detect_every: int = 1,
        det_threshold: float | None = None,
        min_face: int | None = None,
        det_size: int | None = None,
    ):
        if batch_size < 1 or detect_every < 1:
            raise ValueError(f"batch_size and detect_every must be >= 1, got {batch_size} and {detect_every}.")
        self.backend, self.metadata, self._path = load_classifier(model, backend, device)
        self._checkpoint = torch_checkpoint(model, self._path)  # what explain() loads (None: an exported file)
        self._torch_model = None  # loaded on the first explain() call
        self.detector = (
            create_detector(detector, threshold=det_threshold, min_face=min_face, max_side=det_size)
            if isinstance(detector, str)
            else detector
        )
        self.alpha = resolve_smoothing(smoothing)
        self.labels: tuple[str, ...] = tuple(self.metadata["labels"])
        self.image_size = int(self.metadata.get("image_size", 48))
        self.in_chans = int(self.metadata["in_chans"])
        self.temperature = float(self.metadata.get("temperature") or 1.0)
        self.crop_spec = CropSpec.from_metadata(self.metadata)
        self.batch_size, self.detect_every, self.device = batch_size, detect_every, device

    @property
    def model_info(self) -> dict:
        """name, version (None when the metadata has none), arch, labels, image_size, in_chans, backend, detector,
        path, temperature."""
        arch = self.metadata.get("arch", "unknown")
        return {
            "name": self.metadata.get("name", arch),
            "version": self.metadata.get("version"),
            "arch": arch,
            "labels": list(self.labels),
            "image_size": self.image_size,
            "in_chans": self.in_chans,
            "backend": self.backend.name,
            "detector": getattr(self.detector, "name", type(self.detector).__name__),
            "path": str(self._path),
            "temperature": self.temperature,
        }

    # -- classification ---------------------------------------------------------------------------------------
    def crop(self, image: np.ndarray, det) -> np.ndarray:
        """The model's uint8 ``S x S x C`` crop of one detection (``ferkit.faces.crop.crop_face``); with detector
        "none" the frame is a face crop and is cut exactly as training images were."""
        whole = getattr(self.detector, "name", None) == "none"
        return crop_face(image, self.crop_spec, None if whole else det)

    def model_input(self, crops) -> np.ndarray:
        """uint8 crops -> the normalised float32 ``N x C x S x S`` batch the classifier reads."""
        return to_model_input(crops, self.metadata.get("mean", [0.5]), self.metadata.get("std", [0.5]))

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """Model crops (``crop``) -> probabilities N x num_classes (calibration temperature applied)."""
        out = [np.zeros((0, len(self.labels)))]
        for i in range(0, len(crops), self.batch_size):
            batch = self.model_input(crops[i : i + self.batch_size])  # B,C,S,S
            out.append(self.backend(batch))  # probabilities, calibration temperature applied
        return np.concatenate(out)

    # -- prediction ---------------------------------------------------------------------------------------------
    def predict(
        self, source, limit: int | None = None, keep_images: bool = False, color: str = "rgb"
    ) -> list[FrameResult]:
        """All results of :meth:`iter_predict` as a list (one FrameResult per frame)."""
        return list(self.iter_predict(source, limit=limit, keep_images=keep_images, color=color))

    def iter_predict(
        self, source, limit: int | None = None, keep_images: bool = False, color: str = "rgb"
    ) -> Iterator[FrameResult]:
        """Yield one FrameResult per frame of ``source`` (see ``iter_frames``), in order: the streaming API.

        Faces of up to ``batch_size`` frames are classified together; webcam frames are flushed one by one.
        ``limit`` caps frames per video/webcam; ``keep_images`` keeps each frame on its result for ``plot()``
        (the file's full size; without it large JPEGs may be decoded smaller, ``draft_factor``);
        ``color`` is the channel order of numpy inputs: "rgb", or "bgr" for frames from cv2.imread/VideoCapture.
        """
        trackers: dict[str, FaceTracker] = {}
        last_dets: dict[str, list] = {}
        pending: list[tuple[Frame, list, list]] = []
        n_faces = 0
        frames = iter_frames(source, limit, color, draft=None if keep_images else self.draft_factor)
        if is_webcam(source):  # live: no read-ahead, it would only queue stale frames
            detected = ((frame, self._detect_new(frame)) for frame in frames)
        else:
            detected = map_ahead(frames, self._detect_new, self.detect_workers())
        for frame, dets in detected:
            if dets is None:  # a frame between detections (detect_every): the stream's last faces
                dets = last_dets.get(frame.stream, [])
            elif frame.stream is not None:
                last_dets[frame.stream] = dets
            crops = [self.crop(frame.image, d) for d in dets]
            pending.append((frame, dets, crops))
            n_faces += len(crops)
            if frame.live or n_faces >= self.batch_size or len(pending) >= self.batch_size:
                yield from self._flush(pending, trackers, keep_images)
                pending, n_faces = [], 0
        yield from self._flush(pending, trackers, keep_images)

    def _detect_new(self, frame: Frame) -> list | None:
        """The frame's detections, or None for a video frame the detector skips (``detect_every``). Runs on the
        read-ahead workers: depends on nothing but the frame."""
        if frame.stream is not None and self.detect_every > 1 and frame.index % self.detect_every:
            return None
        return self.detect(frame)

    def detect(self, frame: Frame) -> list:
        """The faces in ``frame.image``, in its px; a JPEG decoded smaller (``draft_factor``) is searched as the
        whole file would be. ``frame_result`` reports them in the file's px."""
        if frame.image is None:
            return []
        sx = frame.scale[0]  # < 1 only for a JPEG decoded smaller, which only detectors with min_face_at allow
        return self.detector(frame.image) if sx == 1.0 else self.detector(frame.image, frame_scale=sx)

    def draft_factor(self, w: int, h: int) -> int:
        """How much smaller a ``w x h`` JPEG may be decoded (``data.images.decode_image``): the largest of
        ``DRAFT_FACTORS`` at which the smallest face the detector searches for (its ``min_face_at``) still spans
        the model's input side, so no face crop is cut from fewer pixels than the model reads; 1 (decode in full)
        for detectors that cannot say. A 12 MP photo with the default detector (faces from 100 px) and a 48 px
        model decodes at 1/2; photos under 955 px on the long side decode in full."""
        min_face_at = getattr(self.detector, "min_face_at", None)
        if min_face_at is None:
            return 1
        smallest = min_face_at(h, w)
        return next((f for f in DRAFT_FACTORS if smallest / f >= self.image_size), 1)

    def detect_workers(self) -> int:
        """Detection threads for read-ahead: one per usable core for detectors that declare ``parallel_safe``
        (ONNX Runtime sessions may be run from several threads), else none (detect on the calling thread)."""
        return usable_cores() if getattr(self.detector, "parallel_safe", False) else 0

    def _flush(self, pending, trackers: dict[str, FaceTracker], keep_images: bool) -> Iterator[FrameResult]:
        probs = self.classify([c for _, _, crops in pending for c in crops])
        start = 0
        for frame, dets, crops in pending:
            yield self.frame_result(frame, dets, probs[start : start + len(crops)], trackers, keep_images)
            start += len(crops)

    def frame_result(
        self, frame: Frame, dets, probs: np.ndarray, trackers: dict[str, FaceTracker], keep_images: bool = False
    ) -> FrameResult:
        """The result of one frame whose faces are classified (``probs``, one row per detection). Video and webcam
        frames keep identities and smoothed probabilities through ``trackers`` (one ``FaceTracker`` per stream,
        kept by the caller across frames, in frame order); ``dets`` are in ``frame.image``'s px. ``ferkit batch``
        calls this too."""
        dets = in_file_px(frame, dets)  # results are in the file's px, also when it was decoded smaller
        ids: list[int | None] = [None] * len(dets)
        if frame.stream is not None and dets:
            tracker = trackers.setdefault(frame.stream, FaceTracker(self.alpha))
            ids, probs = tracker.update(np.array([d.box for d in dets]), probs)
        return self._frame_result(frame, dets, probs, ids, keep_images)

    def _frame_result(self, frame: Frame, dets, probs: np.ndarray, ids, keep_images: bool) -> FrameResult:
        faces = []
        for det, p, tid in zip(dets, probs, ids):
            k = int(np.argmax(p))
            box = tuple(int(round(v)) for v in det.box)
            lms = det.landmarks.round(1).tolist() if det.landmarks is not None else None
            faces.append(
                FaceResult(
                    box,
                    self.labels[k],
                    float(p[k]),
                    {lab: float(v) for lab, v in zip(self.labels, p)},
                    lms,
                    tid,
                    float(det.score),
                )
            )
        rest = (frame.error, frame.image if keep_images else None, frame.kind, frame.stream, frame.fps)
        return FrameResult(frame.source, frame.index, frame.timestamp, frame.file_size, faces, *rest)

    # -- explanations -------------------------------------------------------------------------------------------
    @property
    def can_explain(self) -> bool:
        """Whether :meth:`explain` works here: a torch checkpoint is at hand and torch is installed."""
        return self._checkpoint is not None and torch_available()

    def explain(self, image, method: str = "auto") -> list[dict]:
        """Per face of ``image`` (any single-frame source): {box, label, score, method, heatmap HxW in [0, 1] at
        crop size, overlay RGB}. ``method``: "cbam" (CBAM spatial attention), "gradcam", or "auto"."""
        from ferkit.inference.explain import explain_crops

        if self._torch_model is None:
            if self._checkpoint is None:
                raise ValueError(
                    f"explain() needs the torch model; {self._path} is an exported file. Pass the "
                    "checkpoint folder (model.safetensors + model.json) instead."
                )
            require("explain() (attention maps)", "torch")
            from ferkit.models import load_model

            self._torch_model, _ = load_model(self._checkpoint, self.device)
        frame = next(iter(iter_frames(image, limit=1)))
        if frame.image is None:
            raise ValueError(f"Cannot explain {frame.source}: {frame.error}")
        dets = self.detector(frame.image)
        crops = [self.crop(frame.image, d) for d in dets]
        if not crops:
            return []
        batch = self.model_input(crops)
        maps, used = explain_crops(self._torch_model, batch, method, self.device)
        probs = self.classify(crops)
        out = []
        for det, crop, heat, p in zip(dets, crops, maps, probs):
            k = int(np.argmax(p))
            box = tuple(int(round(v)) for v in det.box)
            out.append(Explanation(box, self.labels[k], float(p[k]), used, heat, overlay_heatmap(crop, heat)))
        return out


def overlay_heatmap(crop: np.ndarray, heat: np.ndarray, weight: float = 0.45) -> np.ndarray:
    """Crop (gray or RGB) blended with a JET-coloured ``heat`` (HxW in [0, 1]); RGB out."""
    import cv2

    from ferkit.faces.crop import to_rgb3

    crop = to_rgb3(crop)
    colored = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    return (crop.astype(np.float32) * (1 - weight) + colored.astype(np.float32) * weight).round().astype(np.uint8)
