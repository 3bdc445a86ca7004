"""From a ``DataConfig`` to train/val/test splits, decoded arrays and loaders."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ferkit.config import DataConfig
from ferkit.data import FERDataset, load_dataset, split_dataset

log = logging.getLogger(__name__)


@dataclass
class SplitArrays:
    """The decoded arrays of each split (``val``/``test`` may be None) and what they were read with."""

    train: object
    val: object | None
    test: object | None
    classes: tuple[str, ...]
    image_size: int
    channels: int


def _first_per_class(ds: FERDataset, n: int) -> FERDataset:
    """The first ``n`` images of each class (by position), so quick runs always see every class."""
    labels = ds.labels if ds.soft_labels is None else np.where(ds.labels >= 0, ds.labels, ds.soft_labels.argmax(1))
    keep = np.concatenate([np.flatnonzero(labels == c)[:n] for c in range(len(ds.classes))])
    return ds.subset(np.sort(keep))


def load_splits(cfg: DataConfig, seed: int = 0) -> dict[str, FERDataset | None]:
    """Read ``train``, ``val`` and ``test`` as the config says.

    Val comes from ``val_split``, else from ``val_from`` (a stratified split of another split, whose parts named
    ``val``/``test``/``train`` replace those splits), else from ``val_fraction`` of train, else there is none.
    """
    def read(split: str) -> FERDataset:
        return load_dataset(cfg.path, split, cfg.format, include_contempt=cfg.include_contempt,
                            label_mode=cfg.label_mode)

    out: dict[str, FERDataset | None] = {"train": read(cfg.train_split), "val": None, "test": None}
    if cfg.val_split:
        out["val"] = read(cfg.val_split)
    if cfg.test_split:
        out["test"] = read(cfg.test_split)
    if cfg.val_from is not None:
        vf = cfg.val_from
        bad = [p for p in vf.fractions if p not in out]
        if bad:
            raise ValueError(f"data.val_from.fractions names parts {bad}; parts must be among train, val, test.")
        src = out["train"] if vf.split == cfg.train_split else read(vf.split)
        for name, part in split_dataset(src, dict(vf.fractions), vf.seed).items():
            out[name] = part
    elif out["val"] is None and cfg.val_fraction > 0:
        parts = split_dataset(out["train"], {"train": 1 - cfg.val_fraction, "val": cfg.val_fraction}, seed)
        out["train"], out["val"] = parts["train"], parts["val"]
    if cfg.max_per_class:
        out = {k: None if d is None else _first_per_class(d, cfg.max_per_class) for k, d in out.items()}
    for name, ds in out.items():
        if ds is not None:
            log.info("%s: %d images %s", name, len(ds), ds.class_counts())
    return out


def load_extra_train(cfg: DataConfig) -> list[FERDataset]:
    """The ``data.extra_train`` sources, each read with its own split/format/label_mode (and ``max_per_class``)."""
    out = []
    for src in cfg.extra_train:
        ds = load_dataset(src.path, src.split, src.format, include_contempt=cfg.include_contempt,
                          label_mode=src.label_mode)
        if cfg.max_per_class:
            ds = _first_per_class(ds, cfg.max_per_class)
        log.info("extra train %s/%s: %d images %s", ds.name, src.split, len(ds), ds.class_counts())
        out.append(ds)
    return out


def concat_arrays(parts: list) -> object:
    """Concatenate decoded arrays of one size/channels and the same classes into one in-memory ``CachedArrays``.

    When any part has soft labels, the others' hard labels become one-hot rows so every target is a
    probability vector (and ``labels`` keeps each row's hard label, -1 where only a soft one exists).
    """
    from ferkit.data.cache import CachedArrays

    if len(parts) == 1:
        return parts[0]
    classes = tuple(parts[0].classes)
    for p in parts[1:]:
        if tuple(p.classes) != classes:
            raise ValueError(f"Training sources have different classes: {classes} vs {tuple(p.classes)}; "
                             "set the same data.include_contempt for all, or drop the source.")
        if p.images.shape[1:] != parts[0].images.shape[1:]:
            raise ValueError(f"Training sources decoded at different shapes {parts[0].images.shape[1:]} vs "
                             f"{p.images.shape[1:]}; this is a bug (all are read at data.image_size/channels).")
    soft = None
    if any(p.soft_labels is not None for p in parts):
        eye = np.eye(len(classes), dtype=np.float32)
        soft = np.concatenate([p.soft_labels if p.soft_labels is not None else eye[p.labels] for p in parts])
    return CachedArrays(
        images=np.concatenate([np.asarray(p.images) for p in parts]),  # N x H x W x C uint8, in memory
        labels=np.concatenate([p.labels for p in parts]), soft_labels=soft,
        source_ids=[s for p in parts for s in p.source_ids], classes=classes,
        skipped=[s for p in parts for s in p.skipped])


def decode_arrays(ds: FERDataset, image_size: int, channels: int, cache: bool = True, cache_dir=None,
                  crop: str = "template"):
    """``ds`` decoded at ``image_size``/``channels`` with ``crop``: through the on-disk cache, or in memory when
    ``cache`` is off."""
    from ferkit.data.cache import arrays_in_memory, load_cached_arrays

    if cache:
        return load_cached_arrays(ds, image_size, channels, cache_dir=cache_dir, crop=crop)
    return arrays_in_memory(ds, image_size, channels, crop=crop)


def decode_splits(cfg: DataConfig, splits: dict, image_size: int, channels: int,
                  extra: list[FERDataset] | None = None) -> SplitArrays:
    """Decode every split once at ``image_size``/``channels`` (cached on disk when ``cfg.cache``); ``extra``
    sources are decoded alike and appended to train (``concat_arrays``)."""
    def arrays(ds):
        return None if ds is None else decode_arrays(ds, image_size, channels, cfg.cache, cfg.cache_dir, cfg.crop)

    train = arrays(splits["train"])
    if extra:
        train = concat_arrays([train] + [arrays(ds) for ds in extra])
    return SplitArrays(train, arrays(splits["val"]), arrays(splits["test"]), tuple(train.classes), image_size,
                       channels)


def build_eval_loader(arrays, transform, batch_size: int, workers: int = 0):
    """A plain in-order loader over decoded arrays (no sampler, keeps the last partial batch)."""
    from ferkit.data.loaders import ArrayDataset, build_loader

    return build_loader(ArrayDataset(arrays, transform), batch_size, train=False, num_workers=workers)
