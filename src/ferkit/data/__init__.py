"""Dataset readers (FER2013, FER+, RAF-DB, class folders) -> one ``FERDataset`` contract; inspection,
splitting, the decoded array cache, transforms presets and torch loaders.

Torch is imported only by ``ferkit.data.loaders`` and ``ferkit.data.transforms``.
"""

from __future__ import annotations

from ferkit.data.dataset import FERDataset, hard_labels
from ferkit.data.formats import FORMATS, detect_format, list_splits, load_dataset
from ferkit.data.split import (
    apply_split_file,
    dedupe,
    drop_unreadable,
    load_split_file,
    save_split_file,
    split_dataset,
)

__all__ = [
    "FORMATS",
    "FERDataset",
    "apply_split_file",
    "dedupe",
    "detect_format",
    "drop_unreadable",
    "hard_labels",
    "list_splits",
    "load_split_file",
    "load_dataset",
    "save_split_file",
    "split_dataset",
]
