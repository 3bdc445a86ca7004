"""Evaluation reports: metrics against hand-computed values, Markdown, JSON round-trip, PNG, load_report."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ferkit.evaluation import EvalReport, compute_report, load_report

CLASSES = ["a", "b", "c"]
Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0]
# Confusion [[1,1,0],[0,2,0],[1,0,1]] -> precision (1/2, 2/3, 1), recall (1/2, 1, 1/2), F1 (1/2, 4/5, 2/3).
F1 = [0.5, 0.8, 2 / 3]


@pytest.fixture()
def report() -> EvalReport:
    return compute_report(Y_TRUE, Y_PRED, CLASSES, loss=0.25, name="toy", extra={"params": np.int64(1_500_000)})


def test_metrics_match_hand_computed(report):
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert report.confusion_normalized[0] == pytest.approx([0.5, 0.5, 0.0])
    assert report.per_class["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert report.per_class["c"]["precision"] == 1.0 and report.per_class["c"]["recall"] == 0.5
    assert report.macro["f1"] == pytest.approx(sum(F1) / 3)
    assert report.macro["precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    # Equal supports: weighted equals macro here.
    assert report.weighted["f1"] == pytest.approx(sum(F1) / 3)
    assert report.n == 6 and report.loss == 0.25 and report.classes == CLASSES
    assert report.top2_accuracy is None and report.ece is None


def test_absent_class_gets_a_zero_row_and_counts_in_macro():
    rep = compute_report(Y_TRUE, Y_PRED, CLASSES + ["d"])
    assert rep.per_class["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert rep.macro["f1"] == pytest.approx(sum(F1) / 4)
    assert rep.confusion_normalized[3] == [0.0, 0.0, 0.0, 0.0]
    # Weighted average ignores the empty class; unequal supports make it differ from macro.
    rep2 = compute_report([0, 0, 0, 1], [0, 0, 1, 1], ["x", "y"])
    f1_x, f1_y = 2 * 1 * (2 / 3) / (1 + 2 / 3), 2 * 0.5 * 1 / 1.5
    assert rep2.weighted["f1"] == pytest.approx(0.75 * f1_x + 0.25 * f1_y)


def test_agrees_with_sklearn_classification_report(report):
    from sklearn.metrics import classification_report

    ref = classification_report(Y_TRUE, Y_PRED, target_names=CLASSES, output_dict=True, zero_division=0)
    for c in CLASSES:
        assert report.per_class[c]["f1"] == pytest.approx(ref[c]["f1-score"])
    assert report.weighted["recall"] == pytest.approx(ref["weighted avg"]["recall"])


def test_probability_metrics():
    probs = np.array(
        [
            [0.7, 0.2, 0.1, 0.0],  # true 0: top-1 hit
            [0.5, 0.4, 0.1, 0.0],  # true 1: top-2 hit
            [0.5, 0.3, 0.2, 0.0],  # true 2: top-3 hit
            [0.4, 0.3, 0.2, 0.1],  # true 3: miss in top-3
        ]
    )
    y = [0, 1, 2, 3]
    rep = compute_report(y, probs.argmax(1), ["a", "b", "c", "d"], probs=probs)
    assert rep.accuracy == 0.25
    assert rep.top2_accuracy == pytest.approx(0.5)
    assert rep.top3_accuracy == pytest.approx(0.75)
    assert rep.nll == pytest.approx(-np.mean(np.log([0.7, 0.4, 0.2, 0.1])))
    assert rep.ece is not None and 0 < rep.ece <= 1


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="outside 0..2"):
        compute_report([0, -1], [0, 1], CLASSES)
    with pytest.raises(ValueError, match="equal length"):
        compute_report([0, 1], [0], CLASSES)
    with pytest.raises(ValueError, match="shape"):
        compute_report([0, 1], [0, 1], CLASSES, probs=np.ones((2, 2)) / 2)


def test_markdown_rows(report):
    md = report.to_markdown()
    lines = md.splitlines()
    assert lines[0] == "# Evaluation report: toy"
    assert "- accuracy: 0.6667" in lines and "- loss: 0.2500" in lines and "- n: 6" in lines
    table = [ln for ln in lines if ln.startswith("| ")]
    assert table[0] == "| class | precision | recall | f1-score | support |"
    first = [ln.split("|")[1].strip() for ln in table[2:8]]
    assert first == ["a", "b", "c", "**accuracy**", "**macro avg**", "**weighted avg**"]
    assert "| b | 0.6667 | 1.0000 | 0.8000 | 2 |" in lines
    assert "| **accuracy** |  |  | 0.6667 | 6 |" in lines
    assert "| **c** | 1 (50%) | 0 (0%) | 1 (50%) |" in lines


def test_json_round_trip_and_save(report, tmp_path):
    paths = report.save(tmp_path / "run")
    assert set(paths) == {"json", "markdown", "confusion"}
    data = json.loads(paths["json"].read_text())
    assert data["extra"]["params"] == 1_500_000 and data["format_version"] == 1
    loaded = load_report(paths["json"])
    assert loaded == EvalReport.from_dict(report.to_dict())
    assert loaded.macro["f1"] == pytest.approx(report.macro["f1"])
    with Image.open(paths["confusion"]) as im:
        assert im.format == "PNG" and im.size[0] > 400 and im.size[1] > 200
        assert np.asarray(im.convert("L")).std() > 10  # not a blank canvas
    assert paths["markdown"].read_text() == report.to_markdown()


def test_load_report_from_run_directory(report, tmp_path):
    report.save(tmp_path / "direct")
    assert load_report(tmp_path / "direct").name == "toy"
    report.save(tmp_path / "run1" / "test_report")
    report.save(tmp_path / "run1" / "val_report")  # test_report wins over a deeper search
    assert load_report(tmp_path / "run1").accuracy == report.accuracy
    report.save(tmp_path / "run2" / "eval" / "deep")
    assert load_report(tmp_path / "run2").n == 6


def test_load_report_errors(report, tmp_path):
    with pytest.raises(FileNotFoundError, match="No report.json"):
        load_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="No report at"):
        load_report(tmp_path / "nope.json")
    report.save(tmp_path / "x" / "a")
    report.save(tmp_path / "x" / "b")
    with pytest.raises(ValueError, match="holds 2 report.json"):
        load_report(tmp_path / "x")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"accuracy": 1.0}))
    with pytest.raises(ValueError, match="missing keys"):
        load_report(bad)


def test_no_torch_import():
    code = "import sys, ferkit.evaluation; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_nan_free_json(report):
    text = json.dumps(report.to_dict(), allow_nan=False)  # raises on NaN/inf
    assert not math.isnan(json.loads(text)["accuracy"])
