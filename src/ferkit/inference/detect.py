"""Kept for imports written before detectors moved to ``ferkit.faces.detectors`` (one registry for every layer)."""

from ferkit.faces.detectors import DETECTORS, create_detector, detector_choices, list_detectors  # noqa: F401
from ferkit.faces.types import Detection  # noqa: F401
