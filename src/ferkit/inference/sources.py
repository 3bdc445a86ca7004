"""One dispatcher, ``iter_frames(source)``, turns any input into RGB frames.

Sources: an image path, a folder (recursive), a glob, a video file, a webcam index (int or digit string),
an ``np.ndarray`` (HxWx3 RGB, or BGR with ``color="bgr"``; gray HxW uint8), a ``PIL.Image``, or a list of those;
a ``Frame`` decoded by the caller (the REST API's uploads) passes through. The recogniser only ever sees ``Frame``
objects, so it never branches on the input type.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.data.images import (  # noqa: F401 - the image reader, re-exported for the inference API
    DRAFT_FACTORS,
    IMAGE_EXTS,
    MIN_SIDE,
    ImageError,
    check_image_size,
    decode_image,
    pil_to_array,
    read_image,
)
from ferkit.faces.crop import to_rgb3
from ferkit.faces.types import Detection, unscale

log = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
COLORS = ("rgb", "bgr")  # channel order of array inputs; files, videos and PIL images are always decoded to RGB
FRAME_KINDS = ("image", "video", "webcam", "array")  # Frame.kind / FrameResult.kind


@dataclass
class Frame:
    """One decoded frame. ``image`` is RGB uint8 HxWx3, or None with ``error`` set for an unreadable file.

    ``stream`` names the video/webcam a frame belongs to (None for stills): tracking and smoothing run per stream.
    ``live`` marks webcam frames, which are classified one at a time so results never lag.
    ``fps`` is the video/webcam's declared frame rate (None for stills or when unknown); ``kind`` is one of
    ``FRAME_KINDS``: what the frame came from, so callers never guess it from names or timestamps.
    ``size`` is the (w, h) of the file, the frame that results are reported in; None: the image's own size. A large
    JPEG may be decoded smaller than its file (``iter_frames(draft=...)``), so ``image`` can be smaller than ``size``.
    """

    image: np.ndarray | None
    source: str
    index: int = 0
    timestamp: float | None = None
    stream: str | None = None
    live: bool = False
    error: str | None = None
    fps: float | None = None
    kind: str = "image"
    size: tuple[int, int] | None = None

    @property
    def file_size(self) -> tuple[int, int] | None:
        """(w, h) that results are reported in: ``size``, else the image's own; None for an unreadable file."""
        if self.size is not None or self.image is None:
            return self.size
        return self.image.shape[1], self.image.shape[0]

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) image px per ``size`` px: 1 unless the file was decoded smaller (``iter_frames(draft=...)``)."""
        if self.image is None or self.size is None:
            return 1.0, 1.0
        return self.image.shape[1] / self.size[0], self.image.shape[0] / self.size[1]


def in_file_px(frame: Frame, dets: list[Detection]) -> list[Detection]:
    """``dets`` found in ``frame.image`` moved to the file's px (``frame.size``): the same list when the frame was
    decoded at full size, else scaled copies."""
    return unscale(dets, *frame.scale)


def check_color(color: str) -> str:
    if color not in COLORS:
        raise ValueError(
            f"color={color!r} is unknown; use 'rgb', or 'bgr' for arrays from cv2.imread / cv2.VideoCapture."
        )
    return color


def to_rgb(image, color: str = "rgb") -> np.ndarray:
    """An ``np.ndarray`` (gray, RGB or RGBA uint8; BGR or BGRA with ``color="bgr"``) or ``PIL.Image`` as a
    contiguous RGB uint8 HxWx3 array."""
    from PIL import Image

    check_color(color)
    if isinstance(image, Image.Image):
        return pil_to_array(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(
            f"Image arrays must be uint8 (0-255), got dtype {arr.dtype}; convert with "
            "(img * 255).astype(np.uint8) if it is in [0, 1]."
        )
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise ValueError(f"Image arrays must be HxW, HxWx3 (RGB) or HxWx4, got shape {arr.shape}.")
    arr = to_rgb3(arr)  # the channel rule the canonical crop uses too
    return np.ascontiguousarray(arr[:, :, ::-1]) if color == "bgr" else arr


def _is_webcam(source) -> bool:
    return (isinstance(source, int) and not isinstance(source, bool)) or (isinstance(source, str) and source.isdigit())


def list_files(source: str | os.PathLike) -> list[Path]:
    """Image and video files under a folder (recursive) or matching a glob, sorted; FileNotFoundError when none."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = [Path(p) for p in sorted(globlib.glob(text, recursive=True)) if Path(p).is_file()]
    else:
        files = sorted(p for p in Path(text).rglob("*") if p.is_file() and not p.name.startswith("."))
        # A folder holds other files too (labels, notes): keep images and videos only.
        files = [p for p in files if p.suffix.lower() in IMAGE_EXTS + VIDEO_EXTS]
    if not files:
        raise FileNotFoundError(
            f"No image or video files found at {text!r} (looked for {', '.join(IMAGE_EXTS)} "
            f"and {', '.join(VIDEO_EXTS)})."
        )
    return files


