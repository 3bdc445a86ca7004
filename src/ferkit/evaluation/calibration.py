"""Confidence calibration: expected calibration error, reliability diagrams, temperature scaling.

Implements the measures of Guo et al. 2017, "On Calibration of Modern Neural Networks" (ICML):
ECE over equal-width confidence bins and single-parameter temperature scaling fitted by minimising the
negative log-likelihood on held-out logits. numpy only (scipy when present, see `fit_temperature`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Search range for T: far beyond what trained classifiers need (Guo et al. report T in ~1-3).
_LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))


def _check_probs(probs, y_true) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    if probs.ndim != 2 or probs.shape[0] != y_true.shape[0]:
        raise ValueError(f"probs must be an N x C array matching {y_true.shape[0]} labels; got shape {probs.shape}.")
    if y_true.size and (y_true.min() < 0 or y_true.max() >= probs.shape[1]):
        raise ValueError(
            f"labels must lie in 0..{probs.shape[1] - 1} (one column of probs per class); "
            f"got min {y_true.min()}, max {y_true.max()}."
        )
    return probs, y_true


def calibration_bins(probs, y_true, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin statistics over equal-width confidence bins (0, 1/B], ..., ((B-1)/B, 1].

    Returns ``edges`` (B+1), ``count``, ``accuracy`` and ``confidence`` (B each; NaN for empty bins).
    Confidence is the top-1 probability; a sample is correct when its top-1 class is the label.
    """
    probs, y_true = _check_probs(probs, y_true)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins as in Guo et al.; a confidence of exactly 0 falls in the first bin.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
    return {"edges": edges, "count": count, "accuracy": acc, "confidence": mean_conf}


def expected_calibration_error(probs, y_true, n_bins: int = 15) -> float:
    """ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)| over equal-width top-1 confidence bins (Guo et al. 2017)."""
    bins = calibration_bins(probs, y_true, n_bins)
    n = bins["count"].sum()
    if n == 0:
        raise ValueError("expected_calibration_error needs at least one sample; got an empty array.")
    full = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][full] - bins["confidence"][full])
    return float(np.sum(bins["count"][full] / n * gaps))


def reliability_diagram(probs, y_true, path: str | Path, n_bins: int = 15, title: str | None = None) -> Path:
    """Save a reliability diagram (accuracy per confidence bin against the diagonal) as PNG; return the path."""
    from ferkit.figures import get_pyplot, save_figure

    plt = get_pyplot()

    bins = calibration_bins(probs, y_true, n_bins)
    ece = expected_calibration_error(probs, y_true, n_bins)
    edges, width = bins["edges"], 1.0 / n_bins
    centers = edges[:-1] + width / 2
    # Empty bins draw nothing (zero accuracy bar, zero gap).
    acc = np.nan_to_num(bins["accuracy"])
    conf = np.where(bins["count"] > 0, bins["confidence"], 0.0)
    fig, (ax, hx) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=(3, 1), sharex=True)
    ax.bar(centers, acc, width, edgecolor="black", label="accuracy")
    ax.bar(
        centers,
        np.where(bins["count"] > 0, conf - acc, 0.0),
        width,
        bottom=acc,
        color="tab:red",
        alpha=0.35,
        label="gap to confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title or f"Reliability diagram (ECE {ece:.4f}, {n_bins} bins)")
    ax.legend(loc="upper left")
    hx.bar(centers, bins["count"], width, color="gray", edgecolor="black")
    hx.set_xlabel("confidence (top-1 probability)")
    hx.set_ylabel("samples")
    hx.set_xlim(0, 1)
    fig.tight_layout()
    return save_figure(fig, path)


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, y_true: np.ndarray, temperature: float = 1.0) -> float:
    """Mean cross-entropy of ``logits / temperature`` (N x K) against the class indices ``y_true``."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y_true)), y_true].mean())


def _golden_section(f, lo: float, hi: float, tol: float = 1e-6, max_iter: int = 200) -> float:
    # Hand-written fallback for when scipy is missing: NLL(log T) is unimodal on the bracket.
    ratio = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(max_iter):
        if b - a < tol:
            break
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2


def fit_temperature(logits, y_true) -> float:
    """Temperature T > 0 minimising the NLL of softmax(logits / T) on held-out data (Guo et al. 2017).

    Searches over log T in [log 0.05, log 20] with ``scipy.optimize.minimize_scalar`` (bounded
    Brent; scipy is installed with scikit-learn), falling back to a numpy golden-section search when
    scipy cannot be imported. Fit on a validation split, never on the test split you report.
    """
    logits = np.asarray(logits, dtype=np.float64)
    _, y_true = _check_probs(logits, y_true)
    if y_true.size == 0:
        raise ValueError("fit_temperature needs at least one (logits, label) pair; got an empty array.")

    def objective(log_t: float) -> float:
        return nll(logits, y_true, math.exp(log_t))

    try:
        from scipy.optimize import minimize_scalar
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        log_t = _golden_section(objective, *_LOG_T_BOUNDS)
    else:
        result = minimize_scalar(objective, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
        log_t = float(result.x)
    temperature = math.exp(log_t)
    if min(abs(log_t - b) for b in _LOG_T_BOUNDS) < 1e-3:
        log.warning("fitted temperature %.3g is at the search bound; the logits may be degenerate", temperature)
    log.debug("temperature %.4f: NLL %.4f -> %.4f", temperature, objective(0.0), objective(log_t))
    return temperature


def calibration_extra(logits: np.ndarray, y: np.ndarray, temperature: float | None) -> tuple[np.ndarray, dict]:
    """Uncalibrated probabilities of ``logits`` and the ECE before/after ``temperature`` for a report's ``extra``."""
    probs = softmax(logits)
    extra = {"temperature": temperature, "ece_before_temperature": float(expected_calibration_error(probs, y))}
    if temperature is not None:
        extra["ece_after_temperature"] = float(expected_calibration_error(softmax(logits, temperature), y))
    return probs, extra
