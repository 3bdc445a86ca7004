"""The driver's side of ``ferkit batch`` before any Ray work: expand the inputs into sources, give each a stable id,
cut videos into frame ranges, and read and write the per-source manifests that make a rerun skip finished sources.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ferkit.inference.sources import IMAGE_EXTS, VIDEO_EXTS, count_frames, list_files

LIST_EXTS = (".txt", ".lst")  # list files: one input (file, folder or glob) per line, '#' starts a comment


@dataclass(frozen=True)
class Source:
    """One image or video to process: its path, a stable id (the partition name), and what the file was when listed
    (size and mtime, so an edited file is processed again)."""

    path: str
    source_id: str
    kind: str  # "image" | "video"
    size: int
    mtime: float
    frames: int | None  # frames the container declares (videos), 1 for images, None when unknown


@dataclass(frozen=True)
class WorkItem:
    """A frame range of one source: frames ``start`` up to ``stop`` (None: to the end); images are one item."""

    path: str
    source_id: str
    kind: str
    chunk: int
    n_chunks: int
    start: int = 0
    stop: int | None = None


def source_id(path: str | os.PathLike) -> str:
    """16 hex digits of the SHA-1 of the absolute path: a partition name without slashes, the same on every rerun."""
    return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders (recursive), globs and list files (``.txt``/``.lst``, relative lines read from the list's
    folder) -> the image and video files, sorted, each once. FileNotFoundError naming the input that matched nothing."""
    found: dict[str, Path] = {}
    for text in inputs:
        path = Path(text)
        if path.is_file() and path.suffix.lower() in LIST_EXTS:
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
            entries = [ln for ln in lines if ln and not ln.startswith("#")]
            files = expand_inputs([e if Path(e).is_absolute() else str(path.parent / e) for e in entries])
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_EXTS + VIDEO_EXTS:
                raise ValueError(
                    f"{path} is not an image, a video or a list file; images: {', '.join(IMAGE_EXTS)}; videos: "
                    f"{', '.join(VIDEO_EXTS)}; lists: {', '.join(LIST_EXTS)} (one input per line)."
                )
            files = [path]
        elif path.is_dir() or any(ch in text for ch in "*?["):
            files = list_files(text)
        else:
            raise FileNotFoundError(
                f"Input {text!r} does not exist; pass image or video files, folders, globs ('clips/**/*.mp4') or "
                f"list files ({', '.join(LIST_EXTS)})."
            )
        for f in files:
            found.setdefault(str(f.resolve()), f)
    return sorted(found.values(), key=lambda p: str(p))


def describe_source(path: Path) -> Source:
    kind = "video" if path.suffix.lower() in VIDEO_EXTS else "image"
    try:
        st = path.stat()
        size, mtime = st.st_size, st.st_mtime
    except OSError:
        size, mtime = -1, 0.0
    frames = (count_frames(path) if size > 0 else None) if kind == "video" else 1
    return Source(str(path), source_id(path), kind, size, mtime, frames)


def split_work(source: Source, chunk_frames: int | None) -> list[WorkItem]:
    """One item per image; a video of declared length cut into ``chunk_frames`` ranges (the last one open-ended, so
    frames past a wrong declared count are still read). Tracks and smoothing run over the whole source later, on the
    driver, so the cut never changes the results."""
    if source.kind == "image" or not chunk_frames or not source.frames or source.frames <= chunk_frames:
        return [WorkItem(source.path, source.source_id, source.kind, 0, 1)]
    starts = list(range(0, source.frames, chunk_frames))
    stops = [*starts[1:], None]
    return [
        WorkItem(source.path, source.source_id, source.kind, i, len(starts), start, stop)
        for i, (start, stop) in enumerate(zip(starts, stops))
    ]


# -- manifests ----------------------------------------------------------------------------------------------------
def fingerprint(settings: dict) -> str:
    """A short hash of everything that changes the rows (model, detector, frame step, smoothing): a finished source is
    only skipped when it was made with the same settings."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def manifest_path(out: Path, sid: str) -> Path:
    return out / "manifest" / f"{sid}.json"


def read_manifest(out: Path, sid: str) -> dict | None:
    try:
        return json.loads(manifest_path(out, sid).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent, or torn by a crash before os.replace (cannot happen, but then: redo the source)


def is_done(out: Path, source: Source, fp: str) -> bool:
    """Whether ``out`` already holds a complete result of ``source`` (unchanged file, same settings)."""
    m = read_manifest(out, source.source_id)
    return bool(
        m
        and m.get("status") == "complete"
        and m.get("fingerprint") == fp
        and m.get("size") == source.size
        and m.get("mtime") == source.mtime
    )


def write_manifest(out: Path, source: Source, fp: str, run_id: str, **fields) -> Path:
    """``manifest/<source id>.json`` written to a temporary file and renamed over the old one: a reader sees the old
    manifest or the new one, never half of it."""
    described = asdict(source)
    described["declared_frames"] = described.pop("frames")  # `frames` is what was read, in ``fields``
    record = {**described, "fingerprint": fp, "run_id": run_id, "finished": time.time(), **fields}
    path = manifest_path(out, source.source_id)
    atomic_write_bytes(path, (json.dumps(record, indent=1, default=str) + "\n").encode())
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
