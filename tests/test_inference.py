"""EmotionRecognizer: every source type, result objects, ONNX vs torch, video tracking/smoothing, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from _inference_support import compose_canvas, make_checkpoint, make_video, rafdb_faces
from ferkit.inference import EmotionRecognizer, iter_frames
from ferkit.inference.results import Explanation
from ferkit.inference.tracking import FaceTracker

TWO_FACES = [(40, 120, 160), (380, 100, 170)]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"), "simple_cnn")


@pytest.fixture(scope="module")
def rec(ckpt):
    return EmotionRecognizer(ckpt, backend="torch")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder: two photos (one in a subfolder), a faceless image, an unreadable .jpg and a text note."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    canvas = compose_canvas(rafdb_faces(2), TWO_FACES)
    Image.fromarray(canvas).save(root / "two.jpg", quality=95)
    Image.fromarray(compose_canvas(rafdb_faces(1, seed=5), [(200, 100, 200)])).save(root / "sub" / "one.png")
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(root / "blank.png")
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "notes.txt").write_text("ignored")
    return root


def test_image_results_contract(rec, photos):
    (fr,) = rec.predict(photos / "two.jpg", keep_images=True)
    assert fr.error is None and fr.frame_size == (640, 480) and fr.timestamp is None
    assert fr.image_size == fr.frame_size  # deprecated alias
    assert (fr.kind, fr.stream, fr.fps) == ("image", None, None)
    assert fr.to_dict()["frame_size"] == [640, 480] and "image_size" not in fr.to_dict()
    assert len(fr.faces) == 2
    for face in fr.faces:
        assert set(face.probs) == set(rec.labels) and abs(sum(face.probs.values()) - 1) < 1e-5
        assert face.label == max(face.probs, key=face.probs.get) and face.score == face.probs[face.label]
        top = face.top(3)
        assert len(top) == 3 and top[0][0] == face.label and top[0][1] >= top[1][1] >= top[2][1]
        assert face.track_id is None and len(face.landmarks or [0] * 6) in (5, 6)  # CenterFace 5, BlazeFace 6
    json.dumps(fr.to_dict())
    drawn = fr.plot()
    assert drawn.shape == (480, 640, 3) and not np.array_equal(drawn, fr.image)


def test_every_source_type_gives_the_same_faces(rec, photos):
    path = photos / "two.jpg"
    array = np.asarray(Image.open(path).convert("RGB"))
    by_path = rec.predict(path)[0]
    for source in (str(path), array, Image.open(path), [array]):
        fr = rec.predict(source)[0]
        assert fr.kind == ("image" if isinstance(source, str) else "array")  # PIL images count as arrays
        assert [f.box for f in fr.faces] == [f.box for f in by_path.faces]
        np.testing.assert_allclose([f.score for f in fr.faces], [f.score for f in by_path.faces], atol=1e-5)


def test_folder_is_recursive_lists_bad_files_and_reports_no_face(rec, photos):
    frames = rec.predict(photos)
    names = sorted(fr.source.split("/")[-1] for fr in frames)
    assert names == ["blank.png", "broken.jpg", "one.png", "two.jpg"]  # notes.txt is not an image
    by_name = {fr.source.split("/")[-1]: fr for fr in frames}
    assert by_name["broken.jpg"].error and not by_name["broken.jpg"].faces
    assert by_name["blank.png"].error is None and by_name["blank.png"].faces == []
    assert len(by_name["two.jpg"].faces) == 2 and len(by_name["one.png"].faces) == 1


def test_glob_source(rec, photos):
    frames = rec.predict(str(photos / "**" / "*.png"))
    assert sorted(fr.source.split("/")[-1] for fr in frames) == ["blank.png", "one.png"]


def test_batches_across_frames_match_single_calls(ckpt, photos):
    small = EmotionRecognizer(ckpt, backend="torch", batch_size=1)
    big = EmotionRecognizer(ckpt, backend="torch", batch_size=64)
    a, b = small.predict(photos), big.predict(photos)
    for fa, fb in zip(a, b):
        np.testing.assert_allclose([f.score for f in fa.faces], [f.score for f in fb.faces], atol=1e-5)


def test_onnx_backend_agrees_with_torch(ckpt, rec, photos):
    onnx_rec = EmotionRecognizer(ckpt, backend="onnx")
    assert onnx_rec.model_info["backend"] == "onnx" and rec.model_info["backend"] == "torch"
    ta, oa = rec.predict(photos / "two.jpg")[0], onnx_rec.predict(photos / "two.jpg")[0]
    diff = max(abs(f.probs[k] - g.probs[k]) for f, g in zip(ta.faces, oa.faces) for k in rec.labels)
    assert diff < 1e-4


def test_video_frames_timestamps_and_tracking(rec, tmp_path):
    boxes = make_video(tmp_path / "clip.mp4", n_frames=20, fps=10.0)
    frames = rec.predict(tmp_path / "clip.mp4")
    assert len(frames) == 20
    np.testing.assert_allclose([f.timestamp for f in frames], np.arange(20) / 10.0, atol=1e-6)
    assert [f.frame_index for f in frames] == list(range(20))
    assert {(f.kind, f.stream) for f in frames} == {("video", str(tmp_path / "clip.mp4"))}
    assert all(f.fps == pytest.approx(10.0) for f in frames)
    ids_left, ids_right = set(), set()
    for fr, _truth in zip(frames, boxes):
        assert len(fr.faces) == 2
        for face in fr.faces:
            (ids_left if face.box[0] < 160 else ids_right).add(face.track_id)
    assert len(ids_left) == 1 and len(ids_right) == 1 and ids_left != ids_right


def _flips(frames) -> int:
    labels: dict[int, list[str]] = {}
    for fr in frames:
        for face in fr.faces:
            labels.setdefault(face.track_id, []).append(face.label)
    return sum(a != b for seq in labels.values() for a, b in zip(seq, seq[1:]))


def test_smoothing_reduces_label_flips(ckpt, tmp_path):
    make_video(tmp_path / "noisy.mp4", n_frames=30, fps=15.0, noise=25.0)
    raw = EmotionRecognizer(ckpt, backend="torch", smoothing="none").predict(tmp_path / "noisy.mp4")
    smooth = EmotionRecognizer(ckpt, backend="torch", smoothing="auto").predict(tmp_path / "noisy.mp4")
    assert _flips(smooth) <= _flips(raw)
    # Deterministic check of the smoother itself: a face whose true class is 0 with noisy probabilities.
    rng = np.random.default_rng(0)
    noisy = np.clip(np.array([0.4, 0.3, 0.3]) + rng.normal(0, 0.12, (200, 3)), 1e-3, None)
    noisy /= noisy.sum(1, keepdims=True)
    box = np.array([[0, 0, 10, 10]])
    runs = {}
    for alpha in (None, 0.3):
        tracker = FaceTracker(alpha)
        runs[alpha] = [int(tracker.update(box, p[None])[1][0].argmax()) for p in noisy]
    flips = {a: sum(x != y for x, y in zip(r, r[1:])) for a, r in runs.items()}
    assert flips[0.3] < flips[None] / 2


def test_detect_every_reuses_boxes(ckpt, tmp_path):
    make_video(tmp_path / "clip.mp4", n_frames=6, fps=10.0)
    frames = EmotionRecognizer(ckpt, backend="torch", detect_every=3).predict(tmp_path / "clip.mp4")
    assert [f.faces[0].box for f in frames[:3]] == [frames[0].faces[0].box] * 3
    assert frames[3].faces[0].box != frames[0].faces[0].box


def test_detection_on_worker_threads_gives_the_sequential_results(ckpt, tmp_path, photos, monkeypatch):
    """Frames are detected on read-ahead worker threads (BlazeFace is parallel_safe); the results, their order and
    detect_every's reuse of boxes are those of detecting each frame in turn on the calling thread."""
    make_video(tmp_path / "clip.mp4", n_frames=8, fps=10.0)
    rec = EmotionRecognizer(ckpt, backend="torch", detect_every=2)
    assert rec.detect_workers() >= 1

    def run():
        files = [photos / "two.jpg", photos / "sub" / "one.png", photos / "blank.png"] * 3
        out = rec.predict(files) + rec.predict(tmp_path / "clip.mp4")
        return [(f.source, f.frame_index, [(x.box, x.label) for x in f.faces]) for f in out]

    parallel = run()
    monkeypatch.setattr(EmotionRecognizer, "detect_workers", lambda self: 0)
    assert parallel == run()
    assert [len(faces) for _, _, faces in parallel[:3]] == [2, 1, 0]


