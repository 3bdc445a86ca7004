"""Inference layer: sources -> faces (detect, align) -> classifier backend (torch or ONNX Runtime) -> result
objects, with IoU tracking and temporal smoothing for video. Entry point: ``EmotionRecognizer``."""

from __future__ import annotations

from ferkit.inference.detect import DETECTORS, Detection, create_detector, list_detectors
from ferkit.inference.evaluate import evaluate_checkpoint, evaluate_with_detection
from ferkit.inference.recognizer import EmotionRecognizer
from ferkit.inference.results import Explanation, FaceResult, FrameResult
from ferkit.inference.sources import Frame, count_frames, iter_frames
from ferkit.inference.timeline import save_timeline
from ferkit.inference.tracking import FaceTracker

__all__ = [
    "DETECTORS",
    "Detection",
    "EmotionRecognizer",
    "Explanation",
    "FaceResult",
    "FaceTracker",
    "Frame",
    "FrameResult",
    "count_frames",
    "create_detector",
    "evaluate_checkpoint",
    "evaluate_with_detection",
    "iter_frames",
    "list_detectors",
    "save_timeline",
]
