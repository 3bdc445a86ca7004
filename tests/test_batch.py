"""`ferkit batch` on a local Ray: Parquet rows equal `ferkit predict --csv` (per source, frame and face), a job killed
midway finishes only the rest when rerun, unreadable files are recorded and never stop the job, and without Ray the
verb names the extra to install."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _inference_support import compose_canvas, make_video, rafdb_faces
from ferkit.batch.work import WorkItem, describe_source, expand_inputs, split_work
from ferkit.cli import main

pytest.importorskip("ray", reason="ferkit[batch] (ray) is not installed")
pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    """4 photos (2 faces each), 2 short videos (2 moving faces), an unreadable .jpg, and the packaged model as ONNX
    (workers load it in milliseconds, no torch)."""
    from ferkit.export import export_model

    root = tmp_path_factory.mktemp("batch")
    good = root / "good"
    good.mkdir()
    faces = rafdb_faces(8, seed=3)
    for i in range(4):
        canvas = compose_canvas(faces[2 * i : 2 * i + 2], [(40, 60, 120), (300, 80, 110)], seed=i)
        Image.fromarray(canvas).save(good / f"photo{i}.jpg")
    make_video(good / "clip_a.mp4", n_frames=14)
    make_video(good / "clip_b.mp4", n_frames=10, noise=4, seed=1)
    model = export_model(Path(__file__).resolve().parents[1] / "src/ferkit/assets/default", out=root / "m.onnx").path
    return {"root": root, "good": good, "model": str(model)}


def batch_cmd(inputs: list, out: Path, model: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ferkit", "batch", *map(str, inputs), "--out", str(out), "--model", model,
            "--num-workers", "2", "--no-progress", *extra]  # fmt: skip


def run_batch_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    # Its own session, so the local Ray it starts is stopped with it whatever happens.
    return subprocess.run(args[0], capture_output=True, text=True, timeout=300, start_new_session=True, **kwargs)


def read_faces(out: Path):
    df = pd.read_parquet(out / "faces")
    return df.sort_values(["source", "frame", "face"]).reset_index(drop=True)


def manifests(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "manifest").glob("*.json")}


def assert_rows_equal_predict(df, csv: Path) -> None:
    pred = pd.read_csv(csv)
    pred = pred[pred.status == "ok"].astype({"face": int, "frame": int})
    pred = pred.sort_values(["source", "frame", "face"]).reset_index(drop=True)
    assert len(df) == len(pred) > 0
    assert (df.source.values == pred.source.values).all() and (df.frame.values == pred.frame.values).all()
    assert (df.label.values == pred.label.values).all()
    for col in ("x1", "y1", "x2", "y2"):
        assert (df[col].values == pred[col].values).all(), col
    tracks = pred.track_id.fillna(-1).astype(int).values
    assert (df.track_id.fillna(-1).astype(int).values == tracks).all()
    for col in [c for c in pred.columns if c.startswith("p_")] + ["score"]:
        # The CSV rounds to 4 decimals; the Parquet keeps full precision.
        np.testing.assert_allclose(df[col].values, pred[col].values, atol=5.1e-5, err_msg=col)


@pytest.mark.slow
@pytest.mark.needs_data("rafdb")
def test_batch_rows_equal_predict_and_bad_files_are_recorded(archive, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in archive["good"].iterdir():
        (inputs / f.name).symlink_to(f)
    (inputs / "truncated.jpg").write_bytes((archive["good"] / "photo0.jpg").read_bytes()[:300])
    # A 2000 x 1500 JPEG, decoded at 1/2 by both (EmotionRecognizer.draft_factor): rows in the file's pixels.
    big = compose_canvas(rafdb_faces(2, seed=6), [(300, 400, 260), (1300, 600, 240)], size=(2000, 1500), seed=6)
    Image.fromarray(big).save(inputs / "big.jpg", quality=95)
    out = tmp_path / "out"
    # Videos cut into 4-frame chunks on different workers: tracks and smoothing still run over each whole video.
    done = run_batch_cli(batch_cmd([inputs], out, archive["model"], "--chunk-frames", "4"))
    assert done.returncode == 3, done.stderr
    assert "truncated.jpg" in done.stderr and "8 source(s): 7 processed" in done.stdout

    assert main(["predict", str(inputs), "--model", archive["model"], "--csv", str(tmp_path / "p.csv")]) == 3
    capsys.readouterr()
    df = read_faces(out)
    assert_rows_equal_predict(df, tmp_path / "p.csv")
    assert df.model_version.nunique() == 1 and (df.image_width == 320).sum() == 2 * (14 + 10)
    big_rows = df[df.source.str.endswith("big.jpg")]
    assert len(big_rows) == 2 and (big_rows.image_width == 2000).all() and big_rows.x2.max() > 1300
    assert df[df.source.str.endswith(".jpg")].track_id.isna().all()
    assert all(len(lm) == 6 for lm in df.landmarks)

    status = {m["path"]: m for m in manifests(out).values()}
    bad = status[str(inputs / "truncated.jpg")]
    assert bad["status"] == "failed" and "truncated" in bad["reason"]
    clip = status[str(inputs / "clip_a.mp4")]
    assert clip["status"] == "complete" and clip["frames"] == 14 and clip["faces"] == 28

    summary = pd.read_parquet(out / "summary")
    shares = summary[[c for c in summary.columns if c.startswith("share_")]].sum(axis=1)
    np.testing.assert_allclose(shares[summary.faces > 0], 1.0)
    per_source = summary.groupby("source")[["frames", "faces"]].sum()
    assert per_source.loc[str(inputs / "clip_b.mp4")].tolist() == [10, 20]
    assert (pq.read_table(out / "faces").column("source_id").to_pylist()[0]) in manifests(out)


@pytest.mark.slow
@pytest.mark.needs_data("rafdb")
def test_batch_killed_midway_reruns_only_the_rest(archive, tmp_path):
    out = tmp_path / "out"
    cmd = batch_cmd([archive["good"]], out, archive["model"], "--chunk-frames", "0")
    cmd[cmd.index("--num-workers") + 1] = "1"  # one source at a time, so the kill lands between sources
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 180
    while not (out / "manifest").is_dir() or not any((out / "manifest").glob("*.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no source finished in 180 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    proc.wait(timeout=30)
    before = manifests(out)
    assert 1 <= len(before) < 6, "the job finished before it could be killed"
    mtimes = {sid: (out / "manifest" / f"{sid}.json").stat().st_mtime_ns for sid in before}

    done = run_batch_cli(batch_cmd([archive["good"]], out, archive["model"]))
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} already complete" in done.stdout
    after = manifests(out)
    assert len(after) == 6 and all(m["status"] == "complete" for m in after.values())
    for sid, m in before.items():  # finished before the kill: not processed again
        assert after[sid]["run_id"] == m["run_id"]
        assert (out / "manifest" / f"{sid}.json").stat().st_mtime_ns == mtimes[sid]
    assert len({m["run_id"] for m in after.values()}) == 2
    assert sorted(m["frames"] for m in after.values()) == [1, 1, 1, 1, 10, 14]
    counts = read_faces(out).groupby("source").size().to_dict()
    assert counts == {m["path"]: m["faces"] for m in after.values()}


def test_batch_without_ray_names_the_extra(monkeypatch, tmp_path, capsys):
    import ferkit.extras

    real = ferkit.extras.is_installed
    monkeypatch.setattr(ferkit.extras, "is_installed", lambda m: m != "ray" and real(m))
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "ferkit batch needs ray" in err and "pip install 'ferkit[batch]'" in err


def test_inputs_expand_lists_and_videos_split_into_ranges(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "a" / "x.png")
    Image.new("RGB", (32, 32)).save(tmp_path / "y.jpg")
    (tmp_path / "notes.md").write_text("not an input")
    (tmp_path / "list.txt").write_text("# photos\na\ny.jpg\n\n")
    files = expand_inputs([str(tmp_path / "list.txt"), str(tmp_path / "*.jpg")])
    assert [f.name for f in files] == ["x.png", "y.jpg"]
    with pytest.raises(FileNotFoundError, match="nothing.mp4"):
        expand_inputs([str(tmp_path / "nothing.mp4")])
    with pytest.raises(ValueError, match="not an image, a video or a list file"):
        expand_inputs([str(tmp_path / "notes.md")])

    video = dataclasses.replace(describe_source(files[0]), kind="video", frames=10)
    items = split_work(video, 4)
    assert [(w.start, w.stop) for w in items] == [(0, 4), (4, 8), (8, None)]
    assert all(w.n_chunks == 3 for w in items)
    assert split_work(video, None) == [WorkItem(video.path, video.source_id, "video", 0, 1)]


def test_video_ranges_number_frames_as_iter_video(tmp_path):
    import cv2

    from ferkit.batch.stages import iter_video_range
    from ferkit.inference.sources import iter_video

    path = tmp_path / "v.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(15):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    whole = list(iter_video(path))
    parts = [f for start, stop in ((0, 6), (6, 12), (12, None)) for f in iter_video_range(str(path), start, stop)]
    assert [(f.index, f.timestamp) for f in parts] == [(f.index, f.timestamp) for f in whole]
    assert all((a.image == b.image).all() for a, b in zip(parts, whole))
    assert [f.index for f in iter_video_range(str(path), 4, 12, step=3)] == [6, 9]
