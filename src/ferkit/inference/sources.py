"""One dispatcher, ``iter_frames(source)``, turns any input into RGB frames.

Sources: an image path, a folder (recursive), a glob, a video file, a webcam index (int or digit string),
an ``np.ndarray`` (RGB HxWx3 or gray HxW uint8), a ``PIL.Image``, or a list of those. The recogniser only
ever sees ``Frame`` objects, so it never branches on the input type.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass
class Frame:
    """One decoded frame. ``image`` is RGB uint8 HxWx3, or None with ``error`` set for an unreadable file.

    ``stream`` names the video/webcam a frame belongs to (None for stills): tracking and smoothing run per stream.
    ``live`` marks webcam frames, which are classified one at a time so results never lag.
    """

    image: np.ndarray | None
    source: str
    index: int = 0
    timestamp: float | None = None
    stream: str | None = None
    live: bool = False
    error: str | None = None


def to_rgb(image) -> np.ndarray:
    """An ``np.ndarray`` (gray, RGB or RGBA uint8) or ``PIL.Image`` as a contiguous RGB uint8 HxWx3 array."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"Image arrays must be uint8 (0-255), got dtype {arr.dtype}; convert with "
                         "(img * 255).astype(np.uint8) if it is in [0, 1].")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"Image arrays must be HxW, HxWx3 (RGB) or HxWx4, got shape {arr.shape}.")
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to RGB uint8 (EXIF orientation applied); ValueError when it is not a readable image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path} is not a readable image ({type(err).__name__}: {err}); supported: "
                         f"{', '.join(IMAGE_EXTS)}.") from err


def _is_webcam(source) -> bool:
    return (isinstance(source, int) and not isinstance(source, bool)) or (isinstance(source, str) and source.isdigit())


def _iter_capture(cap, name: str, live: bool, limit: int | None) -> Iterator[Frame]:
    import cv2

    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    index = 0
    try:
        while limit is None or index < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            # Frame index / fps is exact for constant-rate files; POS_MSEC is the fallback for odd containers.
            ts = index / fps if fps > 0 else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), name, index, float(ts), stream=name, live=live)
            index += 1
    finally:
        cap.release()


def count_frames(path: str | os.PathLike) -> int | None:
    """Frame count a video file declares (for progress bars); None when unknown."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    return n if n > 0 else None


def iter_video(path: str | os.PathLike, limit: int | None = None) -> Iterator[Frame]:
    """Frames of a video file (OpenCV), with timestamps in seconds; ValueError when OpenCV cannot decode it."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    ok = cap.isOpened() and cap.grab()
    cap.release()
    if not ok:
        raise ValueError(f"Cannot decode video {path}: OpenCV could not read a frame from it. Supported containers: "
                         f"{', '.join(VIDEO_EXTS)} with a codec OpenCV's FFmpeg build reads (H.264, MJPEG, MPEG-4); "
                         "re-encode it, e.g. `ffmpeg -i in.mov -c:v libx264 out.mp4`.")
    yield from _iter_capture(cv2.VideoCapture(str(path)), str(path), live=False, limit=limit)


def iter_webcam(index: int, limit: int | None = None) -> Iterator[Frame]:
    """Frames from webcam ``index`` until it stops (or ``limit`` frames); RuntimeError when there is no such camera."""
    import cv2

    quiet = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our error below says it better
    try:
        cap = cv2.VideoCapture(int(index))
    finally:
        cv2.utils.logging.setLogLevel(quiet)
    if not cap.isOpened():
        cap.release()
        raise RuntimeError(f"No webcam at index {index}: OpenCV could not open it. Check that a camera is connected "
                           "and not used by another program, or try another index (0 is the first camera).")
    yield from _iter_capture(cap, f"webcam:{index}", live=True, limit=limit)


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
        raise FileNotFoundError(f"No image or video files found at {text!r} (looked for {', '.join(IMAGE_EXTS)} "
                                f"and {', '.join(VIDEO_EXTS)}).")
    return files


def _iter_file(path: Path, in_collection: bool, limit: int | None) -> Iterator[Frame]:
    """One file's frames. Inside a folder/glob/list an unreadable file becomes an error frame, not an exception."""
    try:
        if path.suffix.lower() in VIDEO_EXTS:
            yield from iter_video(path, limit)
        else:
            yield Frame(read_image(path), str(path))
    except (ValueError, OSError) as err:
        if not in_collection:
            raise
        log.warning("skipping %s: %s", path, err)
        yield Frame(None, str(path), error=str(err))


def iter_frames(source, limit: int | None = None, _in_collection: bool = False) -> Iterator[Frame]:
    """Yield ``Frame`` objects for any supported source (see module doc); ``limit`` caps frames per video/webcam.

    Errors: FileNotFoundError for a missing path or an empty folder/glob, ValueError for an unreadable image or
    undecodable video given directly, RuntimeError for a missing webcam. Inside a folder, glob or list the bad
    files come back as frames with ``error`` set and the rest are processed.
    """
    from PIL import Image

    if isinstance(source, (list, tuple)):
        for i, item in enumerate(source):
            for frame in iter_frames(item, limit, _in_collection=True):
                if frame.source == "<array>":
                    frame.source, frame.index = f"<array {i}>", i
                yield frame
    elif isinstance(source, (np.ndarray, Image.Image)):
        yield Frame(to_rgb(source), "<array>")
    elif _is_webcam(source):
        yield from iter_webcam(int(source), limit)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_file():
            yield from _iter_file(path, _in_collection, limit)
        elif path.is_dir() or any(ch in str(source) for ch in "*?["):
            for file in list_files(source):
                yield from _iter_file(file, True, limit)
        else:
            raise FileNotFoundError(f"Source {str(source)!r} does not exist; pass an image, a folder, a glob "
                                    "('photos/**/*.jpg'), a video file, or a webcam index (0).")
    else:
        raise ValueError(f"Unsupported source type {type(source).__name__}; pass a path, a glob, a webcam index, "
                         "an RGB np.ndarray, a PIL.Image or a list of those.")
