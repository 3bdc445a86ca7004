"""Unit tests of the inference building blocks owned with export: result objects, IoU tracking + EMA smoothing,
alignment/preprocessing, classifier backends (torch vs ONNX Runtime agreement, model resolution errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ferkit.faces.crop import CropSpec, crop_face, to_model_input
from ferkit.faces.types import Detection
from ferkit.inference.backends import load_classifier, resolve_model_path, softmax
from ferkit.inference.results import FaceResult, FrameResult
from ferkit.inference.tracking import FaceTracker, box_iou, resolve_smoothing
from ferkit.labels import EMOTIONS
from ferkit.models import create_model, save_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("fercnet_s").eval()
    with torch.no_grad():
        model.fc.weight.mul_(20)  # spread the logits of the random head
    return save_checkpoint(model, tmp_path_factory.mktemp("ck") / "m", {"temperature": 2.0})


def _face(probs: dict[str, float]) -> FaceResult:
    label = max(probs, key=probs.get)
    return FaceResult((10, 20, 60, 80), label, probs[label], probs, [[20.0, 40.0]] * 5, 3)


def test_face_result_top_and_dict():
    probs = dict(zip(EMOTIONS, [0.05, 0.05, 0.1, 0.5, 0.2, 0.05, 0.05]))
    face = _face(probs)
    assert face.top(2) == [("happy", 0.5), ("neutral", 0.2)]
    d = json.loads(json.dumps(face.to_dict()))  # JSON-serialisable
    assert d["label"] == "happy" and d["box"] == [10, 20, 60, 80] and d["track_id"] == 3
    assert abs(sum(d["probs"].values()) - 1) < 1e-6


def test_frame_plot_draws_box_and_bar():
    img = np.zeros((120, 100, 3), np.uint8)
    frame = FrameResult("a.jpg", 0, None, (100, 120), [_face(dict(zip(EMOTIONS, [0, 0, 0, 1.0, 0, 0, 0])))], None, img)
    out = frame.plot()
    assert out.shape == img.shape and out.dtype == np.uint8 and not img.any()  # input untouched
    assert out[20:80, 10].any() and out[40:78, 30].sum() == 0  # box edge drawn, inside (below the tag) empty
    assert json.loads(json.dumps(frame.to_dict()))["faces"][0]["label"] == "happy"
    with pytest.raises(ValueError, match="keep_images"):
        FrameResult("v.mp4", 5, 0.2, (10, 10), []).plot()


def test_box_iou():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])


def test_tracker_keeps_identities_of_moving_faces():
    tracker = FaceTracker(alpha=None)
    probs = np.full((2, 7), 1 / 7)
    ids0, _ = tracker.update(np.array([[0, 0, 50, 50], [200, 0, 250, 50]]), probs)
    for step in range(1, 10):  # both move 4 px per frame; the detector returns them in swapped order
        boxes = np.array([[200 - 4 * step, 0, 250 - 4 * step, 50], [4 * step, 0, 50 + 4 * step, 50]])
        ids, _ = tracker.update(boxes, probs)
        assert ids == [ids0[1], ids0[0]]
    new_ids, _ = tracker.update(np.array([[400, 300, 450, 350]]), probs[:1])
    assert new_ids[0] not in ids0  # a face appearing elsewhere gets a new id


def test_ema_smoothing_reduces_label_flips():
    rng = np.random.default_rng(0)
    base = np.array([0.1, 0.0, 0.0, 0.45, 0.4, 0.05, 0.0])
    noisy = np.clip(base + rng.normal(0, 0.08, size=(60, 7)), 1e-3, None)
    noisy /= noisy.sum(1, keepdims=True)
    flips = {}
    for alpha in (None, 0.3):
        tracker = FaceTracker(alpha=alpha)
        labels = [int(tracker.update(np.array([[0, 0, 50, 50]]), p[None])[1][0].argmax()) for p in noisy]
        flips[alpha] = sum(a != b for a, b in zip(labels, labels[1:]))
    assert flips[None] >= 5 and flips[0.3] < flips[None] / 2


def test_resolve_smoothing():
    assert resolve_smoothing("auto") == resolve_smoothing("ema") > 0
    assert resolve_smoothing("none") is None and resolve_smoothing(None) is None
    assert resolve_smoothing(0.5) == 0.5
    with pytest.raises(ValueError, match="smoothing"):
        resolve_smoothing(1.5)
    with pytest.raises(ValueError, match="smoothing"):
        resolve_smoothing("window")


def test_legacy_crop_levels_eyes_and_model_input():
    """Checkpoints without crop metadata keep their crop: box + 15% margin, rotated so the eyes are level."""
    img = np.zeros((200, 200, 3), np.uint8)
    img[90:110, 40:160] = 255  # a bright bar tilted by the eye line below
    marks = np.array([[60, 80], [140, 120], [100, 120], [70, 150], [130, 150]], np.float32)
    spec = CropSpec.from_metadata({"image_size": 48, "in_chans": 3})
    assert spec.kind == "legacy"
    crop = crop_face(img, spec, Detection((40, 40, 160, 160), 0.9, marks))
    assert crop.shape == (48, 48, 3)
    level = crop_face(img, spec, Detection((40, 40, 160, 160), 0.9, None))
    rows = level[:, :, 0].mean(1)
    assert rows.max() > 200 and (rows > 128).sum() <= 10  # unrotated: the bar stays horizontal
    assert (crop[:, :, 0].mean(1) > 128).sum() < (rows > 128).sum()  # rotated by 26.6 deg: the bar is spread
    gray = crop_face(img, CropSpec(48, 1, "legacy"))
    batch = to_model_input([gray] * 3, [0.5], [0.5])
    assert batch.shape == (3, 1, 48, 48) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert to_model_input([crop], [0.5, 0.5, 0.5], [0.25] * 3).shape == (1, 3, 48, 48)


def test_softmax_temperature():
    p1, p2 = softmax(np.array([[2.0, 0.0]])), softmax(np.array([[2.0, 0.0]]), 2.0)
    assert p1.sum() == pytest.approx(1) and p1[0, 0] > p2[0, 0] > 0.5


def test_torch_and_onnx_backends_agree(checkpoint):
    torch_be, meta, _ = load_classifier(checkpoint, "torch")
    onnx_be, _, _ = load_classifier(checkpoint, "onnx")
    auto_be, _, _ = load_classifier(checkpoint, "auto")
    assert (torch_be.name, onnx_be.name, auto_be.name) == ("torch", "onnx", "onnx")
    assert meta["temperature"] == 2.0 and onnx_be.temperature == 2.0
    x = np.random.default_rng(0).standard_normal((6, 1, 48, 48)).astype(np.float32)
    pt, po = torch_be(x), onnx_be(x)
    np.testing.assert_allclose(pt, po, atol=1e-5)
    np.testing.assert_allclose(pt.sum(1), 1, atol=1e-5)


def test_exported_onnx_file_loads_with_metadata(checkpoint, tmp_path):
    from ferkit.export import export_model

    path = export_model(checkpoint, "onnx", tmp_path / "m.onnx", num_check=4).path
    be, meta, resolved = load_classifier(path, "auto")
    assert be.name == "onnx" and meta["labels"] == list(EMOTIONS) and resolved == path
    with pytest.raises(ValueError, match="ONNX export"):
        load_classifier(path, "torch")
    with pytest.raises(ValueError, match="auto.*torch.*onnx"):
        load_classifier(checkpoint, "tensorrt")


def test_model_resolution_errors(tmp_path, monkeypatch):
    import ferkit.inference.backends as backends

    monkeypatch.setattr(backends, "DEFAULT_MODEL_DIR", tmp_path / "assets" / "default")
    with pytest.raises(FileNotFoundError, match="default model is missing.*model=PATH"):
        resolve_model_path(None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model_path(tmp_path / "nope")
