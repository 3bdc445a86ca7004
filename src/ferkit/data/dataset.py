"""`FERDataset`: the one (image, label, source id) contract every reader returns.

Images are read lazily with PIL, in the file's own channels (uint8 ``HxW`` gray or ``HxWx3`` RGB); size and
channels are the transforms' business. FER2013 CSV rows keep their pixels in memory instead of files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

IMAGE_EXTS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")


def hard_labels(labels, soft_labels=None) -> np.ndarray:
    """One hard label per row: ``labels``, with each FER+ soft-only row (``-1``) given its most-voted class."""
    labels = np.asarray(labels)
    if soft_labels is None:
        return labels
    return np.where(labels >= 0, labels, np.asarray(soft_labels).argmax(1))


def decode_image(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 ``HxW`` (gray) or ``HxWx3`` (RGB) with the one image reader
    (``data.images.decode_image``: EXIF orientation, 16-bit gray, truncated files fail here, not later); raises
    ``ImageError`` (a ValueError) if unreadable."""
    from ferkit.data.images import decode_image as read

    return read(path, keep_gray=True, check_size=False)[0]


class FERDataset:
    """A split of a FER dataset: parallel ``labels`` / ``soft_labels`` / ``source_ids`` plus lazy images.

    ``labels`` is int64 (``-1`` where only a soft label exists); ``soft_labels`` is float32 ``N x C`` or None;
    ``source_ids`` are file paths, or ``"<csv path>#<row>"`` for FER2013 CSV rows; ``skipped`` lists
    ``(source_id, reason)`` for files found unreadable (at load, or later by the cache/inspect decoders);
    ``dropped`` counts label-file rows a label rule left out (e.g. FER+ ties).
    """

    def __init__(
        self,
        classes: Sequence[str],
        source_ids: list[str],
        labels: np.ndarray,
        soft_labels: np.ndarray | None = None,
        *,
        name: str = "dataset",
        format: str = "",
        split: str = "",
        root: str = "",
        pixels: np.ndarray | list | None = None,
        skipped: list[tuple[str, str]] | None = None,
        dropped: dict[str, int] | None = None,
    ) -> None:
        self.classes = tuple(classes)
        self.source_ids = list(source_ids)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.soft_labels = None if soft_labels is None else np.asarray(soft_labels, dtype=np.float32)
        self.name, self.format, self.split, self.root = name, format, split, root
        self._pixels = pixels  # in-memory images (FER2013 CSV), indexed like source_ids
        self.skipped = list(skipped or [])
        self.dropped = dict(dropped or {})
        assert len(self.labels) == len(self.source_ids)
        assert self.soft_labels is None or self.soft_labels.shape == (len(self.source_ids), len(self.classes))

    def __len__(self) -> int:
        return len(self.source_ids)

    def __repr__(self) -> str:
        return (
            f"FERDataset(name={self.name!r}, format={self.format!r}, split={self.split!r}, "
            f"n={len(self)}, classes={len(self.classes)}, skipped={len(self.skipped)})"
        )

    @property
    def in_memory(self) -> bool:
        return self._pixels is not None

    def read_image(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 ``HxW`` or ``HxWx3``. An unreadable file is added to ``skipped`` and re-raised
        as ValueError naming it (batch decoders catch it and drop the image instead)."""
        if self._pixels is not None:
            return np.asarray(self._pixels[i], dtype=np.uint8)
        sid = self.source_ids[i]
        try:
            return decode_image(sid)
        except (OSError, ValueError, SyntaxError) as exc:
            self.add_skipped(sid, f"unreadable image: {exc}")
            raise ValueError(f"Cannot decode image {sid!r}: {exc}") from exc

    def add_skipped(self, source_id: str, reason: str) -> None:
        if all(s != source_id for s, _ in self.skipped):
            log.warning("skipping %s (%s)", source_id, reason)
            self.skipped.append((source_id, reason))

    def class_counts(self) -> dict[str, int]:
        """Images per class (by ``labels``; soft-only rows count under their argmax when labels are -1)."""
        labels = hard_labels(self.labels, self.soft_labels)
        counts = np.bincount(labels[labels >= 0], minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}

    def subset(self, indices: Sequence[int], split: str | None = None) -> FERDataset:
        """A new dataset of the rows ``indices`` (in that order); ``skipped`` entries are carried over."""
        idx = np.asarray(indices, dtype=np.int64)
        pixels = None
        if self._pixels is not None:
            pixels = self._pixels[idx] if isinstance(self._pixels, np.ndarray) else [self._pixels[i] for i in idx]
        return FERDataset(
            self.classes,
            [self.source_ids[i] for i in idx],
            self.labels[idx],
            None if self.soft_labels is None else self.soft_labels[idx],
            name=self.name,
            format=self.format,
            split=self.split if split is None else split,
            root=self.root,
            pixels=pixels,
            skipped=self.skipped,
            dropped=self.dropped,
        )
