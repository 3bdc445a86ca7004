"""`ferkit evaluate` / evaluate_checkpoint: one evaluator for crops and whole photos, every flag honoured or refused,
macro averages without the no_face column, exported ONNX models, the packaged default, default splits, latency."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from _inference_support import compose_canvas, make_checkpoint, rafdb_faces
from ferkit.cli import main
from ferkit.evaluation import compute_report
from ferkit.inference.evaluate import NO_FACE, evaluate_checkpoint
from ferkit.labels import EMOTIONS, map_classes


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"), "simple_cnn")


def _folder(root, splits=(None,), per_class=2, classes=("happy", "sad", "fear")):
    rng = np.random.default_rng(0)
    for split in splits:
        for cls in classes:
            d = root / split / cls if split else root / cls
            d.mkdir(parents=True)
            for k in range(per_class):
                Image.fromarray(rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)).save(d / f"{k}.png")
    return root


def test_map_classes_by_canonical_name():
    assert map_classes(("Happiness", "contempt", "angry"), EMOTIONS).tolist() == [3, -1, 0]


def test_macro_leaves_the_no_face_column_out():
    classes = list(EMOTIONS) + [NO_FACE]
    y_true = np.array([0, 1, 2, 3, 4, 5, 6, 3])
    y_pred = np.array([0, 1, 2, 3, 4, 5, 6, 7])  # the last image: no face found
    rep = compute_report(y_true, y_pred, classes, averaged=list(EMOTIONS))
    f1 = [rep.per_class[c]["f1"] for c in EMOTIONS]
    assert rep.macro["f1"] == pytest.approx(np.mean(f1)) and rep.per_class[NO_FACE]["support"] == 0
    assert rep.confusion[3][7] == 1 and rep.extra["averaged_over"] == list(EMOTIONS)
    with_no_face = compute_report(y_true, y_pred, classes)
    assert with_no_face.macro["f1"] == pytest.approx(np.mean(f1) * 7 / 8)  # the bug: 0.556 instead of 0.636


def test_folder_without_split_level_and_latency(ckpt, tmp_path):
    data = _folder(tmp_path / "ds")
    rep = evaluate_checkpoint(ckpt, data, cache=False, latency=True, progress=False)
    assert rep.extra["split"] == "all" and rep.n == 6 and rep.extra["params"] > 0
    assert rep.extra["latency_runs"] == 50 and rep.extra["latency_warmup"] >= 1 and rep.extra["latency_ms"] > 0
    assert isinstance(rep.extra["latency_threads"], int) and rep.extra["latency_session"]
    assert "averaged_over" not in rep.extra  # crops: every class is a model class


def test_default_split_is_test_else_the_only_one(tmp_path):
    from ferkit.data.formats import default_split

    assert default_split(_folder(tmp_path / "a", splits=("train", "test"))) == "test"
    with pytest.raises(ValueError, match="no 'test' split"):
        default_split(_folder(tmp_path / "b", splits=("train", "val")))


def test_onnx_export_scores_like_the_checkpoint(ckpt, tmp_path):
    from ferkit.export import export_model

    onnx_path = export_model(ckpt, "onnx", tmp_path / "m.onnx").path
    data = _folder(tmp_path / "ds")
    a = evaluate_checkpoint(ckpt, data, cache=False, progress=False)
    b = evaluate_checkpoint(onnx_path, data, cache=False, progress=False)
    assert a.extra["backend"] == "torch" and b.extra["backend"] == "onnx"
    assert a.accuracy == b.accuracy and a.nll == pytest.approx(b.nll, abs=1e-4)
    with pytest.raises(ValueError, match="CPU only"):
        evaluate_checkpoint(onnx_path, data, device="cuda", progress=False)


def test_default_model_and_cli_flags(tmp_path, capsys):
    data = _folder(tmp_path / "ds", per_class=1)
    out = tmp_path / "rep"
    assert main(["evaluate", "--data", str(data), "--out", str(out), "--no-cache", "--batch-size", "2"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert "assets/default" in rep["extra"]["checkpoint"] and rep["n"] == 3 and "latency_ms" not in rep["extra"]
    capsys.readouterr()
    # Detector flags without --detect-faces are refused, not dropped.
    assert main(["evaluate", "--data", str(data), "--detector", "haar", "--out", str(out)]) == 2
    assert "only apply when detecting faces" in capsys.readouterr().err


@pytest.mark.needs_data("rafdb/DATASET/test")
def test_detect_faces_honours_flags_and_keeps_no_face_out_of_macro(ckpt, tmp_path):
    for k, cls in enumerate(("happy", "sad")):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        face = compose_canvas(rafdb_faces(1, seed=k), [(100, 60, 160)], size=(360, 280))
        Image.fromarray(face).save(tmp_path / "ds" / cls / "a.png")
    Image.fromarray(np.full((200, 200, 3), 100, np.uint8)).save(tmp_path / "ds" / "sad" / "blank.png")
    rep = evaluate_checkpoint(ckpt, tmp_path / "ds", detect_faces=True, batch_size=1, latency=True, progress=False)
    assert rep.classes[-1] == NO_FACE and rep.extra["no_face"] == 1 and rep.extra["images"] == 3
    assert rep.extra["averaged_over"] == list(EMOTIONS) and rep.extra["latency_runs"] == 50
    f1 = [rep.per_class[c]["f1"] for c in EMOTIONS]
    assert rep.macro["f1"] == pytest.approx(np.mean(f1))


def test_detect_faces_on_worker_threads_matches_one_thread(ckpt, tmp_path, monkeypatch):
    """Images are read and searched on the read-ahead workers; results stay in dataset order, as on one thread."""
    from ferkit.data import load_dataset
    from ferkit.inference.evaluate import evaluate_with_detection
    from ferkit.inference.recognizer import EmotionRecognizer

    for k, cls in enumerate(("happy", "sad", "angry", "happy", "sad")):
        (tmp_path / cls).mkdir(exist_ok=True)
        face = compose_canvas(rafdb_faces(1, seed=k), [(40 + 20 * k, 50, 150 + 10 * k)], size=(360, 280))
        Image.fromarray(face).save(tmp_path / cls / f"{k}.png")
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(tmp_path / "sad" / "blank.png")
    ds = load_dataset(str(tmp_path), "all")
    rec = EmotionRecognizer(ckpt)
    assert rec.detect_workers() >= 1
    parallel = evaluate_with_detection(rec, ds, progress=False)
    monkeypatch.setattr(EmotionRecognizer, "detect_workers", lambda self: 0)
    serial = evaluate_with_detection(rec, ds, progress=False)
    for a, b in zip(parallel[:3], serial[:3]):
        np.testing.assert_array_equal(a, b)
    assert parallel[3] == serial[3] and any(m.endswith("blank.png") for m in serial[3]) and len(serial[3]) <= 3


def test_detect_faces_scores_the_most_confident_face_not_the_largest():
    """A larger, less confident false detection is not the image's face; Haar's equal scores fall back to size."""
    from ferkit.faces.types import Detection
    from ferkit.inference.evaluate import main_face

    face = Detection((100.0, 100.0, 180.0, 180.0), 0.9)
    larger_false = Detection((0.0, 0.0, 300.0, 300.0), 0.62)
    assert main_face([larger_false, face]) is face
    small, large = Detection((0.0, 0.0, 50.0, 50.0)), Detection((0.0, 0.0, 90.0, 90.0))
    assert main_face([small, large]) is large
