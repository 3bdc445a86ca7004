"""Evaluation reports: metrics from labels and predictions, saved as JSON, Markdown and a confusion PNG.

Metrics come from scikit-learn (accuracy_score, precision_recall_fscore_support, confusion_matrix,
top_k_accuracy_score, log_loss); calibration error from `ferkit.evaluation.calibration`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.evaluation.calibration import expected_calibration_error

log = logging.getLogger(__name__)

REPORT_FILE = "report.json"
FORMAT_VERSION = 1


@dataclass
class EvalReport:
    """Metrics of one model on one labelled split.

    ``per_class`` maps each class name to ``{"precision", "recall", "f1", "support"}``; ``macro`` and
    ``weighted`` hold the same keys averaged. ``confusion`` has true classes as rows, predictions as
    columns; ``confusion_normalized`` divides each row by its support (all-zero rows stay zero).
    The probability metrics are None when no probabilities were given.
    """

    accuracy: float
    per_class: dict[str, dict[str, float]]
    macro: dict[str, float]
    weighted: dict[str, float]
    confusion: list[list[int]]
    confusion_normalized: list[list[float]]
    classes: list[str]
    n: int
    loss: float | None = None
    name: str | None = None
    top2_accuracy: float | None = None
    top3_accuracy: float | None = None
    nll: float | None = None
    ece: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (numpy scalars in ``extra`` become Python numbers)."""
        d = dataclasses.asdict(self)
        d["format_version"] = FORMAT_VERSION
        return json.loads(json.dumps(d, default=_json_default))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        """Inverse of `to_dict`; unknown keys (from newer versions) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {"accuracy", "per_class", "macro", "weighted", "confusion", "classes", "n"} - set(d)
        if missing:
            raise ValueError(f"Not an ferkit evaluation report: missing keys {sorted(missing)}.")
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs.setdefault("confusion_normalized", _row_normalize(np.asarray(d["confusion"])).tolist())
        return cls(**kwargs)

    def to_markdown(self) -> str:
        """Header lines, a classification_report-shaped table and the confusion matrix, in Markdown."""
        from ferkit.evaluation.markdown import report_markdown

        return report_markdown(self)

    def plot_confusion(self, path: str | Path) -> Path:
        """Counts and row-normalised confusion matrices side by side, saved as PNG."""
        from ferkit.evaluation.plots import plot_confusion

        return plot_confusion(self, path)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.json``, ``report.md`` and ``confusion.png`` into ``out_dir``; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / REPORT_FILE, "markdown": out / "report.md", "confusion": out / "confusion.png"}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=1))
        paths["markdown"].write_text(self.to_markdown())
        self.plot_confusion(paths["confusion"])
        log.info("wrote evaluation report to %s", out)
        return paths


def compute_report(
    y_true,
    y_pred,
    classes: Sequence[str],
    probs=None,
    loss: float | None = None,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
    averaged: Sequence[str] | None = None,
) -> EvalReport:
    """Compute an `EvalReport` from integer labels ``y_true`` and predictions ``y_pred`` (indices into ``classes``).

    Every class in ``classes`` gets a row even when absent from the data (precision/recall 0 then).
    ``probs`` (N x C, rows summing to 1) adds top-2/top-3 accuracy, NLL and ECE (15 bins).
    ``loss`` is stored as given (e.g. the mean training criterion on this split).
    ``averaged`` names the classes the macro and weighted averages cover (default all): an extra prediction-only
    column such as ``no_face`` stays in the rows and the confusion matrix but out of the averages (recorded in
    ``extra["averaged_over"]``).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    classes = [str(c) for c in classes]
    y_true, y_pred = _check_labels(y_true, "y_true", classes), _check_labels(y_pred, "y_pred", classes)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(
            f"y_true and y_pred must be non-empty and of equal length; got {y_true.size} and {y_pred.size}."
        )
    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {
        c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, c in enumerate(classes)
    }
    extra = dict(extra or {})
    avg_labels = labels
    if averaged is not None:
        unknown = sorted(set(averaged) - set(classes))
        if unknown or not averaged:
            raise ValueError(f"averaged={list(averaged)} must be a non-empty subset of the classes {classes}.")
        avg_labels = np.array([classes.index(c) for c in averaged])
        if len(avg_labels) < len(classes):
            extra["averaged_over"] = [str(c) for c in averaged]
    averages = {}
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=avg_labels, average=avg, zero_division=0)
        averages[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af), "support": int(y_true.size)}
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    report = EvalReport(
        accuracy=float(accuracy_score(y_true, y_pred)),
        per_class=per_class,
        macro=averages["macro"],
        weighted=averages["weighted"],
        confusion=cm.astype(int).tolist(),
        confusion_normalized=_row_normalize(cm).tolist(),
        classes=classes,
        n=int(y_true.size),
        loss=None if loss is None else float(loss),
        name=name,
        extra=extra,
    )
    if probs is not None:
        _add_probability_metrics(report, np.asarray(probs, dtype=np.float64), y_true, y_pred)
    return report


