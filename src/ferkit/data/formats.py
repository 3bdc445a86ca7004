"""Layout detection and the one entry point, ``load_dataset``, that dispatches to each reader."""

from __future__ import annotations

import itertools
from pathlib import Path

from ferkit.data import fer2013, folders, rafdb
from ferkit.data.dataset import FERDataset, is_image_file

FORMATS: tuple[str, ...] = (
    "fer2013_folders", "fer2013_csv", "ferplus", "rafdb_kaggle", "rafdb_original", "class_folders",
)

# What each layout looks like, for error messages and docs.
LAYOUTS: dict[str, str] = {
    "fer2013_folders": "train/<class>/Training_*.jpg and test/<class>/{PublicTest,PrivateTest}_*.jpg (Kaggle FER2013)",
    "fer2013_csv": "fer2013.csv or fer2013.csv.gz with columns emotion, pixels, Usage",
    "ferplus": "FER2013Train/, FER2013Valid/, FER2013Test/, each with fer*.png and label.csv (FER+)",
    "rafdb_kaggle": "DATASET/{train,test}/{1..7}/*.jpg with DATASET/{train,test}_labels.csv (Kaggle RAF-DB)",
    "rafdb_original": "basic/Image/aligned/*_aligned.jpg with basic/EmoLabel/list_patition_label.txt (RAF-DB release)",
    "class_folders": "<emotion>/*.jpg, optionally under train/, val/ (valid/, validation/), test/ (CK+48, AffectNet-style)",
}

USAGE_PREFIXES = tuple(fer2013.USAGE_PREFIXES.values())


def _layouts_help() -> str:
    return "\n".join(f"  - {name}: {desc}" for name, desc in LAYOUTS.items())


def _looks_like_fer2013_folders(root: Path) -> bool:
    """Class folders whose files carry the FER2013 Usage prefixes (a sample of a few per folder)."""
    for split in ("train", "test"):
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for class_dir in (d for d in split_dir.iterdir() if d.is_dir()):
            names = [f.name for f in itertools.islice(class_dir.iterdir(), 20) if is_image_file(f)]
            if names and all(n.startswith(USAGE_PREFIXES) for n in names):
                return True
    return False


def detect_format(path: str | Path) -> str:
    """Name of the layout at ``path`` (one of ``FORMATS``); ValueError listing the known layouts otherwise."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"Dataset path {str(p)!r} does not exist.")
    if p.is_dir():
        if any((p / d).is_dir() for d in fer2013.FERPLUS_DIRS.values()):
            return "ferplus"
        if rafdb.rafdb_kaggle_root(p) is not None:
            return "rafdb_kaggle"
        if rafdb.rafdb_original_root(p) is not None:
            return "rafdb_original"
    if fer2013.find_fer2013_csv(p) is not None:
        return "fer2013_csv"
    if p.is_dir():
        if _looks_like_fer2013_folders(p):
            return "fer2013_folders"
        try:
            folders.class_folder_splits(p)
            return "class_folders"
        except ValueError as exc:
            # Folders with images but non-emotion names: that message (listing them) is the useful one.
            if "not emotion names" in str(exc):
                raise
    raise ValueError(f"{str(p)!r} is not a dataset layout ferkit understands. Known layouts:\n{_layouts_help()}\n"
                     "Point at the dataset's top folder, or pass format= one of " + ", ".join(FORMATS) + ".")


def _resolve(path: str | Path, format: str) -> tuple[Path, str]:
    p = Path(path).expanduser()
    if format == "auto":
        return p, detect_format(p)
    if format not in FORMATS:
        raise ValueError(f"Unknown dataset format {format!r}; choose 'auto' or one of {list(FORMATS)}.")
    if not p.exists():
        raise FileNotFoundError(f"Dataset path {str(p)!r} does not exist.")
    return p, format


def list_splits(path: str | Path, format: str = "auto") -> list[str]:
    """Split names ``load_dataset`` accepts for the dataset at ``path``."""
    p, fmt = _resolve(path, format)
    if fmt == "fer2013_folders":
        return [s for s in fer2013.FER2013_FOLDER_SPLITS if s.startswith("usage_") or (p / s).is_dir()]
    if fmt == "fer2013_csv":
        return list(fer2013.CSV_USAGE)
    if fmt == "ferplus":
        return [s for s, d in fer2013.FERPLUS_DIRS.items() if (p / d).is_dir()]
    if fmt == "rafdb_kaggle":
        root = rafdb.rafdb_kaggle_root(p) or p
        return [s for s in rafdb.RAFDB_SPLITS if (root / s).is_dir()]
    if fmt == "rafdb_original":
        return list(rafdb.RAFDB_SPLITS)
    return list(folders.class_folder_splits(p))


def load_dataset(
    path: str | Path,
    split: str = "train",
    format: str = "auto",
    include_contempt: bool = False,
    label_mode: str = "majority",
) -> FERDataset:
    """Read one split of the dataset at ``path`` into a ``FERDataset`` (images stay on disk until read).

    ``label_mode`` (``majority`` or ``soft``) applies to FER+ only; other layouts have one label per image.
    A class-folder dataset without a split level has the single split ``all``.
    """
    p, fmt = _resolve(path, format)
    if label_mode not in fer2013.LABEL_MODES:
        raise ValueError(f"Unknown label_mode {label_mode!r}; choose one of {list(fer2013.LABEL_MODES)}.")
    if fmt != "ferplus" and label_mode != "majority":
        raise ValueError(f"label_mode={label_mode!r} needs vote counts; only the FER+ layout has them (got {fmt}).")
    splits = list_splits(p, fmt)
    if split not in splits:
        raise ValueError(f"Split {split!r} not found in {str(p)!r} ({fmt}); available splits: {splits}.")
    if fmt == "fer2013_folders":
        return fer2013.read_fer2013_folders(p, split, include_contempt)
    if fmt == "fer2013_csv":
        return fer2013.read_fer2013_csv(p, split, include_contempt)
    if fmt == "ferplus":
        return fer2013.read_ferplus(p, split, include_contempt, label_mode)
    if fmt == "rafdb_kaggle":
        return rafdb.read_rafdb_kaggle(p, split, include_contempt)
    if fmt == "rafdb_original":
        return rafdb.read_rafdb_original(p, split, include_contempt)
    return folders.read_class_folders(p, split, include_contempt)
