"""Writers for prediction results: JSON, CSV (one row per frame and face), a console table, and annotated
images/videos (box, label, confidence bar) saved under a folder."""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ferkit.inference.results import FrameResult
from ferkit.inference.sources import VIDEO_EXTS, count_frames, list_files

log = logging.getLogger(__name__)


def count_source_frames(source) -> int | None:
    """Frames ``source`` will yield when cheap to know (files in a folder/glob, frames of a video), for progress."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return None
    path = Path(str(source))
    try:
        files = [path] if path.is_file() else list_files(source)
    except (FileNotFoundError, OSError):
        return None
    total = 0
    for f in files:
        total += (count_frames(f) or 1) if f.suffix.lower() in VIDEO_EXTS else 1
    return total


def frame_rows(fr: FrameResult, top_k: int = 1) -> list[dict]:
    """Flat rows for one frame: one per face, or one with an empty face (and the error, if any) when none."""
    base = {
        "source": fr.source,
        "frame": fr.frame_index,
        "timestamp": "" if fr.timestamp is None else round(fr.timestamp, 4),
        "error": fr.error or "",
    }
    if not fr.faces:
        return [{**base, "face": "", "status": "error" if fr.error else "no face"}]
    rows = []
    for i, face in enumerate(fr.faces):
        row = {
            **base,
            "face": i,
            "status": "ok",
            "track_id": "" if face.track_id is None else face.track_id,
            "x1": face.box[0],
            "y1": face.box[1],
            "x2": face.box[2],
            "y2": face.box[3],
            "label": face.label,
            "score": round(face.score, 4),
        }
        for rank, (label, p) in enumerate(face.top(top_k)[1:], start=2):
            row[f"top{rank}"], row[f"top{rank}_score"] = label, round(p, 4)
        row.update({f"p_{k}": round(v, 4) for k, v in face.probs.items()})
        rows.append(row)
    return rows


@contextmanager
def _open_text(path: str | os.PathLike):
    """A text file to write (parent folders created), or stdout for ``"-"``."""
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        yield f


def write_csv(frames: list[FrameResult], path: str | os.PathLike, top_k: int = 1) -> Path:
    """One row per frame and face (``frame_rows``) to ``path`` ("-" = stdout)."""
    rows = [r for fr in frames for r in frame_rows(fr, top_k)]
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with _open_text(path) as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def write_json(frames: list[FrameResult], path: str | os.PathLike, extra: dict | None = None) -> Path:
    """``{**extra, "frames": [...]}`` to ``path`` ("-" = stdout)."""
    with _open_text(path) as f:
        f.write(json.dumps({**(extra or {}), "frames": [fr.to_dict() for fr in frames]}, indent=1) + "\n")
    return Path(path)


def format_table(frames: list[FrameResult], top_k: int = 1, max_rows: int = 40) -> str:
    """A fixed-width console table (first ``max_rows`` rows, then a count of the rest)."""
    head = ("source", "frame", "time", "face", "box", "label", "score", "top-k")
    lines = []
    for fr in frames:
        for r in frame_rows(fr, top_k):
            name = Path(r["source"]).name if not r["source"].startswith("<") else r["source"]
            if r["status"] != "ok":
                status = f"unreadable: {r['error'].split(' (')[-1][:40]}" if r["status"] == "error" else "no face found"
                lines.append((name, str(r["frame"]), str(r["timestamp"]), "-", "-", status, "", ""))
                continue
            box = f"{r['x1']},{r['y1']},{r['x2']},{r['y2']}"
            face = fr.faces[r["face"]]
            topk = " ".join(f"{lab}:{p:.2f}" for lab, p in face.top(top_k)[1:]) if top_k > 1 else ""
            fid = f"#{r['track_id']}" if r["track_id"] != "" else str(r["face"])
            lines.append((name, str(r["frame"]), str(r["timestamp"]), fid, box, r["label"], f"{r['score']:.2f}", topk))
    shown = lines[:max_rows]
    widths = [max(len(h), *(len(row[i]) for row in shown)) if shown else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in shown]
    if len(lines) > max_rows:
        out.append(f"... {len(lines) - max_rows} more rows (write them all with --csv or --json)")
    return "\n".join(line.rstrip() for line in out)


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

    def write(self, fr: FrameResult, stream: bool) -> None:
        import cv2

        if fr.image is None:
            return
        drawn = fr.plot()
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
        if fr.source not in self._videos:
            stem = Path(fr.source).stem if not fr.source.startswith("webcam:") else fr.source.replace(":", "_")
            out = self.folder / self._unique(f"{stem}.mp4")
            h, w = drawn.shape[:2]
            fps = self._source_fps(fr.source)
            self._videos[fr.source] = video_writer(out, fps, (w, h))
            self.written.append(out)
        self._videos[fr.source].write(drawn)

    def _source_fps(self, source: str) -> float:
        import cv2

        if source.startswith("webcam:"):
            return self.fps
        cap = cv2.VideoCapture(source)
        fps = cap.get(cv2.CAP_PROP_FPS) or self.fps
        cap.release()
        return float(fps)

    def close(self) -> None:
        for writer in self._videos.values():
            writer.release()
        self._videos.clear()


def summarize_tracks(frames: list[FrameResult]) -> dict[int, dict]:
    """Per track id: frames seen, first/last time, mean probabilities and the dominant label."""
    acc: dict[int, dict] = {}
    for fr in frames:
        for face in fr.faces:
            if face.track_id is None:
                continue
            a = acc.setdefault(face.track_id, {"frames": 0, "start": fr.timestamp, "end": fr.timestamp, "sum": None})
            a["frames"] += 1
            a["end"] = fr.timestamp
            p = np.array(list(face.probs.values()))
            a["sum"] = p if a["sum"] is None else a["sum"] + p
            a["labels"] = list(face.probs)
    out = {}
    for tid, a in acc.items():
        mean = a["sum"] / a["frames"]
        out[tid] = {
            "frames": a["frames"],
            "start": a["start"],
            "end": a["end"],
            "label": a["labels"][int(mean.argmax())],
            "mean_probs": dict(zip(a["labels"], mean.round(4).tolist())),
        }
    return out
