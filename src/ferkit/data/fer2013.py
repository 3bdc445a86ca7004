"""Readers for FER2013 (Goodfellow et al. 2013) and FER+ (Barsoum et al. 2016).

- Kaggle folders ``train/<class>/*.jpg``, ``test/<class>/*.jpg``; the file-name prefix (``Training_``,
  ``PublicTest_``, ``PrivateTest_``) keeps the original ``Usage``, exposed as ``usage_train/val/test``.
- The original ``fer2013.csv`` (or ``.csv.gz``): columns ``emotion, pixels, Usage``.
- FER+ ``FER2013{Train,Valid,Test}/label.csv``: 10 annotators' votes per image.
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FERDataset
from ferkit.labels import FER2013_CSV_INDEX, FERPLUS_COLUMNS, canonical_emotion, get_classes

log = logging.getLogger(__name__)

USAGE_PREFIXES: dict[str, str] = {"usage_train": "Training_", "usage_val": "PublicTest_", "usage_test": "PrivateTest_"}
FER2013_FOLDER_SPLITS = ("train", "test", "usage_train", "usage_val", "usage_test")
CSV_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
FERPLUS_DIRS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
LABEL_MODES = ("majority", "soft")


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_fer2013_folders(root: Path, split: str, include_contempt: bool = False) -> FERDataset:
    """``train``/``test`` are the folders; ``usage_*`` gather files by their Usage prefix across both folders."""
    from ferkit.data.folders import add_image_files, folder_label

    if split not in FER2013_FOLDER_SPLITS:
        raise ValueError(f"FER2013 folders have no split {split!r}; choose one of {list(FER2013_FOLDER_SPLITS)}.")
    classes = get_classes(include_contempt)
    folders = ["train", "test"] if split.startswith("usage_") else [split]
    prefix = USAGE_PREFIXES.get(split)
    ids, labels, skipped = [], [], []
    for folder in folders:
        for class_dir in _class_dirs(root / folder):
            label = folder_label(class_dir.name, classes)
            if label is None:
                continue
            files = [f for f in sorted(class_dir.iterdir()) if not prefix or f.name.startswith(prefix)]
            add_image_files(files, label, ids, labels, skipped)
    return FERDataset(
        classes,
        ids,
        np.array(labels, np.int64),
        name=root.name,
        format="fer2013_folders",
        split=split,
        root=str(root),
        skipped=skipped,
    )


def find_fer2013_csv(path: Path) -> Path | None:
    """The FER2013 CSV at ``path`` (a file, or a folder holding ``fer2013.csv[.gz]``), else None."""
    candidates = (
        [path] if path.is_file() else [path / "fer2013.csv", path / "fer2013.csv.gz", path / "fer2013" / "fer2013.csv"]
    )
    for c in candidates:
        if c.is_file() and c.name.lower().endswith((".csv", ".csv.gz")):
            opener = gzip.open if c.name.lower().endswith(".gz") else open
            try:
                with opener(c, "rt", newline="") as fh:
                    header = [h.strip().lower() for h in next(csv.reader(fh), [])]
            except (OSError, UnicodeDecodeError):
                continue
            if {"emotion", "pixels"} <= set(header):
                return c
    return None


def read_fer2013_csv(path: Path, split: str, include_contempt: bool = False) -> FERDataset:
    """Rows of one Usage (``train``/``val``/``test`` = Training/PublicTest/PrivateTest) as 48x48 gray arrays."""
    if split not in CSV_USAGE:
        raise ValueError(
            f"FER2013 CSV has no split {split!r}; choose one of {list(CSV_USAGE)} "
            "(= Usage Training / PublicTest / PrivateTest)."
        )
    csv_path = find_fer2013_csv(path)
    if csv_path is None:
        raise FileNotFoundError(f"No fer2013.csv with 'emotion' and 'pixels' columns at {path}.")
    classes = get_classes(include_contempt)
    opener = gzip.open if csv_path.name.lower().endswith(".gz") else open
    ids, labels, pixels, skipped = [], [], [], []
    with opener(csv_path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        for row_idx, row in enumerate(reader):
            row = {k.strip().lower(): v for k, v in row.items() if k}
            if row.get("usage", "Training").strip() != CSV_USAGE[split]:
                continue
            sid = f"{csv_path}#{row_idx}"
            try:
                px = np.array(row["pixels"].split(), dtype=np.uint8)
                side = int(round(len(px) ** 0.5))
                if side * side != len(px) or side == 0:
                    raise ValueError(f"{len(px)} pixels is not a square image")
                label = classes.index(FER2013_CSV_INDEX[int(row["emotion"])])
            except (ValueError, KeyError) as exc:
                skipped.append((sid, f"bad row: {exc}"))
                continue
            ids.append(sid)
            labels.append(label)
            pixels.append(px.reshape(side, side))
    pix = np.stack(pixels) if pixels and len({p.shape for p in pixels}) == 1 else pixels
    return FERDataset(
        classes,
        ids,
        np.array(labels, np.int64),
        name=csv_path.name.split(".")[0],
        format="fer2013_csv",
        split=split,
        root=str(csv_path),
        pixels=pix,
        skipped=skipped,
    )


def _ferplus_rule(votes: np.ndarray, keep: list[int], include_contempt: bool) -> tuple[int, str]:
    """Majority rule on one row of the 10 vote columns: (column index, "") or (-1, why it is dropped)."""
    top = votes.max()
    if top <= 0:
        return -1, "no_votes"
    winners = np.flatnonzero(votes == top)
    if len(winners) > 1:
        return -1, "tie"
    col = int(winners[0])
    name = FERPLUS_COLUMNS[col]
    if name == "unknown":
        return -1, "unknown"
    if name == "NF":
        return -1, "not_a_face"
    if name == "contempt" and not include_contempt:
        return -1, "contempt"
    assert col in keep
    return col, ""


def read_ferplus(root: Path, split: str, include_contempt: bool = False, label_mode: str = "majority") -> FERDataset:
    """FER+ split. ``majority``: plurality vote, dropping ties, unknown, not-a-face (NF) and, unless
    ``include_contempt``, contempt (counts per reason in ``dropped``). ``soft``: the votes on the kept classes,
    normalised, as ``soft_labels`` (rows with no such vote dropped), ``labels`` = argmax."""
    if split not in FERPLUS_DIRS:
        raise ValueError(f"FER+ has no split {split!r}; choose one of {list(FERPLUS_DIRS)}.")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"Unknown label_mode {label_mode!r}; choose one of {list(LABEL_MODES)}.")
    split_dir = root / FERPLUS_DIRS[split]
    label_file = split_dir / "label.csv"
    if not label_file.is_file():
        raise FileNotFoundError(
            f"FER+ label file {label_file} is missing; each FER2013<Split>/ folder needs the "
            "label.csv written by FERPlus' generate_training_data.py."
        )
    classes = get_classes(include_contempt)
    # Column index in label.csv's vote block -> class index, for the columns that are emotions we keep.
    col_to_class = {}
    for col, name in enumerate(FERPLUS_COLUMNS):
        if name in ("unknown", "NF"):
            continue
        canon = canonical_emotion(name)
        if canon in classes:
            col_to_class[col] = classes.index(canon)
    keep = sorted(col_to_class)
    ids, labels, soft, skipped, dropped = [], [], [], [], {}
    with open(label_file, newline="") as fh:
        for row in csv.reader(fh):
            if not row or not row[0].strip():
                continue
            f = split_dir / row[0].strip()
            try:
                votes = np.array([float(v) for v in row[2 : 2 + len(FERPLUS_COLUMNS)]], dtype=np.float32)
            except ValueError:
                continue  # a header line
            if not f.is_file():
                skipped.append((str(f), "missing file listed in label.csv"))
                continue
            if label_mode == "majority":
                col, why = _ferplus_rule(votes, keep, include_contempt)
                if col < 0:
                    dropped[why] = dropped.get(why, 0) + 1
                    continue
                labels.append(col_to_class[col])
            else:
                dist = np.zeros(len(classes), np.float32)
                for col, cls in col_to_class.items():
                    dist[cls] = votes[col]
                if dist.sum() <= 0:
                    dropped["no_kept_votes"] = dropped.get("no_kept_votes", 0) + 1
                    continue
                soft.append(dist / dist.sum())
                labels.append(int(dist.argmax()))
            ids.append(str(f))
    soft_arr = (
        np.stack(soft).astype(np.float32)
        if soft
        else (np.zeros((0, len(classes)), np.float32) if label_mode == "soft" else None)
    )
    return FERDataset(
        classes,
        ids,
        np.array(labels, np.int64),
        soft_arr,
        name=root.name,
        format="ferplus",
        split=split,
        root=str(root),
        skipped=skipped,
        dropped=dropped,
    )
