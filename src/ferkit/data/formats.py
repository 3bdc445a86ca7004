"""The dataset layouts as one table (``LAYOUTS``: name -> detector, split lister, reader) and the one entry point,
``load_dataset``, that reads any of them. CLI choices, error messages and docs all read this table."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ferkit.data import fer2013, folders, rafdb
from ferkit.data.dataset import FERDataset, is_image_file


@dataclass(frozen=True)
class Layout:
    """One dataset layout. ``detect(path)`` says whether ``path`` holds it (it may raise a ValueError that names the
    fix); ``list_splits(path)`` names its splits; ``read(path, split, include_contempt, label_mode)`` reads one.
    ``partition`` names the splits that partition the images (others re-slice the same files)."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    list_splits: Callable[[Path], list[str]]
    read: Callable[[Path, str, bool, str], FERDataset]
    label_modes: tuple[str, ...] = ("majority",)
    partition: Callable[[list[str]], list[str]] = list


_USAGE_PREFIXES = tuple(fer2013.USAGE_PREFIXES.values())


def _is_fer2013_folders(root: Path) -> bool:
    """Class folders whose files carry the FER2013 Usage prefixes (a sample of a few per folder)."""
    if not root.is_dir():
        return False
    for split in ("train", "test"):
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for class_dir in (d for d in split_dir.iterdir() if d.is_dir()):
            names = [f.name for f in itertools.islice(class_dir.iterdir(), 20) if is_image_file(f)]
            if names and all(n.startswith(_USAGE_PREFIXES) for n in names):
                return True
    return False


def _is_class_folders(root: Path) -> bool:
    if not root.is_dir():
        return False
    try:
        folders.class_folder_splits(root)
        return True
    except ValueError as exc:
        # Folders with images but non-emotion names: that message (listing them) is the useful one.
        if "not emotion names" in str(exc):
            raise
        return False


def _rafdb_kaggle_splits(p: Path) -> list[str]:
    root = rafdb.rafdb_kaggle_root(p) or p
    return [s for s in rafdb.RAFDB_SPLITS if (root / s).is_dir()]


# Detection order: the most specific layouts first (FER+ and RAF-DB folders could also pass as class folders).
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "ferplus",
            "FER2013Train/, FER2013Valid/, FER2013Test/, each with fer*.png and label.csv (FER+)",
            lambda p: p.is_dir() and any((p / d).is_dir() for d in fer2013.FERPLUS_DIRS.values()),
            lambda p: [s for s, d in fer2013.FERPLUS_DIRS.items() if (p / d).is_dir()],
            fer2013.read_ferplus,
            label_modes=fer2013.LABEL_MODES,
        ),
        Layout(
            "rafdb_kaggle",
            "DATASET/{train,test}/{1..7}/*.jpg with DATASET/{train,test}_labels.csv (Kaggle RAF-DB)",
            lambda p: p.is_dir() and rafdb.rafdb_kaggle_root(p) is not None,
            _rafdb_kaggle_splits,
            lambda p, split, contempt, _mode: rafdb.read_rafdb_kaggle(p, split, contempt),
        ),
        Layout(
            "rafdb_original",
            "basic/Image/aligned/*_aligned.jpg with basic/EmoLabel/list_patition_label.txt (RAF-DB release)",
            lambda p: p.is_dir() and rafdb.rafdb_original_root(p) is not None,
            lambda p: list(rafdb.RAFDB_SPLITS),
            lambda p, split, contempt, _mode: rafdb.read_rafdb_original(p, split, contempt),
        ),
        Layout(
            "fer2013_csv",
            "fer2013.csv or fer2013.csv.gz with columns emotion, pixels, Usage",
            lambda p: fer2013.find_fer2013_csv(p) is not None,
            lambda p: list(fer2013.CSV_USAGE),
            lambda p, split, contempt, _mode: fer2013.read_fer2013_csv(p, split, contempt),
        ),
        Layout(
            "fer2013_folders",
            "train/<class>/Training_*.jpg and test/<class>/{PublicTest,PrivateTest}_*.jpg (Kaggle FER2013)",
            _is_fer2013_folders,
            lambda p: [s for s in fer2013.FER2013_FOLDER_SPLITS if s.startswith("usage_") or (p / s).is_dir()],
            lambda p, split, contempt, _mode: fer2013.read_fer2013_folders(p, split, contempt),
            partition=lambda splits: [s for s in splits if not s.startswith("usage_")],
        ),
        Layout(
            "class_folders",
            "<emotion>/*.jpg, optionally under train/, val/ (valid/, validation/), test/ (CK+48, AffectNet-style)",
            _is_class_folders,
            lambda p: list(folders.class_folder_splits(p)),
            lambda p, split, contempt, _mode: folders.read_class_folders(p, split, contempt),
        ),
    )
}

FORMATS: tuple[str, ...] = tuple(LAYOUTS)


def _layouts_help() -> str:
    return "\n".join(f"  - {layout.name}: {layout.description}" for layout in LAYOUTS.values())


def detect_format(path: str | Path) -> str:
    """Name of the layout at ``path`` (one of ``FORMATS``); ValueError listing the known layouts otherwise."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"Dataset path {str(p)!r} does not exist.")
    for layout in LAYOUTS.values():
        if layout.detect(p):
            return layout.name
    raise ValueError(
        f"{str(p)!r} is not a dataset layout ferkit understands. Known layouts:\n{_layouts_help()}\n"
        "Point at the dataset's top folder, or pass format= one of " + ", ".join(FORMATS) + "."
    )


def get_layout(path: str | Path, format: str = "auto") -> tuple[Path, Layout]:
    """``(path, layout)`` of the dataset at ``path``: detected for ``format="auto"``, else the named one."""
    p = Path(path).expanduser()
    if format == "auto":
        return p, LAYOUTS[detect_format(p)]
    if format not in LAYOUTS:
        raise ValueError(f"Unknown dataset format {format!r}; choose 'auto' or one of {list(FORMATS)}.")
    if not p.exists():
        raise FileNotFoundError(f"Dataset path {str(p)!r} does not exist.")
    return p, LAYOUTS[format]


def list_splits(path: str | Path, format: str = "auto") -> list[str]:
    """Split names ``load_dataset`` accepts for the dataset at ``path``."""
    p, layout = get_layout(path, format)
    return layout.list_splits(p)


def default_split(path: str | Path, format: str = "auto") -> str:
    """The split to evaluate when none is named: ``test`` when the dataset has one, else its only split."""
    splits = list_splits(path, format)
    if "test" in splits:
        return "test"
    if len(splits) == 1:
        return splits[0]
    raise ValueError(f"{str(path)!r} has no 'test' split and several others {splits}; pass the split to use.")


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
    p, layout = get_layout(path, format)
    if label_mode not in fer2013.LABEL_MODES:
        raise ValueError(f"Unknown label_mode {label_mode!r}; choose one of {list(fer2013.LABEL_MODES)}.")
    if label_mode not in layout.label_modes:
        raise ValueError(
            f"label_mode={label_mode!r} needs vote counts; only the FER+ layout has them (got {layout.name})."
        )
    splits = layout.list_splits(p)
    if split not in splits:
        raise ValueError(f"Split {split!r} not found in {str(p)!r} ({layout.name}); available splits: {splits}.")
    return layout.read(p, split, include_contempt, label_mode)
