"""What Ray runs on the workers for ``ferkit batch``: ``detect_item`` (decode one work item's frames, detect faces,
cut the canonical crops) and ``Classify`` (an actor that batches those crops through the classifier, on a GPU when
the node has one). Both use ``EmotionRecognizer``'s own detector, crop and classifier, so nothing here decides what a
face or a crop is. Frames never leave the worker that decoded them: only crops, boxes and landmarks travel.
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import traceback
from collections.abc import Iterator

import numpy as np

from ferkit.inference.sources import Frame, in_file_px, iter_frames
from ferkit.inference.video import iter_video_range

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def get_recognizer(settings_json: str, classify_only: bool = False):
    """One EmotionRecognizer per worker process and settings (Ray reuses worker processes across tasks, so the
    detector and classifier load once per process, not once per item)."""
    from ferkit.inference import EmotionRecognizer

    s = json.loads(settings_json)
    detector = "none" if classify_only else s["detector"]
    return EmotionRecognizer(
        model=s["model"],
        detector=detector,
        backend=s["backend"],
        device=s.get("device", "cpu"),
        smoothing=s["smoothing"],
        batch_size=s["batch_size"],
        det_threshold=None if classify_only else s["det_threshold"],
        min_face=None if classify_only else s["min_face"],
        det_size=None if classify_only else s["det_size"],
    )


def _frames(item: dict, step: int, draft) -> Iterator[Frame]:
    if item["kind"] == "video":
        yield from iter_video_range(item["path"], item["start"], item["stop"], step)
    else:
        yield from iter_frames(item["path"], draft=draft)  # ImageError (a ValueError) for an unreadable image


def detect_item(item: dict, settings_json: str) -> dict:
    """One work item -> the item plus ``payload``: pickled ``{frames: [(index, timestamp, w, h)], dets: [[Detection]],
    crops: N x S x S x C uint8, error}``. Any failure becomes ``error`` so one bad file never stops the job.
    (A pickled payload because frames hold a variable number of faces, which Arrow columns do not type simply.)"""
    rec = get_recognizer(settings_json)
    step = json.loads(settings_json)["every_nth_frame"]
    frames, dets, crops, error = [], [], [], None
    try:
        for frame in _frames(item, step, rec.draft_factor):  # large JPEGs decoded smaller, as predict does
            found = rec.detect(frame)
            crops += [rec.crop(frame.image, d) for d in found]
            frames.append((frame.index, frame.timestamp, *frame.file_size))
            dets.append(in_file_px(frame, found))
        if item["kind"] == "video" and item["start"] == 0 and not frames:
            raise ValueError(f"Cannot decode video {item['path']}: OpenCV read no frame from it; re-encode it.")
    except Exception as err:  # noqa: BLE001 - any decoder or detector failure is this source's, not the job's
        error = str(err) if isinstance(err, (ValueError, OSError)) else f"{type(err).__name__}: {err}"
        log.debug("%s failed: %s", item["path"], traceback.format_exc())
    payload = {"frames": frames, "dets": dets, "crops": crops, "error": error}
    return {**item, "payload": pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)}


class Classify:
    """A Ray actor holding one classifier: the crops of each work item go through ``EmotionRecognizer.classify``
    in batches of ``batch_size`` faces; the crops are dropped and the probabilities (N x C float32) added."""

    def __init__(self, settings_json: str):
        self.rec = get_recognizer(settings_json, classify_only=True)

    def __call__(self, item: dict) -> dict:
        payload = pickle.loads(item["payload"])
        crops = payload.pop("crops")
        try:
            payload["probs"] = self.rec.classify(crops) if crops else np.zeros((0, len(self.rec.labels)), np.float32)
        except Exception as err:  # noqa: BLE001 - as in detect_item
            payload["probs"], payload["error"] = None, f"classifier failed: {type(err).__name__}: {err}"
        return {**item, "payload": pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)}
