"""A wheel built from the repository carries the default model and the BlazeFace detector, and predicts the same
as the source tree (the `make demo` photo). Installed with --no-deps into its own folder, run by this interpreter
(which has the dependencies), so the test needs no network and no second torch install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "ferkit" / "assets" / "samples" / "astronaut.jpg"


def _predict(env: dict, out: Path, cwd: Path) -> dict:
    code = "import sys; from ferkit.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "predict", str(SAMPLE), "--json", str(out)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_wheel_predicts_like_the_source_tree(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(ROOT),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = wheel_dir.glob("ferkit-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    assert (target / "ferkit" / "assets" / "detectors" / "face_detection_short_range.onnx").is_file()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    wheel_env = {**env, "PYTHONPATH": str(target)}
    from_wheel = _predict(wheel_env, tmp_path / "wheel.json", tmp_path)
    assert Path(from_wheel["model"]["path"]).resolve().is_relative_to(target.resolve())  # the wheel's copy ran
    from_tree = _predict(env, tmp_path / "tree.json", ROOT)
    assert from_wheel["model"]["detector"] == from_tree["model"]["detector"] == "blazeface"
    faces_w, faces_t = from_wheel["frames"][0]["faces"], from_tree["frames"][0]["faces"]
    assert len(faces_w) == len(faces_t) >= 1
    for a, b in zip(faces_w, faces_t):
        assert a["box"] == b["box"] and a["label"] == b["label"]
        assert abs(a["score"] - b["score"]) < 1e-5
