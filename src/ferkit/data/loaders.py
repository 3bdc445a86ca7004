"""Torch datasets and loaders over ``CachedArrays`` (fast path) or ``FERDataset`` files (no cache)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, WeightedRandomSampler

from ferkit.data.cache import CachedArrays
from ferkit.data.dataset import FERDataset, hard_labels
from ferkit.data.decode import to_array


def _target(labels: np.ndarray, soft: np.ndarray | None, i: int):
    return torch.from_numpy(np.array(soft[i])) if soft is not None else int(labels[i])


class ArrayDataset(Dataset):
    """``(float tensor C x H x W, target)`` from decoded arrays; target is the int label, or the soft label
    vector (float32) when the arrays carry soft labels."""

    def __init__(self, arrays: CachedArrays, transform: Callable | None = None) -> None:
        self.arrays, self.transform = arrays, transform

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int):
        img = torch.from_numpy(np.array(self.arrays.images[i])).permute(2, 0, 1)  # HxWxC uint8 -> CxHxW
        if self.transform is not None:
            img = self.transform(img)
        return img, _target(self.arrays.labels, self.arrays.soft_labels, i)


class ImageFileDataset(Dataset):
    """Same items as ``ArrayDataset`` but decoding each JPEG/PNG on every access (no cache).

    Unreadable images raise ValueError naming the file; use the cache path to skip them instead.
    """

    def __init__(self, dataset: FERDataset, image_size: int, channels: int, transform: Callable | None = None):
        self.dataset, self.image_size, self.channels, self.transform = dataset, image_size, channels, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        arr = to_array(self.dataset.read_image(i), self.image_size, self.channels)
        img = torch.from_numpy(np.array(arr)).permute(2, 0, 1)  # PIL arrays are read-only
        if self.transform is not None:
            img = self.transform(img)
        return img, _target(self.dataset.labels, self.dataset.soft_labels, i)


def class_balanced_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Per-sample weights ``1 / count(class)`` so each class is drawn equally often."""
    counts = np.bincount(labels[labels >= 0], minlength=num_classes).astype(np.float64)
    weights = 1.0 / np.maximum(counts, 1)
    return torch.as_tensor(np.where(labels >= 0, weights[np.clip(labels, 0, None)], 0.0), dtype=torch.double)


def build_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    num_workers: int = 2,
    balanced: bool = False,
    distributed: bool = False,
    seed: int = 0,
    pin_memory: bool = False,
    drop_last: bool | None = None,
    num_replicas: int | None = None,
    rank: int | None = None,
) -> DataLoader:
    """DataLoader over ``ArrayDataset``/``ImageFileDataset``. ``train`` shuffles (and drops the last partial
    batch); ``balanced`` draws classes equally (WeightedRandomSampler, with replacement, epoch = len(dataset));
    ``distributed`` shards with DistributedSampler (``num_replicas``/``rank`` default to the initialised process
    group; call ``loader.sampler.set_epoch(e)`` each epoch)."""
    if balanced and distributed:
        raise ValueError(
            "balanced=True and distributed=True cannot be combined here; use one of them "
            "(or weight the loss by class instead of sampling)."
        )
    sampler = None
    if balanced and train:
        labels = _labels_of(dataset)
        num_classes = int(labels.max()) + 1 if len(labels) else 1
        gen = torch.Generator().manual_seed(seed)
        sampler = WeightedRandomSampler(class_balanced_weights(labels, num_classes), len(labels), generator=gen)
    elif distributed:
        sampler = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=train, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=train if drop_last is None else drop_last,
        persistent_workers=num_workers > 0,
        generator=gen,
    )


def _labels_of(dataset: Dataset) -> np.ndarray:
    if isinstance(dataset, ArrayDataset):
        src = dataset.arrays
    elif isinstance(dataset, ImageFileDataset):
        src = dataset.dataset
    else:
        raise ValueError(f"balanced sampling needs an ArrayDataset or ImageFileDataset, got {type(dataset).__name__}.")
    return hard_labels(src.labels, src.soft_labels)


def build_eval_loader(arrays: CachedArrays, transform, batch_size: int, workers: int = 0) -> DataLoader:
    """A plain in-order loader over decoded arrays (no sampler, keeps the last partial batch)."""
    return build_loader(ArrayDataset(arrays, transform), batch_size, train=False, num_workers=workers)
