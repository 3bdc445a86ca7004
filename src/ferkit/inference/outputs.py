"""What ``ferkit predict`` does with results: collect them (progress bar, annotated images/videos saved as they
come), group video/webcam frames by ``FrameResult.stream``, summarise tracks, save timelines, and write JSON, CSV
(one row per frame and face) and a console table. The annotated writers live in ``ferkit.inference.annotate``."""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ferkit.inference.annotate import AnnotatedWriter, H264Writer, Mp4vWriter, video_writer  # noqa: F401
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


def collect_results(
    results: Iterable[FrameResult], writer: AnnotatedWriter | None = None, total: int | None = None
) -> list[FrameResult]:
    """All of ``results`` as a list, with a progress bar (hidden for a single frame); each result is saved by
    ``writer`` (then its image dropped, so a long video's frames are not all held in memory). Closes ``writer``."""
    from tqdm import tqdm

    frames = []
    bar = tqdm(total=total, unit="frame", desc="predict", disable=total is not None and total <= 1)
    try:
        for fr in results:
            if writer:
                writer.write(fr)
                fr.image = None
            frames.append(fr)
            bar.update(1)
    finally:
        bar.close()
        if writer:
            writer.close()
    return frames


def group_by_stream(frames: Iterable[FrameResult]) -> dict[str, list[FrameResult]]:
    """Video/webcam frames by ``stream`` (sorted by name, frames in order); stills are left out."""
    groups: dict[str, list[FrameResult]] = {}
    for fr in frames:
        if fr.stream is not None:
            groups.setdefault(fr.stream, []).append(fr)
    return dict(sorted(groups.items()))


def report_streams(frames: list[FrameResult], labels: list[str], save: str | os.PathLike | None = None) -> list[str]:
    """Per stream: one line per track (frames, time span, dominant label) and, with ``save``, its timeline PNG
    saved there (needs matplotlib; a note says so when it is missing). Returns the lines to show."""
    from ferkit.extras import install_hint, is_installed
    from ferkit.inference.timeline import save_timeline

    lines = []
    for stream, group in group_by_stream(frames).items():
        for tid, t in sorted(summarize_tracks(group).items()):
            lines.append(
                f"{stream} face #{tid}: {t['frames']} frames, {t['start']:.2f}-{t['end']:.2f} s, mostly {t['label']}"
            )
        if save and not is_installed("matplotlib"):
            lines.append(f"no timeline PNG for {stream}: it needs matplotlib (`{install_hint('matplotlib')}`)")
        elif save:
            png = save_timeline(group, Path(save) / f"{Path(stream.replace(':', '_')).stem}_timeline.png", labels)
            if png:
                lines.append(f"wrote {png}")
    return lines


def format_summary(frames: list[FrameResult], model_info: dict) -> list[str]:
    """The closing lines: counts of frames, faces, frames without a face and unreadable inputs (each listed)."""
    bad = [f for f in frames if f.error]
    no_face = sum(1 for f in frames if not f.error and not f.faces)
    n_faces = sum(len(f.faces) for f in frames)
    model = model_info["arch"]
    if model_info.get("version"):  # a named release, e.g. the packaged default: "ferkit-default-v2 2.2 (ensemble)"
        model = f"{model_info['name']} {model_info['version']} ({model})"
    lines = [
        f"{len(frames)} frame(s), {n_faces} face(s); no face in {no_face}; unreadable: {len(bad)}"
        f" [model {model}, backend {model_info['backend']}, detector {model_info['detector']}]"
    ]
    return lines + [f"  unreadable: {f.source}: {f.error}" for f in bad]
