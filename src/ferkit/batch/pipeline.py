"""``run_batch``: emotions for a whole archive of photos and videos on Ray Data, from one laptop to a cluster.

Stages (docs/batch.md): the driver lists the sources, skips those ``--out`` already holds, and cuts videos into frame
ranges -> ``detect_item`` tasks decode, detect and crop (CPU, as many as there are cores) -> ``Classify`` actors
batch the crops through the classifier (one per GPU, torch; or one CPU actor, ONNX Runtime) -> the driver joins each
source's chunks in frame order, tracks and smooths them as ``predict`` does, and writes its Parquet partitions and
then its manifest, both atomically. A killed run loses only the sources without a manifest.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.batch.stages import Classify, detect_item
from ferkit.batch.tables import assemble_frames, faces_table, model_version, summary_table, write_partition
from ferkit.batch.work import (
    Source,
    describe_source,
    expand_inputs,
    fingerprint,
    is_done,
    split_work,
    write_manifest,
)

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What one run did: sources listed, skipped (already complete), completed and failed (path -> reason); frames and
    faces written; wall seconds; the run id written into each manifest."""

    run_id: str
    sources: int = 0
    skipped: int = 0
    completed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0


def init_ray(address: str | None, num_workers: int | None):
    """Join the cluster at ``address`` ("auto" = the one `ray start` set up on this machine), or start a local Ray
    with ``num_workers`` CPUs (default: this machine's cores). No dashboard; worker logs stay in Ray's log folder."""
    import ray
    import ray.data

    if not log.isEnabledFor(logging.DEBUG):
        # Ray Data's plan and timing notes stay in its log file (under /tmp/ray); on the console only with `ferkit -v`.
        for handler in logging.getLogger("ray.data").handlers:
            if type(handler).__name__ == "PlainRayHandler":
                handler.setLevel(logging.ERROR)
    if ray.is_initialized():
        return ray
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_workers or os.cpu_count() or 1, **kwargs)
    return ray


