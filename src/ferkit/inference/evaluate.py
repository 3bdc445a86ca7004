"""Evaluate a recogniser on a dataset of whole photos: detect, align, classify the largest face per image."""

from __future__ import annotations

import logging

import numpy as np

from ferkit.inference.sources import to_rgb

log = logging.getLogger(__name__)


def evaluate_with_detection(recognizer, dataset, progress: bool = True):
    """Run ``recognizer`` (detector + classifier) on every image of ``dataset`` (a ``FERDataset``).

    Returns ``(y_true, y_pred, probs, missing)`` over the images whose class the model knows: ``y_true`` and
    ``y_pred`` index ``recognizer.labels``; images where no face was found have ``y_pred == -1`` and a zero row in
    ``probs`` (N x C) and count as wrong; ``missing`` lists their source ids.
    """
    from tqdm import tqdm

    from ferkit.labels import canonical_emotion

    model_idx = {canonical_emotion(name): i for i, name in enumerate(recognizer.labels)}
    class_map = np.array([model_idx.get(c, -1) for c in dataset.classes], dtype=np.int64)
    labels = np.asarray(dataset.labels)
    keep = [i for i in range(len(dataset)) if labels[i] >= 0 and class_map[labels[i]] >= 0]
    if len(keep) < len(dataset):
        log.warning("left out %d images without a hard label the model knows", len(dataset) - len(keep))
    y_true = class_map[labels[keep]] if keep else np.zeros(0, np.int64)
    crops, found, missing = [], [], []
    for pos, i in enumerate(tqdm(keep, desc="detect", unit="img", disable=not progress)):
        image = to_rgb(dataset.read_image(i))
        dets = recognizer.detector(image)
        if not dets:
            missing.append(dataset.source_ids[i])
            continue
        largest = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        crops.append(recognizer.crop(image, largest))
        found.append(pos)
    probs = np.zeros((len(keep), len(recognizer.labels)))
    if crops:
        probs[found] = recognizer.classify(crops)
    y_pred = np.full(len(keep), -1, dtype=np.int64)
    y_pred[found] = probs[found].argmax(1)
    if missing:
        log.warning("no face found in %d of %d images (counted as wrong)", len(missing), len(keep))
    return y_true, y_pred, probs, missing


NO_FACE = "no_face"


def evaluate_checkpoint_with_detection(model, data, split: str = "test", format: str = "auto", out=None,
                                       detector: str = "auto", backend: str = "auto", device: str = "cpu",
                                       **detector_options):
    """``ferkit evaluate --detect-faces``: an ``EvalReport`` over whole photos (detect, align, classify the largest
    face). Images with no face are predicted as an extra ``no_face`` class, so they count as wrong and show in the
    confusion matrix; ``extra["missing"]`` lists them. Saved to ``out`` when given."""
    from ferkit.data import load_dataset
    from ferkit.evaluation import compute_report
    from ferkit.inference.recognizer import EmotionRecognizer

    rec = EmotionRecognizer(model, detector=detector, backend=backend, device=device, smoothing="none",
                            **detector_options)
    ds = load_dataset(data, split, format, include_contempt="contempt" in rec.labels)
    y_true, y_pred, probs, missing = evaluate_with_detection(rec, ds)
    classes = list(rec.labels) + [NO_FACE]
    y_pred = np.where(y_pred < 0, len(rec.labels), y_pred)
    probs = np.concatenate([probs, (probs.sum(1, keepdims=True) == 0).astype(probs.dtype)], axis=1)
    extra = {"checkpoint": str(model), "data": str(data), "split": split, "detector": rec.model_info["detector"],
             "backend": rec.model_info["backend"], "images": int(len(y_true)), "no_face": len(missing),
             "missing": missing}
    name = f"{rec.model_info['arch']} on {ds.name} {split} (detected faces)"
    report = compute_report(y_true, y_pred, classes, probs=probs, name=name, extra=extra)
    if out is not None:
        report.save(out)
    return report