def _add_probability_metrics(report: EvalReport, probs: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    from sklearn.metrics import log_loss, top_k_accuracy_score

    n_classes = len(report.classes)
    if probs.shape != (y_true.size, n_classes):
        raise ValueError(f"probs must have shape (N, C) = ({y_true.size}, {n_classes}); got {probs.shape}.")
    if not np.array_equal(probs.argmax(axis=1), y_pred):
        log.warning("y_pred is not argmax(probs) everywhere; top-k and ECE use probs, accuracy uses y_pred")
    labels = np.arange(n_classes)
    # Top-k is only informative for k < C (top-C accuracy is always 1).
    if n_classes > 2:
        report.top2_accuracy = float(top_k_accuracy_score(y_true, probs, k=2, labels=labels))
    if n_classes > 3:
        report.top3_accuracy = float(top_k_accuracy_score(y_true, probs, k=3, labels=labels))
    report.nll = float(log_loss(y_true, probs, labels=labels))
    report.ece = expected_calibration_error(probs, y_true)


def _check_labels(y, what: str, classes: list[str]) -> np.ndarray:
    y = np.asarray(y).ravel()
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what} must hold integer class indices; got dtype {y.dtype}.")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise ValueError(
            f"{what} holds indices outside 0..{len(classes) - 1} (classes {classes}): min {y.min()}, max {y.max()}. "
            "Drop rows without a hard label (-1) before computing a report."
        )
    return y


def _row_normalize(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"extra value {obj!r} of type {type(obj).__name__} is not JSON-serialisable")


def load_report(path: str | Path) -> EvalReport:
    """Read a report from ``report.json`` or a run directory.

    For a directory: ``<dir>/report.json``, else ``<dir>/test_report/report.json``, else the only
    ``report.json`` anywhere below it. Missing -> FileNotFoundError; several candidates -> ValueError.
    """
    path = Path(path)
    if path.is_dir():
        path = _find_report(path)
    elif not path.exists():
        raise FileNotFoundError(f"No report at {path}: pass a report.json file or a run directory containing one.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); pass a report.json written by EvalReport.save.") from exc
    return EvalReport.from_dict(data)


def _find_report(run_dir: Path) -> Path:
    for candidate in (run_dir / REPORT_FILE, run_dir / "test_report" / REPORT_FILE):
        if candidate.is_file():
            return candidate
    found = sorted(run_dir.rglob(REPORT_FILE))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(
            f"No {REPORT_FILE} in {run_dir} or below it; evaluate the run first or pass the report file."
        )
    listing = ", ".join(str(p) for p in found[:10]) + (" ..." if len(found) > 10 else "")
    raise ValueError(f"{run_dir} holds {len(found)} {REPORT_FILE} files ({listing}); pass the one you mean.")
