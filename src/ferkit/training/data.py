"""From a ``DataConfig`` to train/val/test splits, decoded arrays and loaders."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ferkit.config import DataConfig
from ferkit.data import FERDataset, load_dataset, load_split_file, split_dataset
from ferkit.data.cache import CachedArrays, concat_arrays, decode_arrays
from ferkit.data.loaders import build_eval_loader
from ferkit.data.split import first_per_class

# Re-exported for callers that import them from here (they are pure data helpers that live in ferkit.data).
__all__ = [
    "SplitArrays",
    "build_eval_loader",
    "concat_arrays",
    "decode_arrays",
    "decode_splits",
    "load_extra_train",
    "load_splits",
]

log = logging.getLogger(__name__)


@dataclass
class SplitArrays:
    """The decoded arrays of each split (``val``/``test`` may be None) and what they were read with."""

    train: CachedArrays
    val: CachedArrays | None
    test: CachedArrays | None
    classes: tuple[str, ...]
    image_size: int
    channels: int


def load_splits(cfg: DataConfig, seed: int = 0) -> dict[str, FERDataset | None]:
    """Read ``train``, ``val`` and ``test`` as the config says.

    Val comes from ``val_split``, else from ``val_from`` (a stratified split of another split, whose parts named
    ``val``/``test``/``train`` replace those splits), else from ``val_fraction`` of train, else there is none.
    ``split_file`` (from ``ferkit data split``): its parts named ``train``/``val``/``test`` replace those splits.
    """

    def read(split: str) -> FERDataset:
        return load_dataset(
            cfg.path, split, cfg.format, include_contempt=cfg.include_contempt, label_mode=cfg.label_mode
        )

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
    elif cfg.split_file:
        parts = load_split_file(
            cfg.split_file, cfg.path, cfg.format, include_contempt=cfg.include_contempt, label_mode=cfg.label_mode
        )
        bad = [p for p in parts if p not in out]
        if bad:
            raise ValueError(f"Split file {cfg.split_file} has parts {bad}; parts must be among train, val, test.")
        out.update(parts)
    if cfg.val_from is None and out["val"] is None and cfg.val_fraction > 0:
        parts = split_dataset(out["train"], {"train": 1 - cfg.val_fraction, "val": cfg.val_fraction}, seed)
        out["train"], out["val"] = parts["train"], parts["val"]
    if cfg.max_per_class:  # train only: val and test stay whole, so a quick run still reports on the real test set
        out["train"] = first_per_class(out["train"], cfg.max_per_class)
    for name, ds in out.items():
        if ds is not None:
            log.info("%s: %d images %s", name, len(ds), ds.class_counts())
    return out


def load_extra_train(cfg: DataConfig) -> list[FERDataset]:
    """The ``data.extra_train`` sources, each read with its own split/format/label_mode (and ``max_per_class``)."""
    out = []
    for src in cfg.extra_train:
        ds = load_dataset(
            src.path, src.split, src.format, include_contempt=cfg.include_contempt, label_mode=src.label_mode
        )
        if cfg.max_per_class:
            ds = first_per_class(ds, cfg.max_per_class)
        log.info("extra train %s/%s: %d images %s", ds.name, src.split, len(ds), ds.class_counts())
        out.append(ds)
    return out


def decode_splits(
    cfg: DataConfig, splits: dict, image_size: int, channels: int, extra: list[FERDataset] | None = None
) -> SplitArrays:
    """Decode every split once at ``image_size``/``channels`` (cached on disk when ``cfg.cache``); ``extra``
    sources are decoded alike and appended to train (``concat_arrays``)."""

    def arrays(ds):
        return None if ds is None else decode_arrays(ds, image_size, channels, cfg.cache, cfg.cache_dir, cfg.crop)

    train = arrays(splits["train"])
    if extra:
        train = concat_arrays([train] + [arrays(ds) for ds in extra])
    return SplitArrays(train, arrays(splits["val"]), arrays(splits["test"]), tuple(train.classes), image_size, channels)
