"""The two Parquet tables of ``ferkit batch`` (schema in docs/batch.md) and the driver step that builds them: the
chunks of one source, in frame order, go through one ``FaceTracker`` exactly as ``EmotionRecognizer.iter_predict``
runs them, so track ids and smoothed probabilities equal ``ferkit predict``'s whatever the chunking.

Layout under ``--out``: ``faces/source_id=<id>/part-0.parquet``, ``summary/source_id=<id>/part-0.parquet``
(Hive partitions: pandas, pyarrow and DuckDB read the folder as one table with a ``source_id`` column) and
``manifest/<id>.json``.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from ferkit.batch.work import atomic_write_bytes
from ferkit.inference.results import FrameResult, face_records
from ferkit.inference.sources import Frame


def assemble_frames(rec, source: str, kind: str, chunks: list[dict]) -> list[FrameResult]:
    """Classified chunks of one source (any order) -> its FrameResults in frame order, tracked and smoothed per
    source as ``iter_predict`` does (images: no tracking). ``rec`` is the driver's EmotionRecognizer."""
    trackers: dict = {}
    stream = source if kind == "video" else None
    out = []
    for chunk in sorted(chunks, key=lambda c: c["chunk"]):
        start = 0
        for (index, ts, w, h), dets in zip(chunk["frames"], chunk["dets"]):
            p = chunk["probs"][start : start + len(dets)]
            start += len(dets)
            # The recogniser's own tracking and result builder, so rows equal `predict`'s.
            fr = rec.frame_result(Frame(None, source, index, ts, stream, kind=kind), dets, p, trackers)
            fr.frame_size = (int(w), int(h))
            out.append(fr)
    return out


def model_version(path: str | Path) -> str:
    """12 hex digits of the SHA-256 of the model's weights file: which weights made a row, even when two files
    share a name."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def faces_schema(labels: list[str]):
    import pyarrow as pa

    return pa.schema(
        [
            ("source", pa.string()),
            ("frame", pa.int64()),
            ("timestamp", pa.float64()),
            ("face", pa.int32()),
            ("track_id", pa.int64()),
            ("x1", pa.int32()),
            ("y1", pa.int32()),
            ("x2", pa.int32()),
            ("y2", pa.int32()),
            ("landmarks", pa.list_(pa.list_(pa.float32()))),
            ("label", pa.string()),
            ("score", pa.float64()),
            ("detection_score", pa.float64()),
            *[(f"p_{lab}", pa.float64()) for lab in labels],
            ("image_width", pa.int32()),
            ("image_height", pa.int32()),
            ("model", pa.string()),
            ("model_version", pa.string()),
        ]
    )


def faces_table(frames: list[FrameResult], labels: list[str], model: str, version: str):
    """One row per face per frame: ``face_records`` (the columns of ``to_pandas``) plus landmarks, frame size and
    the model's name and version."""
    import pyarrow as pa

    records = face_records(frames)
    extra = [(fr, face) for fr in frames for face in fr.faces]
    for rec, (fr, face) in zip(records, extra):
        rec.update(
            landmarks=face.landmarks,
            image_width=fr.frame_size[0],
            image_height=fr.frame_size[1],
            model=model,
            model_version=version,
        )
    return pa.Table.from_pylist(records, schema=faces_schema(labels))


def summary_table(frames: list[FrameResult], labels: list[str], window_s: float, source: str):
    """Per source and time window (``window_s`` seconds of video; a photo is one window 0): frames, frames with a
    face, faces, and each emotion's share of the faces (fraction whose top label it is; 0 when no face)."""
    import pyarrow as pa

    windows: dict[int, dict] = {}
    for fr in frames:
        w = 0 if fr.timestamp is None else int(fr.timestamp // window_s)
        acc = windows.setdefault(w, {"frames": 0, "frames_with_faces": 0, "counts": dict.fromkeys(labels, 0)})
        acc["frames"] += 1
        acc["frames_with_faces"] += bool(fr.faces)
        for face in fr.faces:
            acc["counts"][face.label] += 1
    rows = []
    for w, acc in sorted(windows.items()):
        n = sum(acc["counts"].values())
        video = frames[0].timestamp is not None
        rows.append(
            {
                "source": source,
                "window": w,
                "t_start": w * window_s if video else None,
                "t_end": (w + 1) * window_s if video else None,
                "frames": acc["frames"],
                "frames_with_faces": acc["frames_with_faces"],
                "faces": n,
                **{f"share_{lab}": (c / n if n else 0.0) for lab, c in acc["counts"].items()},
            }
        )
    schema = pa.schema(
        [
            ("source", pa.string()),
            ("window", pa.int64()),
            ("t_start", pa.float64()),
            ("t_end", pa.float64()),
            ("frames", pa.int64()),
            ("frames_with_faces", pa.int64()),
            ("faces", pa.int64()),
            *[(f"share_{lab}", pa.float64()) for lab in labels],
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def write_partition(out: Path, table_name: str, sid: str, table) -> Path:
    """``<out>/<table_name>/source_id=<sid>/part-0.parquet``, written whole then renamed into place (readers skip
    the dot-named temporary file, and never see half a file)."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    path = out / table_name / f"source_id={sid}" / "part-0.parquet"
    atomic_write_bytes(path, buf.getvalue())
    return path
