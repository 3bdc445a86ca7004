"""What users plug in: DataFrames and notebook tables of results, BGR arrays from OpenCV, CLI help and messages."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from tests._inference_support import make_checkpoint

from ferkit.inference.results import FaceResult, FrameResult, to_pandas

LABELS = ("angry", "happy", "sad")


def _face(box, label, track_id=None) -> FaceResult:
    probs = {lab: (0.8 if lab == label else 0.1) for lab in LABELS}
    return FaceResult(box, label, 0.8, probs, None, track_id, 0.9)


def _frames() -> list[FrameResult]:
    return [
        FrameResult("a.jpg", 0, None, (64, 48), [_face((1, 2, 30, 40), "happy"), _face((5, 6, 7, 8), "sad")]),
        FrameResult("b.jpg", 0, None, (64, 48), []),
        FrameResult("v.mp4", 3, 0.125, (64, 48), [_face((10, 11, 12, 13), "angry", track_id=4)]),
    ]


def test_to_pandas_one_row_per_face():
    pytest.importorskip("pandas")
    df = to_pandas(_frames())
    assert len(df) == 3  # the face-less frame adds no row
    assert list(df.columns[:12]) == [
        "source",
        "frame",
        "timestamp",
        "face",
        "track_id",
        "x1",
        "y1",
        "x2",
        "y2",
        "label",
        "score",
        "detection_score",
    ]
    assert list(df.columns[12:]) == ["p_angry", "p_happy", "p_sad"]
    assert df.loc[1, ["x1", "y1", "x2", "y2"]].tolist() == [5, 6, 7, 8] and df.loc[1, "label"] == "sad"
    assert df["track_id"].isna().tolist() == [True, True, False] and df.loc[2, "track_id"] == 4
    assert df.loc[2, "timestamp"] == 0.125 and df.loc[0, "p_happy"] == pytest.approx(0.8)
    assert len(_frames()[0].to_pandas()) == 2
    empty = to_pandas([FrameResult("b.jpg")])
    assert len(empty) == 0 and "label" in empty.columns


def test_to_pandas_without_pandas_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ModuleNotFoundError
    with pytest.raises(ImportError, match="pip install pandas"):
        to_pandas(_frames())


def test_frame_result_html_table():
    html = _frames()[0]._repr_html_()
    assert html.count("<tr>") == 3 and "happy 0.80" in html and "1, 2, 30, 40" in html and "64x48" in html
    assert "no face found" in _frames()[1]._repr_html_()
    assert "#4" in _frames()[2]._repr_html_() and "0.12 s" in _frames()[2]._repr_html_()
    bad = FrameResult("<x&y>", error="not an image")
    assert "&lt;x&amp;y&gt;" in bad._repr_html_()


def test_bgr_arrays_match_rgb(tmp_path):
    from ferkit.inference import EmotionRecognizer, iter_frames

    rgb = np.random.default_rng(0).integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # a strongly red image: a channel mix-up changes it
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    frame = next(iter_frames(bgr, color="bgr"))
    np.testing.assert_array_equal(frame.image, rgb)
    rec = EmotionRecognizer(make_checkpoint(tmp_path / "ck", arch="simple_cnn"), detector="none", backend="torch")
    a, b = rec.predict(rgb)[0].faces[0], rec.predict(bgr, color="bgr")[0].faces[0]
    assert a.probs == pytest.approx(b.probs)
    (c,) = [fr.faces[0] for fr in rec.iter_predict([bgr], color="bgr")]
    assert c.probs == pytest.approx(a.probs)
    with pytest.raises(ValueError, match="color='hsv'.*'bgr'"):
        rec.predict(rgb, color="hsv")


def test_train_overrides_after_options():
    from ferkit.cli import build_parser, parse_args

    args = parse_args(build_parser(), ["train", "c.yaml", "a=1", "--out", "runs", "b.c=2", "--name", "x", "d=3"])
    assert args.overrides == ["a=1", "b.c=2", "d=3"] and args.out == "runs" and args.name == "x"
    with pytest.raises(SystemExit):
        parse_args(build_parser(), ["predict", "photo.jpg", "extra.jpg"])  # other verbs still refuse strays
    with pytest.raises(SystemExit):
        parse_args(build_parser(), ["train", "c.yaml", "--out", "runs", "--bogus"])


@pytest.mark.parametrize("verb", ["predict", "serve", "export", "train", "evaluate", "explain", "compare"])
def test_help_shows_defaults(verb, capsys):
    from ferkit.cli import main

    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default" in text
    if verb == "serve":
        assert "(default: 8000)" in text and "(default: auto)" in text  # --port, --backend had no help text
    if verb == "predict":
        assert "(default: 64)" in text  # --batch-size


def test_cli_messages_name_flags():
    import argparse

    from ferkit.cli import cli_message

    args = argparse.Namespace(verb="predict", backend="auto", model=None, batch_size=64)
    text = cli_message(
        "m.onnx is an ONNX export; use backend='onnx' (or 'auto'), or pass model=PATH; lower data.batch_size=64.", args
    )
    assert text == (
        "m.onnx is an ONNX export; use --backend onnx (or 'auto'), or pass --model PATH; lower data.batch_size=64."
    )


def test_verbs_check_their_extra_before_running(monkeypatch, capsys, tmp_path):
    from ferkit.cli import main

    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    assert main(["evaluate", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "ferkit evaluate needs sklearn" in err and "pip install 'ferkit[train]'" in err
