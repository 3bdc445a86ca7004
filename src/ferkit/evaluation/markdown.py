"""Markdown rendering of evaluation reports (tables shaped like sklearn's classification_report)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ferkit.evaluation.report import EvalReport


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table; ``align`` holds "l" or "r" per column (default: first left, rest right)."""
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 4) -> str:
    """Fixed-point number, or an en dash for a missing value."""
    return "–" if value is None else f"{value:.{digits}f}"


def report_markdown(report: EvalReport) -> str:
    """Header lines (accuracy, loss, n, probability metrics, extra), per-class table, confusion matrix."""
    title = f"# Evaluation report: {report.name}" if report.name else "# Evaluation report"
    head = [f"- accuracy: {fmt(report.accuracy)}", f"- loss: {fmt(report.loss)}", f"- n: {report.n}"]
    for key, label in (
        ("top2_accuracy", "top-2 accuracy"),
        ("top3_accuracy", "top-3 accuracy"),
        ("nll", "negative log-likelihood"),
        ("ece", "expected calibration error (15 bins)"),
    ):
        if getattr(report, key) is not None:
            head.append(f"- {label}: {fmt(getattr(report, key))}")
    head += [f"- {k}: {v}" for k, v in report.extra.items()]
    return "\n".join(
        [
            title,
            "",
            *head,
            "",
            "## Per-class metrics",
            "",
            classification_table(report),
            "",
            "## Confusion matrix (rows: true class, columns: predicted class)",
            "",
            confusion_table(report),
            "",
        ]
    )


def classification_table(report: EvalReport) -> str:
    """precision / recall / f1-score / support per class, then accuracy, macro avg, weighted avg rows."""
    rows = [[c, fmt(m["precision"]), fmt(m["recall"]), fmt(m["f1"]), m["support"]] for c, m in report.per_class.items()]
    # Like sklearn: the accuracy row carries its value in the f1-score column.
    rows.append(["**accuracy**", "", "", fmt(report.accuracy), report.n])
    for label, avg in (("**macro avg**", report.macro), ("**weighted avg**", report.weighted)):
        rows.append([label, fmt(avg["precision"]), fmt(avg["recall"]), fmt(avg["f1"]), avg["support"]])
    return md_table(["class", "precision", "recall", "f1-score", "support"], rows)


def confusion_table(report: EvalReport) -> str:
    """Counts with the row-normalised share in brackets, true classes as rows."""
    rows = []
    for c, counts, shares in zip(report.classes, report.confusion, report.confusion_normalized):
        rows.append([f"**{c}**", *(f"{k} ({s:.0%})" for k, s in zip(counts, shares))])
    return md_table(["true \\ pred", *report.classes], rows)
