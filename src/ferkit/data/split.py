"""Stratified seeded splits of a ``FERDataset`` (sklearn ``train_test_split``), split files, de-duplication."""

from __future__ import annotations

import json
import logging
import os
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


SPLIT_FILE_VERSION = 2


def _rel_id(source_id: str, root: str) -> str | None:
    """``source_id`` relative to the dataset ``root`` ('/'-separated; ``"#12"`` for row 12 of a CSV root), or None
    when it lies outside the root."""
    if not root:
        return None
    sid, top = os.path.abspath(source_id), os.path.abspath(root)
    if sid == top or not sid.startswith(top) or sid[len(top)] not in (os.sep, "#"):
        return None
    return sid[len(top) :].lstrip(os.sep).replace(os.sep, "/")


def _portable_id(source_id: str, root: str) -> str:
    rel = _rel_id(source_id, root)
    return os.path.abspath(source_id) if rel is None else rel


def save_split_file(parts: dict[str, FERDataset], path: str | Path, **meta) -> Path:
    """Write ``{"version": 2, "root", "format", ..., "parts": {name: [path, ...]}}`` as JSON; returns the path.

    Paths are stored relative to the dataset root (absolute only for images outside it); ``root`` and ``format``
    record the dataset as it was when written, for information: a split file is resolved against the dataset
    given when it is used (``apply_split_file``), so it works from any working directory and on another machine.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    first = next(iter(parts.values()), None)
    root = str(meta.pop("root", None) or (first.root if first is not None else ""))
    doc = {
        "version": SPLIT_FILE_VERSION,
        "root": os.path.abspath(root) if root else "",
        "format": first.format if first is not None else "",
        **meta,
        "counts": {n: len(d) for n, d in parts.items()},
        "parts": {n: [_portable_id(s, root) for s in d.source_ids] for n, d in parts.items()},
    }
    path.write_text(json.dumps(doc, indent=1))
    return path


def read_split_file(path: str | Path) -> dict:
    """The JSON of a split file; clear errors for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Split file {str(path)!r} does not exist; make one with `ferkit data split`.")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"Split file {path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("parts"), dict):
        raise ValueError(f"Split file {path} has no 'parts' mapping; make one with `ferkit data split`.")
    return doc


def apply_split_file(dataset: FERDataset, path: str | Path) -> dict[str, FERDataset]:
    """The parts a split file names, taken from ``dataset``: its paths are resolved against ``dataset.root``
    (older files with absolute or cwd-relative paths are read when those still resolve). ValueError naming the
    file and the first path not in ``dataset``."""
    doc = read_split_file(path)
    relative = doc.get("version", 1) >= 2
    by_rel = {_rel_id(s, dataset.root): i for i, s in enumerate(dataset.source_ids)} if relative else {}
    by_abs = {os.path.abspath(s): i for i, s in enumerate(dataset.source_ids)}
    out = {}
    for name, ids in doc["parts"].items():
        pos, missing = [], []
        for s in ids:
            i = by_rel.get(s) if relative and not os.path.isabs(s) else by_abs.get(os.path.abspath(s))
            if i is None:
                missing.append(s)
            else:
                pos.append(i)
        if missing:
            first = os.path.join(dataset.root, missing[0]) if relative and not os.path.isabs(missing[0]) else missing[0]
            gone = "does not exist" if not os.path.exists(first.split("#")[0]) else "is not in the dataset"
            raise ValueError(
                f"Split file {path}: {len(missing)} of its {name!r} images are not in {dataset!r} "
                f"(first: {first!r}, which {gone}); was it made from this dataset and split?"
            )
        out[name] = dataset.subset(pos, split=name)
    return out


def load_split_file(
    path: str | Path, data: str | Path, format: str = "auto", split: str | None = None, **load_kwargs
) -> dict[str, FERDataset]:
    """Read the split the file divided (its ``split``, else ``split``) of the dataset at ``data`` and apply the file."""
    from ferkit.data.formats import load_dataset

    doc = read_split_file(path)
    source = doc.get("split") or split
    if not source:
        raise ValueError(f"Split file {path} does not say which split it divides; pass the split.")
    return apply_split_file(load_dataset(data, source, format, **load_kwargs), path)


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
