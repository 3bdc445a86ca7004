"""Evaluate a saved checkpoint on a dataset split with the checkpoint's own size, channels, mean/std and labels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ferkit.training.data import build_eval_loader, decode_arrays
from ferkit.training.engine import evaluate

log = logging.getLogger(__name__)


def _label_map(data_classes: tuple[str, ...], model_labels: list[str]) -> np.ndarray:
    """Dataset class index -> model class index by name (-1 where the model lacks that class)."""
    from ferkit.labels import canonical_emotion

    model_idx = {canonical_emotion(name): i for i, name in enumerate(model_labels)}
    return np.array([model_idx.get(c, -1) for c in data_classes], dtype=np.int64)


def evaluate_checkpoint(model_path: str | Path, data_path: str | Path, split: str = "test", format: str = "auto",
                        out: str | Path | None = None, batch_size: int = 128, device: str = "auto",
                        cache: bool = True, latency: bool = True, workers: int = 0, label_mode: str = "majority"):
    """Run the checkpoint at ``model_path`` on ``split`` of the dataset at ``data_path``; returns an ``EvalReport``
    (saved to ``out`` as report.json/report.md/confusion.png when given).

    ``label_mode`` (FER+): ``majority`` drops tied votes; ``soft`` keeps every image, scored against its
    most-voted class. Classes are matched by name; images of classes the model does not know are left out (with a warning).
    ``extra`` holds params, FLOPs, CPU latency (batch 1) and ECE before/after the stored temperature.
    """
    from ferkit.data import load_dataset
    from ferkit.data.transforms import build_transforms
    from ferkit.evaluation import compute_report
    from ferkit.faces.crop import CropSpec
    from ferkit.models import load_model, measure_latency
    from ferkit.training.finalize import calibration_extra, model_extra
    from ferkit.training.setup import resolve_device

    dev = resolve_device(device)
    model, meta = load_model(model_path, dev)
    labels = list(meta["labels"])
    size, chans = int(meta.get("image_size", 112)), int(meta["in_chans"])
    ds = load_dataset(data_path, split, format, include_contempt="contempt" in labels, label_mode=label_mode)
    if ds.soft_labels is not None:  # FER+ soft: score against each image's most-voted class
        ds.labels = np.where(ds.labels >= 0, ds.labels, ds.soft_labels.argmax(1))
    mapping = _label_map(ds.classes, labels)
    # The crop the model was trained on: the canonical template, or the file resized for older checkpoints.
    crop = "template" if CropSpec.from_metadata(meta).kind == "template" else "resize"
    arrays = decode_arrays(ds, size, chans, cache, crop=crop)
    y = mapping[arrays.labels]
    if (y < 0).any():
        missing = sorted({ds.classes[c] for c in arrays.labels[y < 0]})
        log.warning("left out %d images of classes the model does not know: %s", int((y < 0).sum()), missing)
        from dataclasses import replace

        keep = np.flatnonzero(y >= 0)
        arrays = replace(arrays, images=arrays.images[keep], labels=arrays.labels[keep], soft_labels=None,
                         source_ids=[arrays.source_ids[i] for i in keep])
        y = y[keep]
    tf = build_transforms(size, chans, meta.get("mean", [0.5]), meta.get("std", [0.5]), train=False)
    loader = build_eval_loader(arrays, tf, batch_size, workers)
    _, logits, _ = evaluate(model, loader, dev, progress=True)
    probs, calibration = calibration_extra(logits.numpy(), y, meta.get("temperature"))
    loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)))
    extra = {"checkpoint": str(model_path), "data": str(data_path), "split": split, **calibration,
             **model_extra(model, size, chans)}
    if latency:
        cpu_model = model.to("cpu")
        extra["latency_ms"] = measure_latency(cpu_model, size, chans, batch_size=1, repeats=20)["median_ms"]
    name = f"{meta['arch']} on {ds.name} {split}"
    report = compute_report(y, probs.argmax(1), labels, probs=probs, loss=loss, name=name, extra=extra)
    if out is not None:
        report.save(out)
    return report
