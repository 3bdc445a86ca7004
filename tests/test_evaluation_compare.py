"""Comparison tables, the `ferkit compare` CLI end to end, and training-curve plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ferkit.evaluation import compare_reports, compute_report, load_history, load_report, plot_curves
from ferkit.evaluation.plots import stage_boundaries

CLASSES = ["a", "b", "c"]


def _reports(weak_latency=None, session="s1"):
    timing = {"latency_session": session, "latency_runs": 50, "latency_threads": 2}
    good = compute_report(
        [0, 0, 1, 1, 2, 2],
        [0, 0, 1, 1, 2, 0],
        CLASSES,
        name="big",
        extra={"params": 11_200_000, "flops": 1.8e9, "latency_ms": 4.25, **timing},
    )
    weak = compute_report(
        [0, 0, 1, 1, 2, 2],
        [0, 1, 1, 1, 2, 0],
        CLASSES,
        name="small",
        extra={"params": 300_000, "latency_ms": weak_latency, "latency_session": "s1"},
    )
    return good, weak


def _rows(md: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in md.splitlines()[2:]]


def test_table_keeps_order_and_values():
    good, weak = _reports(weak_latency=1.5)
    table = compare_reports([weak, good])
    md = table.to_markdown()
    header = md.splitlines()[0]
    assert header.startswith("| run | accuracy | macro precision | macro recall | macro F1 | weighted F1 | n |")
    assert "params (M)" in header and "FLOPs (G)" in header and "CPU latency ms/face" in header
    rows = _rows(md.split("\n\n")[0])
    assert [r[0] for r in rows] == ["small", "big"]  # as given, not sorted by score
    assert rows[0][1] == "0.6667" and rows[1][1] == "0.8333"
    assert rows[0][4] == f"{(0.5 + 0.8 + 2 / 3) / 3:.4f}"
    assert rows[1][7:] == ["11.20", "1.800", "4.25"]
    assert rows[0][7:] == ["0.30", "–", "1.50"]  # missing extras shown as a dash
    assert "one session" in md


@pytest.mark.parametrize("weak_latency,session", [(None, "s1"), (1.5, "s2")])
def test_latency_from_different_sessions_is_left_out(weak_latency, session):
    good, weak = _reports(weak_latency, session)
    table = compare_reports([weak, good])
    md = table.to_markdown()
    assert "CPU latency ms/face" not in md.splitlines()[0] and "CPU latency left out" in md
    assert all(r["latency_ms"] is None for r in table.rows) and table.to_dict()["notes"]
    assert table.per_class_f1["small"]["b"] == pytest.approx(0.8)


def test_optional_columns_absent_and_names():
    a, b = (compute_report([0, 1], [0, 1], CLASSES[:2]) for _ in range(2))
    table = compare_reports([a, b], names=["x", "y"])
    assert "params" not in table.to_markdown()
    assert [r["name"] for r in compare_reports([a, b]).rows] == ["run1", "run2"]
    with pytest.raises(ValueError, match="Duplicate row names"):
        compare_reports([a, b], names=["x", "x"])
    with pytest.raises(ValueError, match="one name per report"):
        compare_reports([a, b], names=["x"])


def test_save_writes_all_files(tmp_path):
    good, weak = _reports()
    extra_class = compute_report([0, 3], [0, 3], CLASSES + ["d"], name="four")
    table = compare_reports([good, weak, extra_class])
    paths = table.save(tmp_path)
    assert table.classes == ["a", "b", "c", "d"]
    data = json.loads(paths["json"].read_text())
    assert [r["name"] for r in data["rows"]] == ["big", "small", "four"]
    assert paths["markdown"].read_text().startswith("# Model comparison")
    for key in ("chart", "per_class"):
        with Image.open(paths[key]) as im:
            assert im.format == "PNG" and im.size[0] >= 600 and im.size[1] == 450


def test_cli_compare_end_to_end(tmp_path, capsys):
    from ferkit.cli import main

    good, weak = _reports()
    good.name = None  # the row is then named after its run folder
    good.save(tmp_path / "run_big" / "test_report")
    weak_paths = weak.save(tmp_path / "small_eval")
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "run_big"), str(weak_paths["json"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert [r[0] for r in _rows(printed.split("\n\n")[0])] == ["run_big", "small"]
    for name in ("comparison.md", "comparison.json", "comparison.png", "comparison_per_class.png"):
        assert (out / name).stat().st_size > 0
    assert (
        main(["compare", str(tmp_path / "run_big"), str(weak_paths["json"]), "--out", str(out), "--names", "R18,tiny"])
        == 0
    )
    assert "| tiny |" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "No report at" in capsys.readouterr().err


def test_cli_same_report_names_fall_back_to_run_folders(tmp_path, capsys):
    from ferkit.cli import main

    good, weak = _reports()
    weak.name = good.name  # e.g. the same architecture trained twice
    good.save(tmp_path / "seed0" / "test_report")
    weak.save(tmp_path / "seed1" / "test_report")
    args = [str(tmp_path / "seed0"), str(tmp_path / "seed1" / "test_report" / "report.json")]
    assert main(["compare", *args, "--out", str(tmp_path / "cmp")]) == 0
    assert [r[0] for r in _rows(capsys.readouterr().out.split("\n\n")[0])] == ["seed0", "seed1"]


def test_loaded_reports_compare_like_fresh_ones(tmp_path):
    good, weak = _reports()
    good.save(tmp_path / "g")
    loaded = load_report(tmp_path / "g")
    assert compare_reports([loaded, weak]).rows == compare_reports([good, weak]).rows


HISTORY = [
    {"epoch": 1, "stage": "head", "train_loss": 1.9, "val_loss": 1.8, "train_acc": 0.2, "val_acc": 0.25, "lr": 1e-3},
    {"epoch": 2, "stage": "head", "train_loss": 1.6, "val_loss": 1.5, "train_acc": 0.35, "val_acc": 0.4, "lr": 1e-3},
    {"epoch": 3, "stage": "full", "train_loss": 1.2, "val_loss": 1.3, "train_acc": 0.5, "val_acc": 0.5, "lr": 1e-4},
    {"epoch": 4, "stage": "full", "train_loss": 1.0, "val_loss": 1.2, "train_acc": 0.6, "val_acc": 0.55, "lr": 5e-5},
]


def test_plot_curves_from_list(tmp_path):
    path = plot_curves(HISTORY, tmp_path / "curves.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (1500, 400)  # loss, accuracy and lr panels
    assert stage_boundaries([r["stage"] for r in HISTORY], np.array([1.0, 2, 3, 4])) == [(2.5, "full")]


def test_plot_curves_from_csv_and_jsonl(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    # Epochs restart with the second stage; val_loss is missing for one row.
    csv_path.write_text("epoch,stage,train_loss,val_loss,val_acc\n1,a,1.0,1.1,0.3\n2,a,0.9,,0.4\n1,b,0.8,0.9,0.5\n")
    rows = load_history(csv_path)
    assert rows[1]["val_loss"] != rows[1]["val_loss"] and rows[2]["stage"] == "b"  # NaN, string kept
    with Image.open(plot_curves(csv_path, tmp_path / "c.png")) as im:
        assert im.size == (1100, 400)  # no lr column: two panels
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in HISTORY) + "\n")
    assert load_history(jsonl) == HISTORY
    with pytest.raises(FileNotFoundError, match="No metrics file"):
        plot_curves(tmp_path / "none.csv", tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one epoch"):
        plot_curves([], tmp_path / "x.png")
