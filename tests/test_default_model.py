"""The default model shipped in the package: it loads offline, carries its metadata, finds and classifies the
face in the bundled sample photo, and stays well above chance on a fixed real subset (a regression guard, not the
accuracy claim: those numbers are in docs/model-card.md with their commands)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferkit import EMOTIONS

ASSETS = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "assets"
SAMPLE = ASSETS / "samples" / "astronaut.jpg"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def rec():
    from ferkit import EmotionRecognizer

    return EmotionRecognizer()  # model=None: the packaged default


def test_default_checkpoint_metadata():
    meta = json.loads((ASSETS / "default" / "model.json").read_text())
    assert tuple(meta["labels"]) == EMOTIONS
    # v2.2: a 48 px and a 64 px fercnet_s in one graph, reading the 64 px gray canonical crop
    assert meta["arch"] == "ensemble" and meta["image_size"] == 64 and meta["in_chans"] == 1
    assert meta["crop"]["kind"] == "template" and meta["crop"]["size"] == 64
    members = meta["model_kwargs"]["members"]
    assert [(m["arch"], m["image_size"]) for m in members] == [("fercnet_s", 48), ("fercnet_s", 64)]
    assert 0.2 < meta["temperature"] < 5.0  # fitted on FER2013 PublicTest, stored with the weights
    assert (ASSETS / "default" / "model.safetensors").stat().st_size < 10 * 2**20


def test_sample_photo_gives_one_smiling_face(rec):
    frames = rec.predict(str(SAMPLE))
    assert len(frames) == 1 and frames[0].error is None
    faces = frames[0].faces
    assert len(faces) == 1  # one astronaut
    face = faces[0]
    assert set(face.probs) == set(EMOTIONS)
    assert abs(sum(face.probs.values()) - 1) < 1e-4
    x1, y1, x2, y2 = face.box
    assert 150 < (x1 + x2) / 2 < 300 and 60 < (y1 + y2) / 2 < 200  # her face, upper middle of the 512x512 photo
    assert face.label == "happy"  # she smiles broadly in the NASA portrait
    assert face.top(3)[0][0] == face.label
    from ferkit.inference.outputs import format_summary

    assert "[model ferkit-default-v2 2.2 (ensemble), backend " in format_summary(frames, rec.model_info)[0]


@pytest.mark.needs_data("rafdb/DATASET/test")
def test_well_above_chance_on_a_fixed_rafdb_subset():
    root = DATA / "rafdb" / "DATASET" / "test"
    if not root.is_dir():
        pytest.skip(f"RAF-DB not found at {root} (../shared/data is absent)")
    from ferkit import EmotionRecognizer
    from ferkit.data import load_dataset

    ds = load_dataset(DATA / "rafdb", split="test")
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), 10, replace=False) for c in range(7)])
    crops = [ds.read_image(int(i)) for i in pick]  # aligned faces: classified whole, no detection
    frames = EmotionRecognizer(detector="none").predict(crops)
    pred = np.array([EMOTIONS.index(f.faces[0].label) for f in frames])
    acc = float((pred == ds.labels[pick]).mean())
    assert acc > 0.45, f"default model accuracy {acc:.2f} on 70 fixed RAF-DB test faces (chance 0.14)"
