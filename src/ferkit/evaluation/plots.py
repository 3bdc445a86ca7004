"""PNG figures for reports: confusion matrices and training curves (matplotlib, Agg backend)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ferkit.evaluation.report import EvalReport


def _pyplot():
    from ferkit.figures import get_pyplot

    return get_pyplot()


def _save(fig, path: str | Path) -> Path:
    from ferkit.figures import save_figure

    return save_figure(fig, path)


def plot_confusion(report: EvalReport, path: str | Path) -> Path:
    """Counts (left) and row-normalised (right) confusion matrices with class names and annotated cells."""
    plt = _pyplot()
    classes, k = report.classes, len(report.classes)
    counts = np.asarray(report.confusion)
    shares = np.asarray(report.confusion_normalized)
    side = max(4.0, 0.75 * k + 1.5)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1, side))
    for ax, mat, title, text in (
        (axes[0], counts, "counts", lambda v: f"{int(v)}"),
        (axes[1], shares, "row-normalised (recall on the diagonal)", lambda v: f"{v:.2f}"),
    ):
        im = ax.imshow(mat, cmap="Blues", vmin=0, vmax=max(mat.max(), 1e-9))
        ax.set_xticks(range(k), classes, rotation=45, ha="right")
        ax.set_yticks(range(k), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        threshold = mat.max() / 2
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    text(mat[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if mat[i, j] > threshold else "black",
                )
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    name = f"{report.name}: " if report.name else ""
    fig.suptitle(f"{name}accuracy {report.accuracy:.4f}, macro F1 {report.macro['f1']:.4f}, n={report.n}")
    fig.tight_layout()
    return _save(fig, path)


def load_history(source: str | Path | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-epoch metric dicts from a list, a CSV file (header row), a JSONL file or a JSON list.

    Numeric strings become floats (empty cells NaN); other values (e.g. ``stage``) stay strings.
    """
    if not isinstance(source, (str, Path)):
        return [dict(row) for row in source]
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"No metrics file at {path}; pass a metrics .csv/.jsonl/.json or a list of dicts.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="") as fh:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    if suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, list):
            return data
    raise ValueError(f"Cannot read training history from {path}: use a .csv, .jsonl or a .json list of dicts.")


def _number(value: str | None):
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except ValueError:
        return value


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def plot_curves(history, path: str | Path, title: str | None = None) -> Path:
    """Loss (left) and accuracy (right) per epoch, with dashed lines where ``stage`` changes; saved as PNG.

    ``history``: list of per-epoch dicts or a metrics file (see `load_history`). Keys ending in ``loss``
    go left, keys containing ``acc`` (or ending in ``f1``) go right; ``lr`` is drawn on a log axis
    under the accuracy panel when present. The x axis is ``epoch`` when it increases, else the row number.
    """
    rows = load_history(history)
    if not rows:
        raise ValueError("plot_curves needs at least one epoch of history; got none.")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    epochs = [r.get("epoch") for r in rows]
    # Epochs restart at each stage in some logs; fall back to a running index so lines never fold back.
    if all(_is_number(e) for e in epochs) and np.all(np.diff(np.asarray(epochs, dtype=float)) > 0):
        x = np.asarray(epochs, dtype=float)
    else:
        x = np.arange(1, len(rows) + 1, dtype=float)

    def series(key: str) -> np.ndarray:
        return np.asarray([r.get(key) if _is_number(r.get(key)) else np.nan for r in rows], dtype=float)

    loss_keys = [k for k in keys if k.endswith("loss")]
    acc_keys = [k for k in keys if "acc" in k or k.endswith("f1")]
    has_lr = "lr" in keys and np.isfinite(series("lr")).any()
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3 if has_lr else 2, figsize=(15 if has_lr else 11, 4))
    for ax, group, ylabel in ((axes[0], loss_keys, "loss"), (axes[1], acc_keys, "accuracy")):
        for key in group:
            ax.plot(x, series(key), marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if group:
            ax.legend()
    if has_lr:
        axes[2].semilogy(x, series("lr"), marker="o", markersize=3)
        axes[2].set_xlabel("epoch")
        axes[2].set_ylabel("learning rate")
        axes[2].grid(alpha=0.3)
    # An empty CSV cell reads as NaN, which never equals itself: treat it as "no stage".
    stages = [None if isinstance(s, float) and math.isnan(s) else s for s in (r.get("stage") for r in rows)]
    _mark_stages(axes, x, stages)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def stage_boundaries(stages: list, x: np.ndarray) -> list[tuple[float, Any]]:
    """(x position, new stage) for every row where ``stage`` differs from the previous row."""
    return [((x[i - 1] + x[i]) / 2, stages[i]) for i in range(1, len(stages)) if stages[i] != stages[i - 1]]


def _mark_stages(axes, x: np.ndarray, stages: list) -> None:
    if all(s is None for s in stages):
        return
    for pos, stage in stage_boundaries(stages, x):
        for ax in axes:
            ax.axvline(pos, color="gray", linestyle="--", linewidth=1)
            ax.text(pos, 1.0, f" {stage}", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="gray")
