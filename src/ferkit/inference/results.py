"""Result objects of ``EmotionRecognizer.predict``: one ``FrameResult`` per frame holding one ``FaceResult`` per
face, each with ``to_dict()``; ``FrameResult.plot()`` draws boxes, labels and a confidence bar; ``to_pandas(frames)``
makes a DataFrame of one row per face; in a notebook a FrameResult shows as a small table."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

# One colour per canonical emotion (RGB), so a label reads the same in every picture and timeline.
EMOTION_COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (220, 40, 40),
    "disgust": (120, 160, 40),
    "fear": (140, 70, 200),
    "happy": (250, 200, 30),
    "neutral": (160, 160, 160),
    "sad": (40, 110, 220),
    "surprise": (250, 130, 20),
    "contempt": (150, 90, 50),
}


def color_for(label: str) -> tuple[int, int, int]:
    return EMOTION_COLORS.get(label, (0, 200, 200))


@dataclass
class FaceResult:
    """One face: ``box`` (x1, y1, x2, y2) ints in frame pixels, ``landmarks`` 5x2 list or None, top ``label`` and
    its ``score``, ``probs`` for every class (sums to 1), ``track_id`` across video frames (None for photos)."""

    box: tuple[int, int, int, int]
    label: str
    score: float
    probs: dict[str, float]
    landmarks: list[list[float]] | None = None
    track_id: int | None = None
    detection_score: float = 1.0

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes as (label, prob), best first."""
        return sorted(self.probs.items(), key=lambda kv: -kv[1])[:k]

    def to_dict(self, precision: int | None = 6, top_k: int | None = None) -> dict:
        """The one JSON shape of a face (CLI --json, Python, REST). ``precision``: decimals kept (None = full
        float precision, as the REST API sends); ``top_k``: also list the k most likely classes."""
        r = (lambda v: float(v)) if precision is None else (lambda v: round(float(v), precision))  # noqa: E731
        out = {
            "box": [int(v) for v in self.box],
            "label": self.label,
            "score": r(self.score),
            "probs": {k: r(v) for k, v in self.probs.items()},
            "landmarks": self.landmarks,
            "track_id": self.track_id,
            "detection_score": round(float(self.detection_score), 4),
        }
        if top_k:
            out["top_k"] = [{"label": lab, "prob": r(p)} for lab, p in self.top(top_k)]
        return out


@dataclass
class Explanation:
    """Where the model looked for one face (``EmotionRecognizer.explain``): ``box``, ``label``, ``score``, the
    ``method`` used, ``heatmap`` (S x S float in [0, 1] at the model's crop size) and ``overlay`` (the crop as RGB
    with the map blended in). ``explanation["heatmap"]`` still works for code written when this was a dict."""

    box: tuple[int, int, int, int]
    label: str
    score: float
    method: str
    heatmap: np.ndarray
    overlay: np.ndarray

    def heatmap_u8(self) -> np.ndarray:
        """The heatmap as a gray uint8 image (0-255 = attention 0-1)."""
        return (np.clip(self.heatmap, 0, 1) * 255).round().astype(np.uint8)

    def to_dict(self) -> dict:
        """The JSON-able part (no pixel arrays): box, label, score, method."""
        return {
            "box": [int(v) for v in self.box],
            "label": self.label,
            "score": float(self.score),
            "method": self.method,
        }

    def __getitem__(self, key: str):
        return getattr(self, key)

    def get(self, key: str, default=None):
        return getattr(self, key, default)


