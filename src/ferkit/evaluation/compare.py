"""Side-by-side comparison of evaluation reports: Markdown/JSON table and bar charts."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.evaluation.markdown import fmt, md_table
from ferkit.evaluation.report import EvalReport

log = logging.getLogger(__name__)

# Optional columns read from report.extra: (extra key, column title, scale, digits).
OPTIONAL_COLUMNS: tuple[tuple[str, str, float, int], ...] = (
    ("params", "params (M)", 1e-6, 2),
    ("flops", "FLOPs (G)", 1e-9, 3),
    ("latency_ms", "CPU latency ms/face", 1.0, 2),
)


@dataclass
class ComparisonTable:
    """One row per report, in the order given.

    ``rows`` hold name, accuracy, macro precision/recall/F1, weighted F1, n and any optional extras
    (raw values: params and FLOPs as counts); ``per_class_f1`` maps each row name to ``{class: F1}``.
    """

    rows: list[dict[str, Any]]
    classes: list[str]
    per_class_f1: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def columns(self) -> list[tuple[str, str, float, int]]:
        """The optional columns present in at least one row."""
        return [c for c in OPTIONAL_COLUMNS if any(r.get(c[0]) is not None for r in self.rows)]

    def to_markdown(self) -> str:
        header = ["run", "accuracy", "macro precision", "macro recall", "macro F1", "weighted F1", "n"]
        opt = self.columns()
        header += [title for _, title, _, _ in opt]
        body = []
        for r in self.rows:
            line = [
                r["name"],
                fmt(r["accuracy"]),
                fmt(r["macro_precision"]),
                fmt(r["macro_recall"]),
                fmt(r["macro_f1"]),
                fmt(r["weighted_f1"]),
                r["n"],
            ]
            line += [fmt(None if r.get(k) is None else r[k] * scale, d) for k, _, scale, d in opt]
            body.append(line)
        return md_table(header, body) + "".join(f"\n\n{note}" for note in self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "classes": self.classes, "per_class_f1": self.per_class_f1, "notes": self.notes}

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write comparison.md, comparison.json, comparison.png and comparison_per_class.png; return paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "markdown": out / "comparison.md",
            "json": out / "comparison.json",
            "chart": out / "comparison.png",
            "per_class": out / "comparison_per_class.png",
        }
        paths["markdown"].write_text("# Model comparison\n\n" + self.to_markdown() + "\n")
        paths["json"].write_text(json.dumps(self.to_dict(), indent=1))
        names = [r["name"] for r in self.rows]
        _grouped_bars(
            ["accuracy", "macro F1"],
            {n: [r["accuracy"], r["macro_f1"]] for n, r in zip(names, self.rows)},
            "Accuracy and macro F1",
            paths["chart"],
        )
        _grouped_bars(
            self.classes,
            {n: [self.per_class_f1[n].get(c, np.nan) for c in self.classes] for n in names},
            "Per-class F1",
            paths["per_class"],
        )
        log.info("wrote comparison of %d reports to %s", len(self.rows), out)
        return paths


def compare_reports(reports: Sequence[EvalReport], names: Sequence[str] | None = None) -> ComparisonTable:
    """Tabulate reports in the given order. Row names: ``names``, else each report's name, else ``run<i>``.

    Names must be unique (they key the per-class table); classes are the union in first-seen order.
    """
    if not reports:
        raise ValueError("compare_reports needs at least one report; got none.")
    if names is not None and len(names) != len(reports):
        raise ValueError(f"Got {len(names)} names for {len(reports)} reports; give one name per report.")
    names = list(names) if names is not None else [r.name or f"run{i + 1}" for i, r in enumerate(reports)]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"Duplicate row names {dupes}; pass distinct names (e.g. --names a,b).")
    classes = list(dict.fromkeys(c for r in reports for c in r.classes))
    rows, per_class = [], {}
    for name, r in zip(names, reports):
        row = {
            "name": name,
            "accuracy": r.accuracy,
            "macro_precision": r.macro["precision"],
            "macro_recall": r.macro["recall"],
            "macro_f1": r.macro["f1"],
            "weighted_f1": r.weighted["f1"],
            "n": r.n,
        }
        for key, *_ in OPTIONAL_COLUMNS:
            value = r.extra.get(key)
            row[key] = float(value) if value is not None else None
        rows.append(row)
        per_class[name] = {c: m["f1"] for c, m in r.per_class.items()}
    notes = _drop_incomparable_latency(reports, rows)
    return ComparisonTable(rows=rows, classes=classes, per_class_f1=per_class, notes=notes)


def _drop_incomparable_latency(reports: Sequence[EvalReport], rows: list[dict[str, Any]]) -> list[str]:
    """Latency is shown side by side only when every report carries one measured in the same session (same
    process: machine, load and threads); otherwise the numbers are not comparable and the column is left out."""
    timed = [r.extra.get("latency_ms") is not None for r in reports]
    if not any(timed):
        return []
    sessions = {r.extra.get("latency_session") for r in reports}
    if all(timed) and len(sessions) == 1 and None not in sessions:
        threads = reports[0].extra.get("latency_threads")
        return [
            f"CPU latency: batch 1, median of {reports[0].extra.get('latency_runs')} runs, {threads} threads, "
            "all rows measured in one session."
        ]
    for row in rows:
        row["latency_ms"] = None
    return [
        "CPU latency left out: the reports were timed in different sessions (or some not at all), so the "
        "numbers are not comparable. Time the models together, e.g. with evaluate_checkpoint(latency=True) "
        "in one Python process, or with benchmarks/."
    ]


def _grouped_bars(groups: list[str], series: dict[str, list[float]], title: str, path: Path) -> Path:
    """Bars grouped by ``groups`` (x axis), one colour per series (model), values annotated."""
    from ferkit.evaluation.plots import _pyplot, _save

    plt = _pyplot()
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(groups) * (len(series) + 1)), 4.5))
    for k, (name, values) in enumerate(series.items()):
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, groups, rotation=30 if len(groups) > 4 else 0)
    ax.set_ylim(0, 1.1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
