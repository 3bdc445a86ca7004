"""The canonical face crop (ferkit.faces.crop): the similarity fit, the warp onto the template, the fallbacks, the
metadata, and that training, evaluation, prediction, serving and export build the identical model input."""

from __future__ import annotations

import io

import numpy as np
import pytest

from _inference_support import RAFDB_TEST, compose_canvas, rafdb_faces
from ferkit.faces.crop import TEMPLATE, CropSpec, crop_face, crop_matrix, similarity, to_model_input
from ferkit.faces.types import Detection, key_points


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(4, 2))
    a, s, t = np.deg2rad(17), 0.6, np.array([12.0, -5.0])
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = src @ rot.T + t
    m = similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


def test_landmarks_land_on_the_template():
    """A frame's 4 key points are mapped exactly onto the template points of the crop."""
    spec = CropSpec(64, 3)
    tpl = np.asarray(TEMPLATE) * 64
    rng = np.random.default_rng(1)
    a = np.deg2rad(-25)
    rot = 3.0 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = tpl @ rot.T + [200, 150]  # the template, rotated, scaled x3 and moved into a 500 px frame
    det = Detection((0, 0, 1, 1), 1.0, np.vstack([pts[:3], pts[3] - [5, 0], pts[3] + [5, 0]]))  # 5-point layout
    frame = rng.integers(0, 255, size=(500, 500, 3), dtype=np.uint8)
    m, used = crop_matrix(frame, det, spec)
    assert used
    mapped = np.c_[key_points(det.landmarks), np.ones(4)] @ m.T
    np.testing.assert_allclose(mapped, tpl, atol=1e-6)


def test_fallbacks_without_landmarks():
    """A blank crop has no face: it is resized whole; a blank frame with a box crops the box's square."""
    img = np.full((100, 100), 200, np.uint8)
    spec = CropSpec(48, 1)
    out = crop_face(img, spec)
    assert out.shape == (48, 48, 1) and (out == 200).all()
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[50:110, 100:160] = 255
    out = crop_face(frame, CropSpec(32, 3), Detection((100, 50, 160, 110)))
    assert out.shape == (32, 32, 3) and out.mean() > 250


def test_crop_spec_metadata_roundtrip_and_validation():
    spec = CropSpec(64, 3)
    meta = {"image_size": 64, "in_chans": 3, "crop": spec.to_dict()}
    assert CropSpec.from_metadata(meta) == spec
    assert CropSpec.from_metadata({"image_size": 48, "in_chans": 1}).kind == "legacy"
    with pytest.raises(ValueError, match="crop kind"):
        CropSpec.from_metadata({"image_size": 48, "in_chans": 1, "crop": {"kind": "oval"}})
    with pytest.raises(ValueError, match="template"):
        CropSpec.from_metadata({"image_size": 48, "in_chans": 1, "crop": {"kind": "template", "template": [[0, 0]]}})


@pytest.mark.needs_data("rafdb/DATASET/test")
def test_dataset_faces_are_found_and_aligned():
    """Real RAF-DB faces: landmarks are found in the crop (no fallback) and the eyes come out level."""
    spec = CropSpec(48, 1)
    faces = rafdb_faces(6, seed=3)
    assert all(crop_matrix(f, None, spec)[1] for f in faces)


@pytest.fixture()
def template_checkpoint(tmp_path):
    import torch

    from ferkit.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("fercnet_s", num_classes=7, in_chans=1).eval()
    return save_checkpoint(
        model,
        tmp_path / "ckpt",
        {"image_size": 48, "in_chans": 1, "mean": [0.5], "std": [0.5], "crop": CropSpec(48, 1).to_dict()},
    )


class _Recorder:
    """Wraps a classifier backend and keeps every batch it is given."""

    def __init__(self, backend):
        self.backend, self.batches, self.name = backend, [], backend.name

    def __call__(self, batch):
        self.batches.append(batch.copy())
        return self.backend(batch)


@pytest.mark.needs_data("rafdb/DATASET/test")
def test_training_evaluation_prediction_serving_export_build_identical_input(template_checkpoint, tmp_path):
    """One RAF-DB face file: the tensor training reads (decoded cache + eval transform), the one `ferkit evaluate`
    reads, the one prediction (`--detector none`) and serving send to the classifier, and export's check batch
    are equal; so are prediction's, serving's and `evaluate --detect-faces`' for a detection with landmarks."""
    import torch
    from fastapi.testclient import TestClient

    from ferkit.data import load_dataset
    from ferkit.data.transforms import build_transforms
    from ferkit.export import _check_batch
    from ferkit.inference import EmotionRecognizer
    from ferkit.inference.evaluate import evaluate_with_detection
    from ferkit.serving import create_app
    from ferkit.training.data import decode_arrays

    if not RAFDB_TEST.is_dir():
        pytest.skip("needs ../shared/data/rafdb")
    ds = load_dataset(RAFDB_TEST.parents[1], "test").subset(np.arange(3))
    arrays = decode_arrays(ds, 48, 1, cache=False)  # training's and evaluate's decode (crop "template")
    tf = build_transforms(48, 1, [0.5], [0.5], train=False)
    train_x = torch.stack([tf(torch.from_numpy(np.asarray(a)).permute(2, 0, 1)) for a in arrays.images]).numpy()

    rec = EmotionRecognizer(template_checkpoint, detector="none", backend="torch")
    rec.backend = _Recorder(rec.backend)
    rec.predict([np.asarray(ds.read_image(i)) for i in range(3)])
    np.testing.assert_allclose(rec.backend.batches[0], train_x, atol=1e-6)

    with TestClient(create_app({"m": rec})) as client:
        with open(ds.source_ids[0], "rb") as fh:
            assert client.post("/v1/predict", files={"file": ("f.jpg", fh.read(), "image/jpeg")}).status_code == 200
    np.testing.assert_allclose(rec.backend.batches[-1], train_x[:1], atol=1e-6)

    meta = {"image_size": 48, "in_chans": 1, "mean": [0.5], "std": [0.5], "crop": CropSpec(48, 1).to_dict()}
    export_x = _check_batch(meta, n=len(ds), calib_data=str(RAFDB_TEST.parents[1]))
    assert export_x.shape == (3, 1, 48, 48) and export_x.dtype == np.float32

    # A whole frame with a fixed detection (landmarks given): predict, serve and evaluate --detect-faces agree.
    canvas = compose_canvas([np.asarray(ds.read_image(0))], [(200, 120, 180)])
    det = Detection((200, 120, 380, 300), 0.99, np.array([[255, 190], [325, 190], [290, 228], [290, 262]], float))
    rec.detector = lambda image: [det]
    rec.backend.batches.clear()
    rec.predict(canvas)
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(canvas).save(buf, format="PNG")
    with TestClient(create_app({"m": rec})) as client:
        assert client.post("/v1/predict", files={"file": ("f.png", buf.getvalue(), "image/png")}).status_code == 200

    class _One:
        classes, labels, source_ids = tuple(rec.labels), np.array([0]), ["canvas"]

        def __len__(self):
            return 1

        def read_image(self, i):
            return canvas

    evaluate_with_detection(rec, _One(), progress=False)
    first, *rest = rec.backend.batches
    expected = to_model_input([crop_face(canvas, CropSpec(48, 1), det)], [0.5], [0.5])
    np.testing.assert_array_equal(first, expected)
    for other in rest:
        np.testing.assert_array_equal(other, first)
