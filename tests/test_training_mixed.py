"""Mixed-dataset training (``data.extra_train``): sources concatenate, hard labels become one-hot when any
source is soft, classes must match. Synthetic arrays plus 2 real images per class of FER+ and RAF-DB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferkit.config import load_config

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RAFDB, FERPLUS = DATA / "rafdb", DATA / "ferplus"


def _arrays(n: int, soft: bool, value: int):
    from ferkit.data.cache import CachedArrays
    from ferkit.labels import EMOTIONS

    labels = -np.ones(n, np.int64) if soft else np.arange(n) % 7
    soft_labels = np.full((n, 7), 1 / 7, np.float32) if soft else None
    return CachedArrays(
        np.full((n, 4, 4, 1), value, np.uint8), labels, soft_labels, [f"{value}/{i}" for i in range(n)], EMOTIONS, []
    )


def test_extra_train_config():
    cfg = load_config(None, ["data.extra_train=[{path: a, label_mode: soft}, {path: b, split: test}]"])
    assert [(s.path, s.split, s.format, s.label_mode) for s in cfg.data.extra_train] == [
        ("a", "train", "auto", "soft"),
        ("b", "test", "auto", "majority"),
    ]
    with pytest.raises(ValueError, match="Did you mean 'path'"):
        load_config(None, ["data.extra_train=[{pth: a}]"])
    with pytest.raises(ValueError, match="choose one of"):
        load_config(None, ["data.extra_train=[{path: a, label_mode: vote}]"])
    with pytest.raises(ValueError, match="path is empty"):
        load_config(None, ["data.extra_train=[{split: train}]"])


def test_concat_arrays_soft_and_hard():
    from ferkit.training.data import concat_arrays

    both = concat_arrays([_arrays(5, soft=True, value=1), _arrays(3, soft=False, value=2)])
    assert len(both) == 8 and both.images.shape == (8, 4, 4, 1)
    assert (both.images[:5] == 1).all() and (both.images[5:] == 2).all()
    np.testing.assert_allclose(both.soft_labels.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(both.soft_labels[5:], np.eye(7, dtype=np.float32)[[0, 1, 2]])  # one-hot
    assert list(both.labels) == [-1] * 5 + [0, 1, 2]
    assert both.source_ids[0] == "1/0" and both.source_ids[-1] == "2/2"
    hard = concat_arrays([_arrays(2, soft=False, value=1), _arrays(2, soft=False, value=2)])
    assert hard.soft_labels is None and list(hard.labels) == [0, 1, 0, 1]


def test_concat_arrays_rejects_other_classes():
    from ferkit.training.data import concat_arrays

    other = _arrays(2, soft=False, value=3)
    other.classes = other.classes + ("contempt",)
    with pytest.raises(ValueError, match="different classes"):
        concat_arrays([_arrays(2, soft=False, value=1), other])


@pytest.mark.skipif(not (RAFDB.is_dir() and FERPLUS.is_dir()), reason=f"real FER+ and RAF-DB not found in {DATA}")
def test_ferplus_soft_plus_rafdb_hard(tmp_path):
    from ferkit.training.data import decode_splits, load_extra_train, load_splits

    cfg = load_config(
        None,
        [
            f"data.path={FERPLUS}",
            "data.label_mode=soft",
            "data.val_split=val",
            "data.max_per_class=2",
            "data.cache=false",
            f"data.extra_train=[{{path: {RAFDB}, split: train}}]",
        ],
    ).data
    splits, extra = load_splits(cfg), load_extra_train(cfg)
    arrays = decode_splits(cfg, splits, 32, 1, extra=extra)
    n_fer, n_raf = len(splits["train"]), len(extra[0])
    assert n_raf == 14 and len(arrays.train) == n_fer + n_raf
    assert arrays.train.images.shape[1:] == (32, 32, 1) and arrays.val.images.shape[1:] == (32, 32, 1)
    soft = arrays.train.soft_labels
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(soft[n_fer:].argmax(1), extra[0].labels)  # RAF-DB rows are one-hot
    assert set(np.unique(soft[n_fer:]).tolist()) <= {0.0, 1.0}
    # max_per_class shrinks train only: val is the whole split, so reports of quick runs are on the real sets
    assert arrays.val.soft_labels is not None and len(arrays.val) == len(splits["val"]) > 14 >= n_fer


@pytest.mark.skipif(not (RAFDB.is_dir() and FERPLUS.is_dir()), reason=f"real FER+ and RAF-DB not found in {DATA}")
def test_fit_on_mixed_sources(tmp_path):
    from ferkit.training import fit

    cfg = load_config(
        None,
        [
            f"data.path={FERPLUS}",
            "data.label_mode=soft",
            "data.val_split=val",
            "data.max_per_class=3",
            "data.cache=false",
            "data.image_size=32",
            "data.batch_size=8",
            f"data.extra_train=[{{path: {RAFDB}, split: train}}]",
            "model.name=simple_cnn",
            "loss.class_weights=balanced",
            "loss.label_smoothing=0.1",
            "stages=[{epochs: 1, lr: 1.0e-3}]",
            "device=cpu",
            f"out_dir={tmp_path}",
            "name=mix",
        ],
    )
    result = fit(cfg, progress=False)
    row = result.history[0]
    assert np.isfinite(row["train_loss"]) and row["val_acc"] is not None
    assert (tmp_path / "mix" / "best" / "model.json").is_file()
    assert (tmp_path / "mix" / "test_report" / "report.json").is_file()