def run_batch(
    inputs: list[str],
    out: str | os.PathLike,
    *,
    model=None,
    detector: str = "auto",
    det_threshold: float | None = None,
    min_face: int | None = None,
    det_size: int | None = None,
    backend: str = "auto",
    smoothing="auto",
    batch_size: int = 64,
    every_nth_frame: int = 1,
    chunk_frames: int | None = 300,
    summary_seconds: float = 1.0,
    address: str | None = None,
    num_workers: int | None = None,
    progress: bool = True,
) -> BatchReport:
    """Process every image and video of ``inputs`` (files, folders, globs, list files) into Parquet under ``out``.

    Sources already complete in ``out`` with the same settings are skipped; a source that cannot be read is recorded
    as failed in its manifest and the job goes on. ``every_nth_frame`` keeps video frames whose index is a multiple
    of it (1 = all, the rows of ``ferkit predict``); ``chunk_frames`` cuts longer videos into ranges that run on
    different workers (None: one task per video). ``address``: a Ray cluster to join; None starts a local one.
    """
    from tqdm import tqdm

    from ferkit import __version__
    from ferkit.inference import EmotionRecognizer
    from ferkit.inference.tracking import resolve_smoothing
    from ferkit.paths import check_writable

    if every_nth_frame < 1 or batch_size < 1 or (chunk_frames is not None and chunk_frames < 1):
        raise ValueError(
            f"every_nth_frame, batch_size and chunk_frames must be >= 1, got {every_nth_frame}, {batch_size} and "
            f"{chunk_frames}."
        )
    if summary_seconds <= 0:
        raise ValueError(f"summary_seconds must be > 0, got {summary_seconds}.")
    resolve_smoothing(smoothing)  # a bad value fails here, before Ray starts
    t0 = time.perf_counter()
    out = check_writable(out, folder=True)
    sources = [describe_source(p) for p in expand_inputs(list(inputs))]
    # The driver's recogniser checks the model before any worker starts and builds the final results.
    rec = EmotionRecognizer(
        model, detector, backend, smoothing=smoothing, batch_size=batch_size, det_threshold=det_threshold,
        min_face=min_face, det_size=det_size,
    )  # fmt: skip
    model_path = str(Path(rec.model_info["path"]).resolve())
    settings = {
        "model": None if model is None else model_path,
        "detector": detector,
        "det_threshold": det_threshold,
        "min_face": min_face,
        "det_size": det_size,
        "backend": backend,
        "smoothing": smoothing,
        "batch_size": batch_size,
        "every_nth_frame": every_nth_frame,
    }
    version = model_version(model_path)
    fp = fingerprint({**settings, "model_version": version, "summary_seconds": summary_seconds})
    report = BatchReport(run_id=uuid.uuid4().hex[:12], sources=len(sources))
    todo = [s for s in sources if not is_done(out, s, fp)]
    report.skipped = len(sources) - len(todo)
    if report.skipped:
        log.info("%d of %d source(s) already complete in %s: skipped", report.skipped, len(sources), out)
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report

    ray = init_ray(address, num_workers)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver's own bar below counts sources, frames and faces
    gpus = int(ray.cluster_resources().get("GPU", 0))
    settings_json = json.dumps(settings)
    classify_json = json.dumps({**settings, "device": "cuda"}) if gpus else settings_json
    items = [
        {"path": w.path, "source_id": w.source_id, "kind": w.kind, "chunk": w.chunk, "n_chunks": w.n_chunks,
         "start": w.start, "stop": -1 if w.stop is None else w.stop}
        for s in todo for w in split_work(s, chunk_frames)
    ]  # fmt: skip
    ds = ray.data.from_items(items, override_num_blocks=len(items))  # one block per item: items spread over workers
    ds = ds.map(_detect_row, fn_kwargs={"settings_json": settings_json}, num_cpus=1)
    # The classifier is light next to detection: on CPU its one actor takes no core of its own, so detection gets all
    # of them; on GPU nodes one actor per GPU.
    ds = ds.map(
        Classify,
        fn_constructor_kwargs={"settings_json": classify_json},
        compute=ray.data.ActorPoolStrategy(size=max(gpus, 1)),
        num_gpus=1 if gpus else 0,
        num_cpus=1 if gpus else 0,
    )

    by_id = {s.source_id: s for s in todo}
    pending: dict[str, list[dict]] = {}
    total = sum(((s.frames or 1) + every_nth_frame - 1) // every_nth_frame for s in todo)
    bar = tqdm(total=total, unit="frame", desc="batch", disable=not progress, dynamic_ncols=True)
    try:
        for row in ds.iter_rows():
            chunk = {**pickle.loads(row["payload"]), "chunk": int(row["chunk"])}
            sid = row["source_id"]
            pending.setdefault(sid, []).append(chunk)
            bar.update(len(chunk["frames"]))
            if len(pending[sid]) < int(row["n_chunks"]):
                continue
            source = by_id[sid]
            got = sum(len(c["frames"]) for c in pending[sid])
            bar.total += got - ((source.frames or 1) + every_nth_frame - 1) // every_nth_frame  # declared != read
            n_frames, n_faces = _finish_source(rec, out, source, pending.pop(sid), fp, version, summary_seconds,
                                               report, __version__, every_nth_frame)  # fmt: skip
            report.frames += n_frames
            report.faces += n_faces
            elapsed = max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix_str(
                f"sources {report.completed + len(report.failed)}/{len(todo)}, {report.faces} faces "
                f"({report.faces / elapsed:.1f}/s)"
            )
    finally:
        bar.close()
    report.seconds = time.perf_counter() - t0
    return report


def _detect_row(row: dict, settings_json: str) -> dict:
    item = {**row, "stop": None if int(row["stop"]) < 0 else int(row["stop"]), "start": int(row["start"])}
    return {**detect_item(item, settings_json), "stop": row["stop"]}


def _finish_source(rec, out: Path, source: Source, chunks: list[dict], fp: str, version: str, window_s: float,
                   report: BatchReport, ferkit_version: str, step: int) -> tuple[int, int]:  # fmt: skip
    """Write one source's tables and then its manifest; a source whose chunks carry an error is recorded as failed
    (with no table). Returns (frames, faces) written."""
    errors = [c["error"] for c in sorted(chunks, key=lambda c: c["chunk"]) if c["error"]]
    common = {"ferkit_version": ferkit_version, "model": rec.model_info["name"], "model_version": version}
    if errors:
        write_manifest(out, source, fp, report.run_id, status="failed", reason=errors[0], **common)
        report.failed[source.path] = errors[0]
        log.warning("failed: %s: %s", source.path, errors[0])
        return 0, 0
    frames = assemble_frames(rec, source.path, source.kind, chunks)
    labels = list(rec.labels)
    faces = faces_table(frames, labels, rec.model_info["name"], version)
    write_partition(out, "faces", source.source_id, faces)
    write_partition(out, "summary", source.source_id, summary_table(frames, labels, window_s, source.path))
    warnings = []
    if source.kind == "video" and source.frames and frames and frames[-1].frame_index + step < source.frames:
        # OpenCV stops at the first undecodable packet: rows end early, say so rather than pass it off as whole.
        warnings.append(
            f"decoded frames up to {frames[-1].frame_index + 1} of the {source.frames} the container declares "
            "(truncated or damaged file)"
        )
    write_manifest(
        out, source, fp, report.run_id, status="complete", frames=len(frames), faces=faces.num_rows,
        warnings=warnings, **common,
    )  # fmt: skip
    report.completed += 1
    return len(frames), faces.num_rows
