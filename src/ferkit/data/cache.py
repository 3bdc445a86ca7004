"""Decoded-array cache: decode + resize + convert channels once, keep ``.npy`` files (memory-mappable), reuse.

The key hashes the parameters, the source ids, each file's size and mtime, and the labels (and, for the template
crop, its template, landmark threshold and the landmark detector's file), so any change to the files, the label
rule, the size/channels or the crop makes a new entry. Default folder ``~/.cache/ferkit/arrays/``,
overridden by ``$FERKIT_CACHE`` or ``cache_dir=``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FERDataset
from ferkit.data.decode import decode_dataset
from ferkit.faces.crop import LANDMARK_THRESHOLD, TEMPLATE, landmark_model_digest

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: the crop (template or resize) is part of the key


@dataclass
class CachedArrays:
    """Decoded images (uint8 ``N x H x W x C``, possibly a read-only memmap) and their labels."""

    images: np.ndarray
    labels: np.ndarray
    soft_labels: np.ndarray | None
    source_ids: list[str]
    classes: tuple[str, ...]
    skipped: list[tuple[str, str]]
    path: Path | None = None  # the .npy file, when cached on disk

    def __len__(self) -> int:
        return len(self.labels)


def default_cache_dir() -> Path:
    return Path(os.environ.get("FERKIT_CACHE") or Path.home() / ".cache" / "ferkit" / "arrays")


def _file_stats(ds: FERDataset) -> list:
    # CSV rows share one file: its stat stands for all of them.
    paths = [ds.root] if ds.in_memory else ds.source_ids
    stats = []
    for p in paths:
        try:
            st = os.stat(p)
            stats.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append(None)
    return stats


def cache_key(ds: FERDataset, image_size: int, channels: int, crop: str = "template") -> str:
    """Hex digest naming the cache entry of ``ds`` at ``image_size``, ``channels`` and ``crop``."""
    h = hashlib.sha1()
    extra = (
        [crop, list(map(list, TEMPLATE)), LANDMARK_THRESHOLD, landmark_model_digest()] if crop == "template" else [crop]
    )
    h.update(
        json.dumps(
            [
                CACHE_VERSION,
                image_size,
                channels,
                *extra,
                ds.format,
                ds.split,
                list(ds.classes),
                ds.source_ids,
                _file_stats(ds),
            ]
        ).encode()
    )
    h.update(ds.labels.tobytes())
    if ds.soft_labels is not None:
        h.update(ds.soft_labels.tobytes())
    return h.hexdigest()[:20]


def load_cached_arrays(
    dataset: FERDataset,
    image_size: int,
    channels: int,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    mmap: bool = True,
    crop: str = "template",
) -> CachedArrays:
    """Images of ``dataset`` at ``image_size`` square and ``channels`` (1 or 3), from the cache when its key
    matches, else decoded with a process pool and saved. Unreadable images are left out and listed in
    ``skipped`` (the dataset's ``skipped`` too)."""
    if channels not in (1, 3) or int(image_size) < 1:
        raise ValueError(
            f"Need image_size >= 1 and channels 1 or 3, got image_size={image_size!r}, channels={channels!r}."
        )
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(dataset, image_size, channels, crop)
    stem = folder / f"{dataset.name}-{dataset.split}-{image_size}px-{channels}ch-{crop}-{key}"
    meta_path, img_path, soft_path = (stem.with_suffix(".json"), Path(f"{stem}.images.npy"), Path(f"{stem}.soft.npy"))
    if meta_path.is_file() and img_path.is_file():
        meta = json.loads(meta_path.read_text())
        log.info("using cached arrays %s", img_path)
        images = np.load(img_path, mmap_mode="r" if mmap else None)
        soft = np.load(soft_path) if meta["has_soft"] else None
        skipped = [tuple(s) for s in meta["skipped"]]
        for sid, why in skipped:
            dataset.add_skipped(sid, why)
        return CachedArrays(
            images,
            np.array(meta["labels"], np.int64),
            soft,
            meta["source_ids"],
            tuple(meta["classes"]),
            skipped,
            img_path,
        )

    log.info(
        "decoding %d images of %s/%s to %dpx x %dch (cached in %s)",
        len(dataset),
        dataset.name,
        dataset.split,
        image_size,
        channels,
        folder,
    )
    images, kept = decode_dataset(dataset, image_size, channels, workers, crop)
    labels = dataset.labels[kept]
    soft = None if dataset.soft_labels is None else dataset.soft_labels[kept]
    ids = [dataset.source_ids[i] for i in kept]
    dropped = set(dataset.source_ids) - set(ids)
    skipped = [s for s in dataset.skipped if s[0] in dropped]
    folder.mkdir(parents=True, exist_ok=True)
    # Write to temporary names then rename, so a killed run never leaves a half-written entry behind.
    tmp = Path(f"{img_path}.tmp.npy")
    np.save(tmp, images)
    os.replace(tmp, img_path)
    if soft is not None:
        np.save(soft_path, soft)
    meta = {
        "version": CACHE_VERSION,
        "image_size": image_size,
        "channels": channels,
        "crop": crop,
        "name": dataset.name,
        "split": dataset.split,
        "format": dataset.format,
        "classes": list(dataset.classes),
        "labels": labels.tolist(),
        "has_soft": soft is not None,
        "source_ids": ids,
        "skipped": [list(s) for s in skipped],
    }
    meta_tmp = meta_path.with_suffix(".json.tmp")
    meta_tmp.write_text(json.dumps(meta))
    os.replace(meta_tmp, meta_path)
    if mmap:
        images = np.load(img_path, mmap_mode="r")
    return CachedArrays(images, labels, soft, ids, dataset.classes, skipped, img_path)


def arrays_in_memory(
    dataset: FERDataset, image_size: int, channels: int, workers: int | None = None, crop: str = "template"
) -> CachedArrays:
    """Same as ``load_cached_arrays`` but nothing is written to disk (tests, one-off runs)."""
    images, kept = decode_dataset(dataset, image_size, channels, workers, crop)
    ids = [dataset.source_ids[i] for i in kept]
    dropped = set(dataset.source_ids) - set(ids)
    return CachedArrays(
        images,
        dataset.labels[kept],
        None if dataset.soft_labels is None else dataset.soft_labels[kept],
        ids,
        dataset.classes,
        [s for s in dataset.skipped if s[0] in dropped],
    )


def decode_arrays(
    ds: FERDataset,
    image_size: int,
    channels: int,
    cache: bool = True,
    cache_dir=None,
    crop: str = "template",
    workers: int | None = None,
) -> CachedArrays:
    """``ds`` decoded at ``image_size``/``channels`` with ``crop`` (``workers`` decoder processes): through the
    on-disk cache, or in memory when ``cache`` is off."""
    if cache:
        return load_cached_arrays(ds, image_size, channels, cache_dir=cache_dir, workers=workers, crop=crop)
    return arrays_in_memory(ds, image_size, channels, workers=workers, crop=crop)


def concat_arrays(parts: list[CachedArrays]) -> CachedArrays:
    """Concatenate decoded arrays of one size/channels and the same classes into one in-memory ``CachedArrays``.

    When any part has soft labels, the others' hard labels become one-hot rows so every target is a
    probability vector (and ``labels`` keeps each row's hard label, -1 where only a soft one exists).
    """
    if len(parts) == 1:
        return parts[0]
    classes = tuple(parts[0].classes)
    for p in parts[1:]:
        if tuple(p.classes) != classes:
            raise ValueError(
                f"Training sources have different classes: {classes} vs {tuple(p.classes)}; "
                "set the same data.include_contempt for all, or drop the source."
            )
        if p.images.shape[1:] != parts[0].images.shape[1:]:
            raise ValueError(
                f"Training sources decoded at different shapes {parts[0].images.shape[1:]} vs "
                f"{p.images.shape[1:]}; this is a bug (all are read at data.image_size/channels)."
            )
    soft = None
    if any(p.soft_labels is not None for p in parts):
        eye = np.eye(len(classes), dtype=np.float32)
        soft = np.concatenate([p.soft_labels if p.soft_labels is not None else eye[p.labels] for p in parts])
    return CachedArrays(
        images=np.concatenate([np.asarray(p.images) for p in parts]),  # N x H x W x C uint8, in memory
        labels=np.concatenate([p.labels for p in parts]),
        soft_labels=soft,
        source_ids=[s for p in parts for s in p.source_ids],
        classes=classes,
        skipped=[s for p in parts for s in p.skipped],
    )
