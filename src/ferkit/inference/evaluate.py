"""The one model evaluator behind ``ferkit evaluate``: a model (checkpoint, exported .onnx or .pt, or the packaged
default) on one split of a dataset, scored on the dataset's faces cut with the model's own crop, or with
``detect_faces`` on whole photos (detect, align, classify the image's face: ``main_face``).

It lives in ``inference`` because it runs a model through the inference backends; it needs nothing from
``training`` (which may not import it back).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ferkit.data import hard_labels
from ferkit.inference.prefetch import map_ahead
from ferkit.inference.sources import to_rgb
from ferkit.labels import map_classes

log = logging.getLogger(__name__)

NO_FACE = "no_face"
DETECTOR_OPTIONS: dict[str, object] = {"detector": "auto", "det_threshold": None, "min_face": None, "det_size": None}


def main_face(dets):
    """The detection scored for an image with one labelled face: the most confident, the larger on a tie (Haar's
    are all 1.0). Not the largest: in the validation scenes (`benchmarks/tune_detector.py`) the largest detection
    was a false one in 33 of 1,937 FER2013 and 25 of 1,947 RAF-DB scenes where the face was found, the most
    confident in 0 and 2."""
    return max(dets, key=lambda d: (d.score, (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))


def evaluate_with_detection(recognizer, dataset, progress: bool = True):
    """Run ``recognizer`` (detector + classifier) on every image of ``dataset`` (a ``FERDataset``).

    Returns ``(y_true, y_pred, probs, missing)`` over the images whose class the model knows: ``y_true`` and
    ``y_pred`` index ``recognizer.labels``; images where no face was found have ``y_pred == -1`` and a zero row in
    ``probs`` (N x C) and count as wrong; ``missing`` lists their source ids. FER+ soft labels are scored against
    each image's most-voted class.
    """
    from tqdm import tqdm

    class_map = map_classes(dataset.classes, recognizer.labels)
    labels = hard_labels(dataset.labels, getattr(dataset, "soft_labels", None))
    keep = [i for i in range(len(dataset)) if labels[i] >= 0 and class_map[labels[i]] >= 0]
    if len(keep) < len(dataset):
        log.warning("left out %d images without a hard label the model knows", len(dataset) - len(keep))
    y_true = class_map[labels[keep]] if keep else np.zeros(0, np.int64)
    crops, found, missing = [], [], []

    def read_and_detect(i: int):  # on the read-ahead workers, as in prediction
        image = to_rgb(dataset.read_image(i))
        return image, recognizer.detector(image)

    detected = map_ahead(keep, read_and_detect, recognizer.detect_workers())
    for pos, (i, (image, dets)) in enumerate(
        tqdm(detected, total=len(keep), desc="detect", unit="img", disable=not progress)
    ):
        if not dets:
            missing.append(dataset.source_ids[i])
            continue
        crops.append(recognizer.crop(image, main_face(dets)))
        found.append(pos)
    probs = np.zeros((len(keep), len(recognizer.labels)))
    if crops:
        probs[found] = recognizer.classify(crops)
    y_pred = np.full(len(keep), -1, dtype=np.int64)
    y_pred[found] = probs[found].argmax(1)
    if missing:
        log.warning("no face found in %d of %d images (counted as wrong)", len(missing), len(keep))
    return y_true, y_pred, probs, missing


def evaluate_checkpoint(
    model,
    data,
    split: str | None = None,
    format: str = "auto",
    out=None,
    batch_size: int = 128,
    device: str = "auto",
    cache: bool = True,
    latency: bool = False,
    workers: int | None = None,
    label_mode: str = "majority",
    *,
    backend: str = "auto",
    detect_faces: bool = False,
    detector="auto",
    det_threshold: float | None = None,
    min_face: int | None = None,
    det_size: int | None = None,
    progress: bool = True,
    split_file=None,
):
    """``model`` on ``split`` of the dataset at ``data`` -> an ``EvalReport`` (saved to ``out`` when given).

    ``model``: a checkpoint folder, model.safetensors, an exported .onnx or TorchScript .pt, or None / "default"
    (the packaged model). ``split``: None = ``test`` when the dataset has one, else its only split. ``backend``:
    "auto" runs a checkpoint or .pt on torch (``device`` auto = cuda when available) and an .onnx on ONNX Runtime
    (CPU). Classes are matched to the model's labels by name (others are left out with a warning);
    ``label_mode="soft"`` (FER+) scores every image against its most-voted class.

    Without ``detect_faces`` each image is cut with the model's own crop (``ferkit.faces.crop``; cached on disk
    when ``cache``, ``workers`` decoder processes) and ``extra`` holds the ECE before/after the stored temperature
    and, for torch models, params and FLOPs. With ``detect_faces`` (``detector``, ``det_threshold``, ``min_face``,
    ``det_size`` as in ``EmotionRecognizer``) images without a face are predicted as an extra ``no_face`` class: they
    count as wrong and show in the confusion matrix, but macro averages cover the model's classes only.
    ``split_file`` (``ferkit data split``): evaluate its part named ``split`` (default ``test``) instead.
    ``latency``: CPU batch-1 latency (``ferkit.inference.latency``: warm-up, median of 50 runs, threads stated).
    """
    from ferkit.data.formats import default_split
    from ferkit.evaluation import compute_report

    options = {"detector": detector, "det_threshold": det_threshold, "min_face": min_face, "det_size": det_size}
    changed = [k for k, v in options.items() if v != DETECTOR_OPTIONS[k]]
    if changed and not detect_faces:
        raise ValueError(
            f"{', '.join(changed)} only apply when detecting faces in whole photos "
            "(detect_faces=True); turn that on, or drop them."
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    model = None if model is None or str(model) == "default" else model
    backend = _pick_backend(model, backend)
    device = _resolve_device(device, backend)
    split = split or ("test" if split_file else default_split(data, format))
    if detect_faces:
        from ferkit.inference.recognizer import EmotionRecognizer

        rec = EmotionRecognizer(
            model, backend=backend, device=device, smoothing="none", batch_size=batch_size, **options
        )
        clf, meta, path = rec.backend, rec.metadata, rec.model_info["path"]
    else:
        from ferkit.inference.backends import load_classifier

        clf, meta, path = load_classifier(model, backend, device)
    labels = list(meta["labels"])
    size, chans = int(meta["image_size"]), int(meta["in_chans"])
    ds = load_split(data, split, format, labels, label_mode, split_file)
    extra = {"checkpoint": str(path), "data": str(data), "split": split, "backend": clf.name, "label_mode": label_mode}
    if split_file:
        extra["split_file"] = str(split_file)
    name = f"{meta.get('arch', 'model')} on {ds.name} {split}"
    loss = None
    if detect_faces:
        y_true, y_pred, probs, missing = evaluate_with_detection(rec, ds, progress)
        classes = labels + [NO_FACE]
        y_pred = np.where(y_pred < 0, len(labels), y_pred)
        probs = np.concatenate([probs, (probs.sum(1, keepdims=True) == 0).astype(probs.dtype)], axis=1)
        extra.update(
            {
                "detector": rec.model_info["detector"],
                "images": int(len(y_true)),
                "no_face": len(missing),
                "missing": missing,
            }
        )
        name += " (detected faces)"
    else:
        from ferkit.evaluation import calibration_extra
        from ferkit.evaluation.calibration import nll

        y_true, logits = score_crops(clf, meta, ds, batch_size, cache, workers, progress)
        probs, calibration = calibration_extra(logits, y_true, meta.get("temperature"))
        y_pred, classes, loss = probs.argmax(1), labels, nll(logits, y_true)
        extra.update({**calibration, **_model_extra(clf, size, chans)})
    if latency:
        from ferkit.inference.latency import measure_backend_latency

        extra.update(measure_backend_latency(_on_cpu(clf), size, chans))
    report = compute_report(y_true, y_pred, classes, probs=probs, loss=loss, name=name, extra=extra, averaged=labels)
    if out is not None:
        report.save(out)
    return report


def evaluate_checkpoint_with_detection(
    model,
    data,
    split: str | None = None,
    format: str = "auto",
    out=None,
    detector="auto",
    backend: str = "auto",
    device: str = "auto",
    **detector_options,
):
    """``evaluate_checkpoint(..., detect_faces=True)`` under its former name."""
    return evaluate_checkpoint(
        model,
        data,
        split,
        format,
        out,
        device=device,
        backend=backend,
        detect_faces=True,
        detector=detector,
        **detector_options,
    )


def load_split(data, split: str, format: str, labels: list[str], label_mode: str = "majority", split_file=None):
    """The split (or the part ``split`` of ``split_file``) read with contempt kept when the model knows it."""
    from ferkit.data import load_dataset, load_split_file

    kw = {"include_contempt": "contempt" in labels, "label_mode": label_mode}
    if not split_file:
        return load_dataset(data, split, format, **kw)
    parts = load_split_file(split_file, data, format, **kw)
    if split not in parts:
        raise ValueError(f"Split file {split_file} has no part {split!r}; it has {list(parts)}.")
    return parts[split]


def _pick_backend(model, backend: str) -> str:
    """ "auto": an exported .onnx on ONNX Runtime, a checkpoint or .pt on torch (the weights as trained); the packaged
    default is left to ``load_classifier``."""
    if backend != "auto" or model is None:
        return backend
    return "onnx" if Path(model).suffix.lower() == ".onnx" else "torch"


def _resolve_device(device: str, backend: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"Unknown device {device!r}; choose auto, cpu or cuda.")
    if backend == "onnx":
        if device == "cuda":
            raise ValueError(
                "The ONNX backend runs on CPU only; drop --device cuda, or evaluate the checkpoint "
                "folder with the torch backend."
            )
        return "cpu"
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def score_crops(clf, meta: dict, ds, batch_size: int = 128, cache: bool = True, workers=None, progress: bool = False):
    """Labels (model indices) and logits (N x K) of every image of ``ds`` whose class the model knows, each image cut
    with the model's own crop: what ``evaluate_checkpoint`` scores without face detection (benchmarks that need the
    logits themselves, e.g. ``benchmarks/logit_adjustment.py``, call it too)."""
    from tqdm import tqdm

    from ferkit.data.cache import decode_arrays
    from ferkit.faces.crop import CropSpec, to_model_input

    size, chans = int(meta["image_size"]), int(meta["in_chans"])
    # The crop the model was trained on: the canonical template, or the file resized for older checkpoints.
    arrays = decode_arrays(ds, size, chans, cache, crop=CropSpec.from_metadata(meta).data_crop, workers=workers)
    hard = hard_labels(arrays.labels, arrays.soft_labels)
    assert (hard >= 0).all(), "every decoded row has a hard or a soft label"
    y = map_classes(ds.classes, meta["labels"])[hard]
    keep = np.flatnonzero(y >= 0)
    if len(keep) < len(y):
        missing = sorted({ds.classes[c] for c in hard[y < 0]})
        log.warning("left out %d images of classes the model does not know: %s", len(y) - len(keep), missing)
    if not len(keep):
        raise ValueError(f"No image of {ds.name}/{ds.split} has a class the model knows ({meta['labels']}).")
    mean, std = meta.get("mean", [0.5]), meta.get("std", [0.5])
    logits = []
    for i in tqdm(range(0, len(keep), batch_size), desc="eval", unit="batch", disable=not progress):
        batch = to_model_input(np.asarray(arrays.images[keep[i : i + batch_size]]), mean, std)  # B,C,S,S
        logits.append(clf.logits(batch))
    return y[keep], np.concatenate(logits).astype(np.float64)


def _model_extra(clf, size: int, chans: int) -> dict:
    """Params and FLOPs of a torch model (an ONNX graph has no module to count)."""
    if clf.name != "torch":
        return {}
    from ferkit.models import model_extra

    return model_extra(clf.module, size, chans)


def _on_cpu(clf):
    if clf.name == "torch" and str(clf.device) != "cpu":
        from ferkit.inference.backends import TorchBackend

        return TorchBackend(clf.module, clf.meta, "cpu")
    return clf
