"""Generic class folders: emotion-named subfolders (any spelling in ``ferkit.labels.SYNONYMS``), optionally under
a ``train``/``val``/``test`` level. Covers CK+48 and AffectNet-style Kaggle copies."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FERDataset, is_image_file
from ferkit.labels import CONTEMPT, canonical_emotion, get_classes, is_emotion

log = logging.getLogger(__name__)

# Split-folder spellings -> ferkit split name.
SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


def folder_label(name: str, classes: tuple[str, ...]) -> int | None:
    """Class index of an emotion folder name, or None for contempt when it is not among ``classes``."""
    canon = canonical_emotion(name)
    if canon not in classes:
        if canon == CONTEMPT:
            log.info("skipping folder %r: contempt is not among the classes (pass include_contempt=True)", name)
            return None
        raise ValueError(f"Class {canon!r} is not among {list(classes)}.")
    return classes.index(canon)


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _has_images(path: Path) -> bool:
    return any(is_image_file(f) for f in path.iterdir())


def class_folder_splits(root: Path) -> dict[str, Path]:
    """Map split name -> folder holding the emotion folders; ValueError listing non-emotion folder names.

    ``{"all": root}`` when the emotion folders sit directly under ``root``.
    """
    dirs = _subdirs(root)
    if not dirs:
        raise ValueError(f"{root} has no subfolders; class folders look like <root>/<emotion>/*.jpg.")
    split_dirs = [d for d in dirs if d.name.lower() in SPLIT_NAMES]
    if split_dirs:
        splits = {SPLIT_NAMES[d.name.lower()]: d for d in split_dirs}
        for d in split_dirs:
            _check_emotion_dirs(d)
        return splits
    _check_emotion_dirs(root)
    return {"all": root}


def _check_emotion_dirs(path: Path) -> None:
    dirs = [d for d in _subdirs(path) if _has_images(d)]
    bad = [d.name for d in dirs if not is_emotion(d.name)]
    if not dirs:
        raise ValueError(f"{path} has no subfolders with images; class folders look like {path}/<emotion>/*.jpg.")
    if bad:
        raise ValueError(
            f"Folders {bad} under {path} are not emotion names. Class folders must be named after emotions "
            f"(case-insensitive): {', '.join(get_classes(True))} or a synonym "
            "(anger, happiness, sadness, surprised, fearful, disgusted, ...); "
            "split folders may be train, val/valid/validation, test. Rename them or pass format=."
        )


def add_image_files(files, label: int, ids: list, labels: list, skipped: list) -> None:
    """Append each image file in ``files`` with ``label``; empty files go to ``skipped`` (they cannot decode)."""
    for f in files:
        if not is_image_file(f):
            continue
        if f.stat().st_size == 0:
            skipped.append((str(f), "empty file"))
            continue
        ids.append(str(f))
        labels.append(label)


def read_class_folders(root: Path, split: str, include_contempt: bool = False) -> FERDataset:
    """Every image in ``<split dir>/<emotion>/`` (``split="all"`` when there is no split level)."""
    splits = class_folder_splits(root)
    if split not in splits:
        raise ValueError(f"{root} has no split {split!r}; it has {list(splits)}.")
    classes = get_classes(include_contempt)
    ids, labels, skipped = [], [], []
    for class_dir in _subdirs(splits[split]):
        if not is_emotion(class_dir.name):
            continue
        label = folder_label(class_dir.name, classes)
        if label is None:
            continue
        add_image_files(sorted(class_dir.rglob("*")), label, ids, labels, skipped)
    return FERDataset(
        classes,
        ids,
        np.array(labels, np.int64),
        name=root.name,
        format="class_folders",
        split=split,
        root=str(root),
        skipped=skipped,
    )
