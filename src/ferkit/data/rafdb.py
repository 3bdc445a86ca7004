"""Readers for RAF-DB basic emotions (Li et al. 2017), ids ``1..7`` via ``ferkit.labels.RAFDB_INDEX``.

- Kaggle layout: ``DATASET/{train,test}/{1..7}/*.jpg`` with ``DATASET/{train,test}_labels.csv`` (``image,label``).
- Original release: ``basic/Image/aligned/*_aligned.jpg`` with ``basic/EmoLabel/list_patition_label.txt``
  (``train_00001.jpg 5``); the file-name prefix gives the split.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FERDataset, is_image_file
from ferkit.labels import RAFDB_INDEX, get_classes

log = logging.getLogger(__name__)

RAFDB_SPLITS = ("train", "test")
RAFDB_LABEL_FILE = "EmoLabel/list_patition_label.txt"


def rafdb_kaggle_root(path: Path) -> Path | None:
    """The ``DATASET`` folder of a Kaggle RAF-DB copy (``path`` is it or holds it), else None."""
    for cand in (path / "DATASET", path):
        train = cand / "train"
        if train.is_dir() and {"1", "2", "3", "4", "5", "6", "7"} <= {p.name for p in train.iterdir() if p.is_dir()}:
            return cand
    return None


def rafdb_original_root(path: Path) -> Path | None:
    """The ``basic`` folder of an original RAF-DB release (``path`` is it or holds it), else None."""
    for cand in (path / "basic", path):
        if (cand / "EmoLabel").is_dir() or (cand / "Image" / "aligned").is_dir():
            return cand
    return None


def _check_split(split: str) -> None:
    if split not in RAFDB_SPLITS:
        raise ValueError(
            f"RAF-DB has no split {split!r}; choose one of {list(RAFDB_SPLITS)} "
            "(use ferkit.data.split_dataset or `ferkit data split` to carve a val split)."
        )


def _label(rafdb_id: str, classes: tuple[str, ...], where: str) -> int:
    try:
        return classes.index(RAFDB_INDEX[int(rafdb_id)])
    except (KeyError, ValueError) as exc:
        raise ValueError(
            f"Bad RAF-DB label {rafdb_id!r} in {where}; labels are 1..7 "
            f"({', '.join(f'{k} {v}' for k, v in RAFDB_INDEX.items())})."
        ) from exc


def _finish(ids, labels, skipped, classes, root: Path, fmt: str, split: str) -> FERDataset:
    return FERDataset(
        classes, ids, np.array(labels, np.int64), name="rafdb", format=fmt, split=split, root=str(root), skipped=skipped
    )


def read_rafdb_kaggle(path: Path, split: str, include_contempt: bool = False) -> FERDataset:
    """Labels come from ``<split>_labels.csv``; images are looked up in ``<split>/<id>/``."""
    _check_split(split)
    root = rafdb_kaggle_root(path) or path
    label_file = root / f"{split}_labels.csv"
    if not label_file.is_file():
        raise FileNotFoundError(
            f"RAF-DB label file {label_file} is missing; the Kaggle layout has "
            f"DATASET/{split}_labels.csv with columns image,label (1..7)."
        )
    classes = get_classes(include_contempt)
    # Where each file actually is (its folder is its label too); the CSV is the authority.
    on_disk = {f.name: f for d in (root / split).iterdir() if d.is_dir() for f in d.iterdir() if is_image_file(f)}
    ids, labels, skipped = [], [], []
    with open(label_file, newline="") as fh:
        for row in csv.DictReader(fh):
            name, lab = row.get("image", "").strip(), row.get("label", "").strip()
            f = on_disk.get(name)
            if f is None:
                skipped.append((str(root / split / lab / name), "listed in labels csv but not found"))
                continue
            if f.parent.name != lab:
                log.warning(
                    "%s is in folder %s but labelled %s in %s; using the csv", f, f.parent.name, lab, label_file.name
                )
            if f.stat().st_size == 0:
                skipped.append((str(f), "empty file"))
                continue
            ids.append(str(f))
            labels.append(_label(lab, classes, str(label_file)))
    return _finish(ids, labels, skipped, classes, root, "rafdb_kaggle", split)


def read_rafdb_original(path: Path, split: str, include_contempt: bool = False) -> FERDataset:
    """Aligned images (``Image/aligned/<stem>_aligned.jpg``; ``Image/original/<name>`` when no aligned folder)."""
    _check_split(split)
    root = rafdb_original_root(path) or path
    label_file = root / RAFDB_LABEL_FILE
    if not label_file.is_file():
        raise FileNotFoundError(
            f"RAF-DB label file {label_file} is missing; the original release has "
            f"basic/{RAFDB_LABEL_FILE} with lines like 'train_00001.jpg 5'."
        )
    classes = get_classes(include_contempt)
    aligned = (root / "Image" / "aligned").is_dir()
    ids, labels, skipped = [], [], []
    for line in label_file.read_text().splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith(f"{split}_"):
            continue
        name, lab = parts
        stem, ext = name.rsplit(".", 1)
        f = root / "Image" / "aligned" / f"{stem}_aligned.{ext}" if aligned else root / "Image" / "original" / name
        if not f.is_file() or f.stat().st_size == 0:
            skipped.append((str(f), "listed in label file but missing or empty"))
            continue
        ids.append(str(f))
        labels.append(_label(lab, classes, str(label_file)))
    return _finish(ids, labels, skipped, classes, root, "rafdb_original", split)