def _iter_file(path: Path, in_collection: bool, limit: int | None, draft=None) -> Iterator[Frame]:
    """One file's frames. Inside a folder/glob/list an unreadable file becomes an error frame, not an exception."""
    try:
        if path.suffix.lower() in VIDEO_EXTS:
            yield from iter_video(path, limit)
        else:
            image, size = decode_image(path, draft=draft)
            yield Frame(image, str(path), size=size)
    except (ValueError, OSError) as err:
        if not in_collection:
            raise
        log.warning("skipping %s: %s", path, err)
        kind = "video" if path.suffix.lower() in VIDEO_EXTS else "image"
        yield Frame(None, str(path), error=str(err), kind=kind)


def iter_frames(
    source, limit: int | None = None, color: str = "rgb", draft=None, _in_collection: bool = False
) -> Iterator[Frame]:
    """Yield ``Frame`` objects for any supported source (see module doc); ``limit`` caps frames per video/webcam;
    ``color`` is the channel order of array inputs ("rgb", or "bgr" for OpenCV frames); ``draft``: how much
    smaller each JPEG file may be decoded (``decode_image``; the frame's ``size`` keeps the file's).

    Errors: FileNotFoundError for a missing path or an empty folder/glob; ValueError (``ImageError`` for images)
    for an unreadable, too small (``MIN_SIDE``) or too large image or an undecodable video given directly;
    RuntimeError for a missing webcam. Inside a folder, glob or list the bad files and arrays come back as frames
    with ``error`` set and the rest are processed.
    """
    from PIL import Image

    check_color(color)
    if isinstance(source, (list, tuple)):
        for i, item in enumerate(source):
            for frame in iter_frames(item, limit, color, draft, _in_collection=True):
                if frame.source == "<array>":
                    frame.source, frame.index = f"<array {i}>", i
                yield frame
    elif isinstance(source, Frame):  # decoded by the caller (the REST API's uploads)
        yield source
    elif isinstance(source, (np.ndarray, Image.Image)):
        try:
            image = to_rgb(source, color)
            check_image_size(image.shape[1], image.shape[0], "<array>")
        except ValueError as err:
            if not _in_collection:
                raise
            log.warning("skipping an array: %s", err)
            yield Frame(None, "<array>", error=str(err), kind="array")
            return
        yield Frame(image, "<array>", kind="array")
    elif _is_webcam(source):
        yield from iter_webcam(int(source), limit)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_file():
            yield from _iter_file(path, _in_collection, limit, draft)
        elif path.is_dir() or any(ch in str(source) for ch in "*?["):
            for file in list_files(source):
                yield from _iter_file(file, True, limit, draft)
        else:
            raise FileNotFoundError(
                f"Source {str(source)!r} does not exist; pass an image, a folder, a glob "
                "('photos/**/*.jpg'), a video file, or a webcam index (0)."
            )
    else:
        raise ValueError(
            f"Unsupported source type {type(source).__name__}; pass a path, a glob, a webcam index, "
            "an RGB np.ndarray, a PIL.Image or a list of those."
        )


def is_webcam(source) -> bool:
    """Whether ``source`` names a webcam (an int or a digit string), for callers that must not read ahead."""
    return _is_webcam(source)


# Video and webcam readers live in video.py; imported here, after Frame exists, so old imports keep working.
from ferkit.inference.video import count_frames, iter_video, iter_webcam  # noqa: E402, F401
