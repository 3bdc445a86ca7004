"""Large JPEGs decoded smaller (libjpeg DCT scaling, ``decode_image(draft=...)``) when the faces searched for stay
larger than the model's input: results stay in the file's pixels and match a full decode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from _inference_support import box_iou, compose_canvas, make_checkpoint, rafdb_faces
from ferkit.inference import EmotionRecognizer
from ferkit.inference.sources import decode_image, iter_frames


def _jpeg(path, w, h, orientation=None):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(path, quality=90, exif=exif)
    return path


def test_draft_decodes_jpegs_smaller_and_keeps_the_file_size(tmp_path):
    asked = []

    def half(w, h):
        asked.append((w, h))
        return 2

    image, size = decode_image(_jpeg(tmp_path / "a.jpg", 2000, 1500), draft=half)
    assert image.shape == (750, 1000, 3) and size == (2000, 1500) and asked == [(2000, 1500)]
    # EXIF orientation 6 (rotated 90 degrees): the size is the upright one, as the image is
    image, size = decode_image(_jpeg(tmp_path / "r.jpg", 2000, 1500, orientation=6), draft=half)
    assert image.shape == (1000, 750, 3) and size == (1500, 2000)
    # Only libjpeg's own factors, only JPEGs; without draft a full decode
    assert decode_image(tmp_path / "a.jpg", draft=lambda w, h: 3)[0].shape == (1500, 2000, 3)
    Image.open(tmp_path / "a.jpg").save(tmp_path / "a.png")
    assert decode_image(tmp_path / "a.png", draft=half)[0].shape == (1500, 2000, 3)
    (frame,) = iter_frames(str(tmp_path / "a.jpg"), draft=half)
    assert frame.size == (2000, 1500) and frame.scale == (0.5, 0.5)
    (frame,) = iter_frames(str(tmp_path / "a.jpg"))
    assert frame.size == (2000, 1500) and frame.scale == (1.0, 1.0)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"), "simple_cnn")  # 48 px input


def test_draft_factor_keeps_the_smallest_face_as_large_as_the_model_input(ckpt):
    rec = EmotionRecognizer(ckpt, backend="torch")
    assert rec.image_size == 48
    assert rec.draft_factor(4000, 3000) == 2  # faces from 100 px: 50 px at 1/2, 25 px at 1/4
    assert rec.draft_factor(640, 480) == 1  # faces from 64 px
    assert EmotionRecognizer(ckpt, backend="torch", min_face=400).draft_factor(4000, 3000) == 8
    assert EmotionRecognizer(ckpt, backend="torch", detector="haar").draft_factor(4000, 3000) == 1  # cannot say


def test_prediction_on_a_drafted_photo_matches_the_full_decode(ckpt, tmp_path):
    """A 3200 x 2400 JPEG with three faces of 110-130 px: decoded at 1/2 unless the images are kept (annotated
    output keeps the file's size); the same faces, boxes in the file's pixels, the same labels."""
    import cv2

    layout = [(300, 400, 110), (1500, 1100, 120), (2700, 2000, 130)]
    photo = cv2.resize(compose_canvas([], [], size=(800, 600), seed=3), (3200, 2400))
    for (x, y, s), face in zip(layout, rafdb_faces(3, seed=3)):
        photo[y : y + s, x : x + s] = cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)
    path = tmp_path / "big.jpg"
    Image.fromarray(photo).save(path, quality=95)
    rec = EmotionRecognizer(ckpt, backend="torch")
    assert rec.draft_factor(3200, 2400) == 2
    (full,) = rec.predict(path, keep_images=True)
    (small,) = rec.predict(path)
    assert full.image.shape == (2400, 3200, 3) and full.frame_size == small.frame_size == (3200, 2400)
    truth = [(x, y, x + s, y + s) for x, y, s in layout]
    for fr in (full, small):
        assert len(fr.faces) == 3
        assert all(max(box_iou(t, f.box) for f in fr.faces) >= 0.5 for t in truth)
    for a in full.faces:
        b = max(small.faces, key=lambda f: box_iou(a.box, f.box))
        assert box_iou(a.box, b.box) >= 0.9
        assert a.label == b.label and abs(a.score - b.score) < 0.1
        assert np.abs(np.subtract(a.landmarks, b.landmarks)).max() < 0.05 * (a.box[2] - a.box[0])
