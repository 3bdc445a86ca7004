"""Calibration: ECE on toy cases, reliability diagram PNG, temperature scaling recovers a known T."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from ferkit.evaluation import compute_report, expected_calibration_error, fit_temperature, reliability_diagram, softmax
from ferkit.evaluation.calibration import _golden_section, calibration_bins


def test_ece_zero_when_confidence_matches_accuracy():
    # Confidence 0.75 everywhere and 3 of 4 correct in that bin: perfectly calibrated.
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, [0, 0, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    # One-hot and always right: confidence 1, accuracy 1.
    assert expected_calibration_error(np.eye(3), [0, 1, 2]) == pytest.approx(0.0, abs=1e-12)


def test_ece_positive_when_overconfident():
    probs = np.array([[0.99, 0.01]] * 10)
    y = [0] * 5 + [1] * 5  # 50% right at 99% confidence
    assert expected_calibration_error(probs, y) == pytest.approx(0.49)
    # Two bins: weighted by their share of samples.
    probs = np.array([[0.9, 0.1]] * 2 + [[0.6, 0.4]] * 2)
    assert expected_calibration_error(probs, [0, 1, 0, 0], n_bins=10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)


def test_calibration_bins_are_right_closed():
    bins = calibration_bins(np.array([[0.5, 0.5], [1.0, 0.0]]), [0, 0], n_bins=2)
    assert bins["count"].tolist() == [1, 1]  # 0.5 lands in (0, 0.5], 1.0 in (0.5, 1]


def test_reliability_diagram_png(tmp_path):
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(size=(200, 7)) * 2)
    y = rng.integers(0, 7, 200)
    path = reliability_diagram(probs, y, tmp_path / "rel.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (500, 600)


def _synthetic_logits(t0: float, n: int = 20000, seed: int = 0):
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(size=(n, 5)) * 2.0
    p = softmax(true_logits)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)  # labels sampled from the true softmax
    return true_logits * t0, y  # an over-confident (t0 > 1) model: T = t0 undoes it


@pytest.mark.parametrize("t0", [0.5, 2.5])
def test_fit_temperature_recovers_known_t(t0):
    logits, y = _synthetic_logits(t0)
    t = fit_temperature(logits, y)
    assert abs(t - t0) < 0.1 * t0
    # Scaling lowers the ECE of the miscalibrated logits.
    assert expected_calibration_error(softmax(logits, t), y) < expected_calibration_error(softmax(logits), y)


def test_fit_temperature_without_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import now raises ImportError
    logits, y = _synthetic_logits(2.0, n=5000, seed=1)
    assert abs(fit_temperature(logits, y) - 2.0) < 0.25
    assert _golden_section(lambda v: (v - 1.3) ** 2, -3, 3) == pytest.approx(1.3, abs=1e-5)


def test_probability_metrics_with_absent_and_binary_classes():
    # Only 2 of 7 classes present in y_true: top-k still uses all 7 columns.
    probs = softmax(np.random.default_rng(2).normal(size=(10, 7)))
    y = np.array([0, 3] * 5)
    rep = compute_report(y, probs.argmax(1), [str(i) for i in range(7)], probs=probs)
    assert 0 <= rep.top2_accuracy <= rep.top3_accuracy <= 1
    binary = compute_report([0, 1, 1], [0, 1, 0], ["x", "y"], probs=[[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert binary.top2_accuracy is None and binary.nll == pytest.approx(-np.mean(np.log([0.8, 0.7, 0.4])))


def test_bad_shapes():
    with pytest.raises(ValueError, match="N x C"):
        expected_calibration_error(np.ones(3), [0, 1, 2])
    with pytest.raises(ValueError, match="0..1"):
        fit_temperature(np.zeros((2, 2)), [0, 2])
