"""`ferkit predict` outputs (table, JSON, CSV, annotated files, timeline) and evaluate_with_detection."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from _inference_support import compose_canvas, make_checkpoint, make_video, rafdb_faces
from ferkit.cli import main


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"), "simple_cnn")


def test_predict_folder_writes_json_csv_and_annotated_images(ckpt, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(compose_canvas(rafdb_faces(2), [(40, 120, 160), (380, 100, 170)])).save(src / "two.jpg")
    Image.fromarray(np.full((100, 100, 3), 90, np.uint8)).save(src / "blank.png")
    (src / "bad.png").write_text("not a png")
    out = tmp_path / "out"
    rc = main(
        [
            "predict",
            str(src),
            "--model",
            str(ckpt),
            "--top-k",
            "3",
            "--json",
            str(out / "r.json"),
            "--csv",
            str(out / "r.csv"),
            "--save",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 3 and "1 of 3 input(s) could not be read" in captured.err  # the rest is still written
    assert "no face found" in text and "unreadable: " in text and "bad.png" in text
    rows = list(csv.DictReader(open(out / "r.csv")))
    assert [r["status"] for r in rows].count("ok") == 2 and len(rows) == 4
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(
        r["top3"]
        and abs(
            sum(float(r[f"p_{k}"]) for k in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")) - 1
        )
        < 1e-3
        for r in ok
    )
    data = json.loads((out / "r.json").read_text())
    assert data["model"]["arch"] == "simple_cnn" and len(data["frames"]) == 3
    assert (out / "two.jpg").is_file() and (out / "blank.png").is_file()


def test_predict_video_writes_csv_with_timestamps_video_and_timeline(ckpt, tmp_path, capsys):
    make_video(tmp_path / "clip.mp4", n_frames=12, fps=12.0)
    out = tmp_path / "out"
    assert (
        main(
            [
                "predict",
                str(tmp_path / "clip.mp4"),
                "--model",
                str(ckpt),
                "--csv",
                str(out / "v.csv"),
                "--save",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(out / "v.csv")))
    assert len(rows) == 24 and {r["track_id"] for r in rows} == {"1", "2"}
    assert float(rows[-1]["timestamp"]) == pytest.approx(11 / 12, abs=1e-3)
    assert (out / "clip.mp4").stat().st_size > 1000 and (out / "clip_timeline.png").is_file()
    assert "face #1: 12 frames" in capsys.readouterr().out
    assert_browser_playable(out / "clip.mp4", n_frames=12, size=(320, 240), fps=12.0)


def assert_browser_playable(path, n_frames: int, size: tuple[int, int], fps: float) -> None:
    """H.264 in yuv420p (what every browser decodes in an MP4; mp4v/MPEG-4 Part 2 is not), every frame, the rate."""
    import av

    with av.open(str(path)) as container:
        (stream,) = container.streams.video
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == size
        assert float(stream.average_rate) == pytest.approx(fps, rel=1e-3)
        assert sum(1 for _ in container.decode(stream)) == n_frames
    # OpenCV (how ferkit reads videos) decodes it too.
    import cv2

    cap = cv2.VideoCapture(str(path))
    assert cap.read()[0] and int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") in (b"avc1", b"h264", b"H264")
    cap.release()


def test_annotated_video_with_odd_size_is_padded_to_even(tmp_path):
    from ferkit.inference.outputs import H264Writer

    writer = H264Writer(tmp_path / "odd.mp4", 29.97, (65, 47))
    for i in range(5):
        writer.write(np.full((47, 65, 3), 40 * i, np.uint8))
    writer.release()
    assert_browser_playable(tmp_path / "odd.mp4", n_frames=5, size=(66, 48), fps=29.97)


def test_predict_errors_are_one_line(ckpt, tmp_path, capsys):
    assert main(["predict", "99", "--model", str(ckpt)]) == 2
    assert "No webcam at index 99" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.jpg"), "--model", str(ckpt)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predict_checks_destinations_before_any_work(tmp_path, capsys):
    image = tmp_path / "a.png"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(image)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    # The model does not exist: a bad destination must be reported first, before anything loads.
    for flags, message in (
        (["--json", str(tmp_path)], "is a folder"),
        (["--save", str(a_file)], "is a file"),
        (["--csv", str(a_file / "r.csv")], f"Cannot write to {a_file}"),
    ):
        assert main(["predict", str(image), "--model", str(tmp_path / "no_model"), *flags]) == 2
        assert message in capsys.readouterr().err


def test_evaluate_with_detection_counts_missing_faces_as_wrong(ckpt, tmp_path):
    from ferkit.data import load_dataset
    from ferkit.inference import EmotionRecognizer, evaluate_with_detection

    for k, cls in enumerate(("happy", "sad")):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        face = rafdb_faces(1, seed=k)[0]
        Image.fromarray(compose_canvas([face], [(100, 60, 160)], size=(360, 280))).save(tmp_path / "ds" / cls / "a.png")
    Image.fromarray(np.full((200, 200, 3), 100, np.uint8)).save(tmp_path / "ds" / "sad" / "blank.png")
    ds = load_dataset(tmp_path / "ds", split="all")
    rec = EmotionRecognizer(ckpt, backend="torch")
    y_true, y_pred, probs, missing = evaluate_with_detection(rec, ds, progress=False)
    assert len(y_true) == 3 and probs.shape == (3, 7)
    assert [m.split("/")[-1] for m in missing] == ["blank.png"]
    blank = [i for i, s in enumerate(ds.source_ids) if s.endswith("blank.png")][0]
    assert y_pred[blank] == -1 and (y_pred >= 0).sum() == 2 and probs[blank].sum() == 0
    assert set(y_true.tolist()) == {rec.labels.index("happy"), rec.labels.index("sad")}


def test_evaluate_cli_detect_faces(ckpt, tmp_path, capsys):
    for k, cls in enumerate(("happy", "sad")):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        Image.fromarray(compose_canvas(rafdb_faces(1, seed=k), [(100, 60, 160)], size=(360, 280))).save(
            tmp_path / "ds" / cls / "a.png"
        )
    Image.fromarray(np.full((200, 200, 3), 100, np.uint8)).save(tmp_path / "ds" / "happy" / "blank.png")
    out = tmp_path / "rep"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(ckpt),
                "--data",
                str(tmp_path / "ds"),
                "--split",
                "all",
                "--detect-faces",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "no face found:" in text and "blank.png" in text
    report = json.loads((out / "report.json").read_text())
    assert report["extra"]["no_face"] == 1 and report["extra"]["images"] == 3
    assert report["accuracy"] <= 2 / 3 + 1e-9  # the faceless image is wrong whatever the model says
