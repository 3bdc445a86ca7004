"""Annotated outputs of ``ferkit predict --save``: each result drawn on its frame (box, label, confidence bar),
images saved as pictures and video/webcam streams as MP4 at the stream's own frame rate (``FrameResult.fps``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ferkit.inference.results import FrameResult

log = logging.getLogger(__name__)


class H264Writer:
    """RGB frames -> an H.264 (yuv420p, faststart) MP4 via PyAV's bundled libx264: the codec every browser plays.
    OpenCV's pip wheels only write MPEG-4 Part 2 (mp4v), which browsers do not play."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]):
        from fractions import Fraction

        import av

        self.container = av.open(str(path), "w", options={"movflags": "+faststart"})
        self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        w, h = size
        self.stream.width, self.stream.height = w + w % 2, h + h % 2  # 4:2:0 needs even sides
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "23", "preset": "veryfast"}

    def write(self, rgb: np.ndarray) -> None:
        import av

        h, w = rgb.shape[:2]
        if (w, h) != (self.stream.width, self.stream.height):
            rgb = np.pad(rgb, ((0, self.stream.height - h), (0, self.stream.width - w), (0, 0)), mode="edge")
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            self.container.mux(packet)

    def release(self) -> None:
        for packet in self.stream.encode():  # flush the encoder's delayed frames
            self.container.mux(packet)
        self.container.close()


class Mp4vWriter:
    """The fallback without PyAV (``pip install 'ferkit[video]'``): OpenCV's MPEG-4 Part 2 MP4, which plays in
    desktop players but not in browsers."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]):
        import cv2

        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)

    def write(self, rgb: np.ndarray) -> None:
        import cv2

        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def release(self) -> None:
        self.writer.release()


def video_writer(path: str | os.PathLike, fps: float, size: tuple[int, int]):
    """H.264 when PyAV is installed (the ``video`` extra), else mp4v, announced once on stderr."""
    import importlib.util

    if importlib.util.find_spec("av") is not None:
        return H264Writer(path, fps, size)
    global _WARNED_MP4V
    if not _WARNED_MP4V:
        _WARNED_MP4V = True
        log.warning(
            "PyAV is not installed: annotated videos are MPEG-4 Part 2 (mp4v), which browsers do not play; "
            "`pip install 'ferkit[video]'` writes H.264"
        )
    return Mp4vWriter(path, fps, size)


_WARNED_MP4V = False


class AnnotatedWriter:
    """Save each result drawn on its frame under ``folder``: images keep their file name, a video or webcam
    stream becomes ``<name>.mp4`` (H.264, plays in browsers) at the source frame rate."""

    def __init__(self, folder: str | os.PathLike, fps: float = 30.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._videos: dict[str, H264Writer | Mp4vWriter] = {}
        self._names: set[str] = set()
        self.written: list[Path] = []

    def _unique(self, name: str) -> str:
        stem, suffix, i = Path(name).stem, Path(name).suffix, 1
        while name in self._names:
            name, i = f"{stem}_{i}{suffix}", i + 1
        self._names.add(name)
        return name

    def write(self, fr: FrameResult, stream: bool | None = None) -> None:
        """Draw ``fr`` on its kept image and save it; ``stream`` (default: ``fr.stream is not None``) says whether
        it is a frame of a video/webcam, written at ``fr.fps`` (``fps`` when the source declared none)."""
        import cv2

        if fr.image is None:
            return
        drawn = fr.plot()
        if stream is None:
            stream = fr.stream is not None
        if not stream:
            name = self._unique(
                Path(fr.source).name if not fr.source.startswith("<") else f"array_{fr.frame_index}.png"
            )
            out = self.folder / name
            if out.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"):
                out = out.with_suffix(".png")
            cv2.imwrite(str(out), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
            self.written.append(out)
            return
        key = fr.stream or fr.source
        if key not in self._videos:
            stem = Path(key).stem if fr.kind != "webcam" else key.replace(":", "_")
            out = self.folder / self._unique(f"{stem}.mp4")
            h, w = drawn.shape[:2]
            self._videos[key] = video_writer(out, fr.fps or self.fps, (w, h))
            self.written.append(out)
        self._videos[key].write(drawn)

    def close(self) -> None:
        for writer in self._videos.values():
            writer.release()
        self._videos.clear()
