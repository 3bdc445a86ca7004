"""Evaluation: metrics reports (JSON, Markdown, confusion PNG), comparisons, calibration, training curves.

Pure numpy / scikit-learn / matplotlib (Agg backend); no torch import, so reports can be read and
compared on any machine. Models are run elsewhere (training, inference) and pass labels and probabilities in.
"""

from __future__ import annotations

from ferkit.evaluation.calibration import (
    calibration_bins,
    calibration_extra,
    expected_calibration_error,
    fit_temperature,
    reliability_diagram,
    softmax,
)
from ferkit.evaluation.compare import ComparisonTable, compare_reports
from ferkit.evaluation.plots import load_history, plot_confusion, plot_curves
from ferkit.evaluation.report import EvalReport, compute_report, load_report

__all__ = [
    "ComparisonTable",
    "EvalReport",
    "calibration_bins",
    "calibration_extra",
    "compare_reports",
    "compute_report",
    "expected_calibration_error",
    "fit_temperature",
    "load_history",
    "load_report",
    "plot_confusion",
    "plot_curves",
    "reliability_diagram",
    "softmax",
]