@dataclass
class FrameResult:
    """One frame: where it came from (``source``, ``frame_index``, ``timestamp`` seconds or None), its
    ``frame_size`` (w, h) in pixels, the faces found, and ``error`` (unreadable file) instead of faces.

    ``kind`` is "image", "video", "webcam" or "array"; ``stream`` names the video/webcam the frame belongs to (None
    for stills; tracks are per stream); ``fps`` is the stream's declared frame rate (None for stills or unknown).
    """

    source: str
    frame_index: int = 0
    timestamp: float | None = None
    frame_size: tuple[int, int] | None = None
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    kind: str = "image"
    stream: str | None = None
    fps: float | None = None

    @property
    def image_size(self) -> tuple[int, int] | None:
        """Deprecated alias of ``frame_size`` (``image_size`` elsewhere means the model's input side)."""
        return self.frame_size

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "kind": self.kind,
            "stream": self.stream,
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "fps": self.fps,
            "frame_size": list(self.frame_size) if self.frame_size else None,
            "error": self.error,
            "faces": [f.to_dict() for f in self.faces],
        }

    def to_pandas(self):
        """This frame's faces as a pandas DataFrame, one row per face (see ``to_pandas``)."""
        return to_pandas([self])

    def _repr_html_(self) -> str:
        """A small table for Jupyter: one row per face with its box, label, score and top-3 classes."""
        where = f"{html.escape(self.source)}, frame {self.frame_index}"
        if self.timestamp is not None:
            where += f" ({self.timestamp:.2f} s)"
        if self.error:
            return f"<p><b>{where}</b>: unreadable: {html.escape(self.error)}</p>"
        size = f", {self.frame_size[0]}x{self.frame_size[1]}" if self.frame_size else ""
        rows = "".join(
            f"<tr><td>{i if face.track_id is None else f'#{face.track_id}'}</td><td>{', '.join(map(str, face.box))}"
            f"</td><td>{html.escape(face.label)}</td><td>{face.score:.2f}</td>"
            f"<td>{html.escape(' '.join(f'{lab} {p:.2f}' for lab, p in face.top(3)))}</td></tr>"
            for i, face in enumerate(self.faces)
        )
        head = "<tr><th>face</th><th>box (x1, y1, x2, y2)</th><th>label</th><th>score</th><th>top 3</th></tr>"
        body = f"<table>{head}{rows}</table>" if self.faces else "<p>no face found</p>"
        return f"<div><b>{where}{size}</b>: {len(self.faces)} face(s){body}</div>"

    def plot(self, image: np.ndarray | None = None) -> np.ndarray:
        """The frame (``image`` or the one kept from prediction) as RGB with each face's box, label and a
        confidence bar drawn on it."""
        img = self.image if image is None else image
        if img is None:
            raise ValueError(
                f"No image to draw on for {self.source}: pass image=..., or predict with keep_images=True."
            )
        return draw_faces(img, self.faces)


TABLE_COLUMNS = (
    "source",
    "frame",
    "timestamp",
    "face",
    "track_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "label",
    "score",
    "detection_score",
)


def face_records(frames: Iterable[FrameResult]) -> list[dict]:
    """One flat dict per face: ``TABLE_COLUMNS`` then ``p_<label>`` for every class. Frames without faces add none."""
    records = []
    for fr in frames:
        for i, face in enumerate(fr.faces):
            rec = {
                "source": fr.source,
                "frame": fr.frame_index,
                "timestamp": fr.timestamp,
                "face": i,
                "track_id": face.track_id,
                "x1": face.box[0],
                "y1": face.box[1],
                "x2": face.box[2],
                "y2": face.box[3],
                "label": face.label,
                "score": face.score,
                "detection_score": face.detection_score,
            }
            rec.update({f"p_{label}": p for label, p in face.probs.items()})
            records.append(rec)
    return records


def to_pandas(frames: Iterable[FrameResult]):
    """A pandas DataFrame of ``frames`` (e.g. ``EmotionRecognizer.predict``'s list), one row per face: source,
    frame, timestamp, face, track_id, box x1..y2, label, score, detection_score and one ``p_<label>`` column per class.
    Needs pandas (not a ferkit dependency)."""
    try:
        import pandas as pd
    except ModuleNotFoundError as err:
        from ferkit.extras import MissingExtraError

        raise MissingExtraError(
            "to_pandas() needs pandas, which is not installed; `pip install pandas`.", name="pandas"
        ) from err
    frames = [frames] if isinstance(frames, FrameResult) else list(frames)
    records = face_records(frames)
    labels = list(frames[0].faces[0].probs) if records else []
    df = pd.DataFrame.from_records(records, columns=[*TABLE_COLUMNS, *(f"p_{lab}" for lab in labels)])
    return df.astype({"track_id": "Int64"})  # nullable: photos have no track id


def draw_faces(image: np.ndarray, faces: list[FaceResult]) -> np.ndarray:
    """Copy of ``image`` (RGB) with box, ``label score`` text and a confidence bar under each face."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    thick = max(1, round(max(out.shape[:2]) / 400))
    for face in faces:
        x1, y1, x2, y2 = face.box
        color = color_for(face.label)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        tag = f"{face.label} {face.score:.0%}" + (f" #{face.track_id}" if face.track_id is not None else "")
        scale = 0.4 * thick
        (tw, th), base = cv2.getTextSize(tag, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = max(th + base, y1)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty), color, -1)
        cv2.putText(out, tag, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
        # Confidence bar: full width = box width, filled part = top probability.
        by = min(out.shape[0] - 1, y2 + 2 + 3 * thick)
        cv2.rectangle(out, (x1, by - 2 * thick), (x2, by), (60, 60, 60), -1)
        cv2.rectangle(out, (x1, by - 2 * thick), (x1 + int((x2 - x1) * face.score), by), color, -1)
    return out
