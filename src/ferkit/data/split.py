"""Stratified seeded splits of a ``FERDataset`` (sklearn ``train_test_split``), split files, de-duplication."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ferkit.data.dataset import FERDataset, hard_labels

log = logging.getLogger(__name__)


def parse_fractions(text: str) -> dict[str, float]:
    """``"val:0.5,test:0.5"`` -> ``{"val": 0.5, "test": 0.5}``; ValueError naming the bad part."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, frac = part.partition(":")
        try:
            out[name.strip()] = float(frac)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ValueError(f"Bad split part {part!r}; write NAME:FRACTION pairs, e.g. val:0.5,test:0.5.")
    return out


def _stratify_labels(ds: FERDataset) -> np.ndarray:
    return hard_labels(ds.labels, ds.soft_labels)


def first_per_class(ds: FERDataset, n: int) -> FERDataset:
    """The first ``n`` images of each class (by position), so quick runs always see every class."""
    labels = hard_labels(ds.labels, ds.soft_labels)
    keep = np.concatenate([np.flatnonzero(labels == c)[:n] for c in range(len(ds.classes))])
    return ds.subset(np.sort(keep))


def split_indices(labels: np.ndarray, fractions: dict[str, float], seed: int = 0) -> dict[str, np.ndarray]:
    """Partition ``range(len(labels))`` into named parts of the given fractions (summing to 1), stratified by
    label; the same inputs and seed always give the same parts."""
    from sklearn.model_selection import train_test_split

    if not fractions or any(f <= 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"Split fractions {fractions} must be positive and sum to 1, e.g. val:0.5,test:0.5.")
    rest = np.arange(len(labels))
    left, parts = 1.0, {}
    names = list(fractions)
    for name in names[:-1]:
        frac = fractions[name] / left
        strat = labels[rest]
        present = np.bincount(strat[strat >= 0]) if strat.size else np.array([], np.int64)
        if (present[present > 0] < 2).any():
            # A class with one member cannot be stratified; sklearn would raise. Split unstratified, say so.
            log.warning("a class has a single image; splitting %s without stratification", name)
            strat = None
        take, rest = train_test_split(rest, train_size=frac, random_state=seed, stratify=strat)
        parts[name] = np.sort(take)
        left -= fractions[name]
    parts[names[-1]] = np.sort(rest)
    return parts


def split_dataset(dataset: FERDataset, fractions: dict[str, float] | str, seed: int = 0) -> dict[str, FERDataset]:
    """Stratified, seeded partition of ``dataset`` into named parts, e.g. RAF-DB test into
    ``{"val": 0.5, "test": 0.5}``. Each part's ``split`` is its name."""
    if isinstance(fractions, str):
        fractions = parse_fractions(fractions)
    idx = split_indices(_stratify_labels(dataset), fractions, seed)
    return {name: dataset.subset(ix, split=name) for name, ix in idx.items()}


def save_split_file(parts: dict[str, FERDataset], path: str | Path, **meta) -> Path:
    """Write ``{"parts": {name: [source_id, ...]}, ...meta}`` as JSON; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        **meta,
        "counts": {n: len(d) for n, d in parts.items()},
        "parts": {n: d.source_ids for n, d in parts.items()},
    }
    path.write_text(json.dumps(doc, indent=1))
    return path


def apply_split_file(dataset: FERDataset, path: str | Path) -> dict[str, FERDataset]:
    """The parts a split file names, taken from ``dataset``; ValueError when ids are not in it."""
    doc = json.loads(Path(path).read_text())
    pos = {sid: i for i, sid in enumerate(dataset.source_ids)}
    out = {}
    for name, ids in doc["parts"].items():
        missing = [s for s in ids if s not in pos]
        if missing:
            raise ValueError(
                f"Split file {path} names {len(missing)} images not in {dataset!r} "
                f"(first: {missing[0]!r}); was it made from this dataset and split?"
            )
        out[name] = dataset.subset([pos[s] for s in ids], split=name)
    return out


def duplicate_groups(md5s: list[str | None]) -> list[list[int]]:
    """Indices sharing one MD5, for every MD5 seen more than once (None = unreadable, ignored)."""
    groups: dict[str, list[int]] = {}
    for i, h in enumerate(md5s):
        if h is not None:
            groups.setdefault(h, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def dedupe(dataset: FERDataset, workers: int | None = None) -> FERDataset:
    """Keep the first of each set of exact duplicates (same decoded pixels); unreadable images are dropped too."""
    from ferkit.data.decode import probe_dataset

    infos = probe_dataset(dataset, workers)
    seen, keep = set(), []
    for i, info in enumerate(infos):
        if info is None or info["md5"] in seen:
            continue
        seen.add(info["md5"])
        keep.append(i)
    if len(keep) < len(dataset):
        log.info("dedupe %s/%s: kept %d of %d", dataset.name, dataset.split, len(keep), len(dataset))
    return dataset.subset(keep)


def drop_unreadable(dataset: FERDataset, workers: int | None = None) -> FERDataset:
    """Decode every image once and keep only the readable ones (the others are listed in ``skipped``); use it
    before ``ImageFileDataset`` so a corrupt file cannot stop a training run. The cache path does this itself."""
    from ferkit.data.decode import probe_dataset

    infos = probe_dataset(dataset, workers)
    return dataset.subset([i for i, info in enumerate(infos) if info is not None])
