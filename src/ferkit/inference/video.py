"""Video files and webcams as ``Frame`` streams (OpenCV), for ``ferkit.inference.sources.iter_frames``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferkit.inference.sources import Frame

log = logging.getLogger(__name__)


def _iter_capture(cap, name: str, live: bool, stop: int | None, start: int = 0, step: int = 1) -> Iterator[Frame]:
    """Frames ``start <= index < stop`` whose index is a multiple of ``step``, numbered from the first frame of the
    capture. Skipped frames are grabbed (decoded, not converted) rather than seeked past: OpenCV's seek lands on key
    frames for some codecs, which would shift every index."""
    import cv2

    from ferkit.inference.sources import Frame

    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    kind = "webcam" if live else "video"
    index = 0
    try:
        while index < start and cap.grab():
            index += 1
        while stop is None or index < stop:
            if index % step:
                if not cap.grab():
                    break
                index += 1
                continue
            ok, bgr = cap.read()
            if not ok:
                break
            # Frame index / fps is exact for constant-rate files; POS_MSEC is the fallback for odd containers.
            ts = index / fps if fps > 0 else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Frame(rgb, name, index, float(ts), stream=name, live=live, fps=fps or None, kind=kind)
            index += 1
    finally:
        cap.release()


def iter_video_range(path: str, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[Frame]:
    """Frames ``start <= index < stop`` of a video (every ``step``-th), numbered and timed as ``iter_video`` numbers
    them, so a video cut into ranges (``ferkit batch``) gives the same frames as one pass."""
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"Cannot decode video {path}: OpenCV could not open it; re-encode it (H.264 MP4).")
    yield from _iter_capture(cap, path, live=False, stop=stop, start=start, step=step)


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

    from ferkit.inference.sources import VIDEO_EXTS

    cap = cv2.VideoCapture(str(path))
    ok = cap.isOpened() and cap.grab()
    cap.release()
    if not ok:
        raise ValueError(
            f"Cannot decode video {path}: OpenCV could not read a frame from it. Supported containers: "
            f"{', '.join(VIDEO_EXTS)} with a codec OpenCV's FFmpeg build reads (H.264, MJPEG, MPEG-4); "
            "re-encode it, e.g. `ffmpeg -i in.mov -c:v libx264 out.mp4`."
        )
    declared, read = count_frames(path), 0
    for frame in _iter_capture(cv2.VideoCapture(str(path)), str(path), live=False, stop=limit):
        read += 1
        yield frame
    if declared and read < declared and (limit is None or read < limit):
        # A cut file decodes up to the damage; say so instead of passing off a partial result as whole.
        log.warning("video %s ended after %d of the %d frames its header declares (truncated?)", path, read, declared)


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
        raise RuntimeError(
            f"No webcam at index {index}: OpenCV could not open it. Check that a camera is connected "
            "and not used by another program, or try another index (0 is the first camera)."
        )
    yield from _iter_capture(cap, f"webcam:{index}", live=True, stop=limit)