def test_explain_gradcam(rec, photos):
    maps = rec.explain(photos / "two.jpg", method="gradcam")
    assert len(maps) == 2
    for m in maps:
        assert m["heatmap"].shape == (48, 48) and 0 <= m["heatmap"].min() and m["heatmap"].max() <= 1
        assert m["overlay"].shape == (48, 48, 3) and m["method"] == "gradcam"
        assert isinstance(m, Explanation) and m.heatmap_u8().dtype == np.uint8
        assert set(m.to_dict()) == {"box", "label", "score", "method"}
    with pytest.raises(ValueError, match="CBAM"):
        rec.explain(photos / "two.jpg", method="cbam")


def test_none_detector_classifies_the_whole_crop(ckpt):
    face = rafdb_faces(1)[0]
    (fr,) = EmotionRecognizer(ckpt, detector="none", backend="torch").predict(face)
    assert len(fr.faces) == 1 and fr.faces[0].box == (0, 0, 100, 100)


# -- bad input ---------------------------------------------------------------------------------------------------
def test_bad_inputs_give_clear_errors(rec, photos, tmp_path):
    with pytest.raises(ValueError, match="not a readable image"):
        rec.predict(photos / "broken.jpg")
    with pytest.raises(ValueError, match="not a readable image"):
        rec.predict(photos / "notes.txt")  # a non-image file given directly
    (tmp_path / "fake.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError, match="Cannot decode video"):
        rec.predict(tmp_path / "fake.mp4")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rec.predict(tmp_path / "missing.jpg")
    with pytest.raises(FileNotFoundError, match="No image or video"):
        rec.predict(str(tmp_path / "*.gif"))
    with pytest.raises(RuntimeError, match="No webcam at index 57"):
        rec.predict(57)
    with pytest.raises(ValueError, match="uint8"):
        rec.predict(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="Unsupported source"):
        list(iter_frames(3.5))


def test_bad_constructor_arguments(ckpt, monkeypatch, tmp_path):
    import ferkit.inference.backends as backends

    monkeypatch.setattr(backends, "DEFAULT_MODEL_DIR", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="default model is missing"):
        EmotionRecognizer()
    with pytest.raises(ValueError, match="auto, blazeface, mtcnn, centerface, haar, none"):
        EmotionRecognizer(ckpt, detector="retinaface")
    with pytest.raises(ValueError, match="backend"):
        EmotionRecognizer(ckpt, backend="tensorrt")
    with pytest.raises(ValueError, match="smoothing"):
        EmotionRecognizer(ckpt, smoothing="lots")
