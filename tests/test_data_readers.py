"""Readers: every layout on a small real subset (symlinked from ../shared/data) or a synthetic fixture."""

from __future__ import annotations

import csv
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferkit.data import FORMATS, detect_format, list_splits, load_dataset
from ferkit.labels import EMOTIONS, RAFDB_INDEX

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PER_CLASS = 3


def _need(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"real dataset {path} not present (needs ../shared/data beside the checkout)")
    return path


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)


@pytest.fixture(scope="module")
def rafdb_subset(tmp_path_factory) -> Path:
    src = _need("rafdb") / "DATASET"
    out = tmp_path_factory.mktemp("rafdb") / "DATASET"
    for split in ("train", "test"):
        rows = []
        for cls in sorted((src / split).iterdir()):
            for f in sorted(cls.iterdir())[:PER_CLASS]:
                _link(f, out / split / cls.name / f.name)
                rows.append((f.name, cls.name))
        with open(out / f"{split}_labels.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([("image", "label"), *rows])
    return out.parent


@pytest.fixture(scope="module")
def fer2013_subset(tmp_path_factory) -> Path:
    src = _need("fer2013")
    out = tmp_path_factory.mktemp("fer2013")
    for split in ("train", "test"):
        for cls in sorted((src / split).iterdir()):
            files = sorted(cls.iterdir())
            picks = [
                f
                for pre in ("Training_", "PublicTest_", "PrivateTest_")
                for f in [g for g in files if g.name.startswith(pre)][:PER_CLASS]
            ]
            for f in picks:
                _link(f, out / split / cls.name / f.name)
    return out


@pytest.fixture(scope="module")
def ferplus_subset(tmp_path_factory) -> Path:
    src = _need("ferplus")
    out = tmp_path_factory.mktemp("ferplus")
    for d in ("FER2013Train", "FER2013Valid", "FER2013Test"):
        rows = list(csv.reader(open(src / d / "label.csv")))[:40]
        (out / d).mkdir()
        for r in rows:
            _link(src / d / r[0], out / d / r[0])
        with open(out / d / "label.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return out


def _face(seed: int, size: int = 48, rgb: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3) if rgb else (size, size), dtype=np.uint8)


@pytest.mark.needs_data("rafdb")
def test_rafdb_kaggle_subset(rafdb_subset):
    for path in (rafdb_subset, rafdb_subset / "DATASET"):
        assert detect_format(path) == "rafdb_kaggle"
        assert list_splits(path) == ["train", "test"]
    ds = load_dataset(rafdb_subset, "train")
    assert len(ds) == 7 * PER_CLASS and ds.classes == EMOTIONS
    assert ds.format == "rafdb_kaggle" and ds.split == "train" and ds.soft_labels is None
    # Folder "1" is surprise in RAF-DB; check the mapping through the file's folder.
    for sid, lab in zip(ds.source_ids, ds.labels):
        assert EMOTIONS[lab] == RAFDB_INDEX[int(Path(sid).parent.name)]
    img = ds.read_image(0)
    assert img.dtype == np.uint8 and img.shape == (100, 100, 3)


@pytest.mark.needs_data("rafdb")
def test_rafdb_kaggle_missing_label_file(rafdb_subset, tmp_path):
    copy = tmp_path / "DATASET"
    shutil.copytree(rafdb_subset / "DATASET", copy, symlinks=True)
    (copy / "test_labels.csv").unlink()
    with pytest.raises(FileNotFoundError, match="test_labels.csv"):
        load_dataset(copy, "test")


@pytest.mark.needs_data("fer2013")
def test_fer2013_folders_and_usage_splits(fer2013_subset):
    assert detect_format(fer2013_subset) == "fer2013_folders"
    assert list_splits(fer2013_subset) == ["train", "test", "usage_train", "usage_val", "usage_test"]
    n = {s: len(load_dataset(fer2013_subset, s)) for s in list_splits(fer2013_subset)}
    assert n == {"train": 21, "test": 42, "usage_train": 21, "usage_val": 21, "usage_test": 21}
    val = load_dataset(fer2013_subset, "usage_val")
    assert all(Path(s).name.startswith("PublicTest_") for s in val.source_ids)
    assert val.read_image(0).shape == (48, 48)
    assert val.class_counts() == {c: PER_CLASS for c in EMOTIONS}


@pytest.mark.needs_data("ferplus")
def test_ferplus_majority_and_soft(ferplus_subset):
    assert detect_format(ferplus_subset) == "ferplus"
    assert list_splits(ferplus_subset) == ["train", "val", "test"]
    rows = list(csv.reader(open(ferplus_subset / "FER2013Train" / "label.csv")))
    maj = load_dataset(ferplus_subset, "train")
    assert len(maj) + sum(maj.dropped.values()) == len(rows)
    # First row: neutral 4, happiness 0, surprise 0, sadness 1, anger 3, disgust 2 -> neutral.
    assert rows[0][0] == "fer0000000.png" and maj.source_ids[0].endswith("fer0000000.png")
    assert maj.classes[maj.labels[0]] == "neutral"
    soft = load_dataset(ferplus_subset, "train", label_mode="soft")
    assert soft.soft_labels.shape == (len(soft), 7)
    np.testing.assert_allclose(soft.soft_labels.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(soft.labels, soft.soft_labels.argmax(1))
    assert len(soft) >= len(maj)
    with8 = load_dataset(ferplus_subset, "train", include_contempt=True, label_mode="soft")
    assert with8.classes[-1] == "contempt" and with8.soft_labels.shape[1] == 8
    with pytest.raises(ValueError, match="label_mode"):
        load_dataset(ferplus_subset, "train", label_mode="vote")


def test_ferplus_rule_on_synthetic_votes(tmp_path):
    d = tmp_path / "FER2013Test"
    d.mkdir()
    votes = {
        "a.png": [6, 2, 0, 0, 0, 0, 0, 0, 2, 0],  # neutral
        "b.png": [3, 3, 0, 0, 0, 0, 0, 0, 4, 0],  # unknown majority -> dropped
        "c.png": [4, 4, 0, 0, 0, 0, 0, 2, 0, 0],  # tie -> dropped
        "d.png": [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face -> dropped
        "e.png": [1, 0, 0, 0, 0, 0, 0, 9, 0, 0],  # contempt -> dropped unless include_contempt
    }
    with open(d / "label.csv", "w", newline="") as fh:
        for name, v in votes.items():
            Image.fromarray(_face(len(name))).save(d / name)
            csv.writer(fh).writerow([name, "(0, 0, 48, 48)", *v])
    ds = load_dataset(tmp_path, "test")
    assert [Path(s).name for s in ds.source_ids] == ["a.png"]
    assert ds.dropped == {"unknown": 1, "tie": 1, "not_a_face": 1, "contempt": 1}
    ds8 = load_dataset(tmp_path, "test", include_contempt=True)
    assert [ds8.classes[i] for i in ds8.labels] == ["neutral", "contempt"]
    soft = load_dataset(tmp_path, "test", label_mode="soft")
    assert len(soft) == 4  # d.png has no vote on a kept class
    np.testing.assert_allclose(soft.soft_labels[0][[EMOTIONS.index("neutral"), EMOTIONS.index("happy")]], [0.75, 0.25])


@pytest.mark.parametrize("gz", [False, True])
def test_fer2013_csv_synthetic(tmp_path, gz):
    rows = [
        (i % 7, " ".join(map(str, _face(i).ravel())), u)
        for i, u in enumerate(["Training"] * 8 + ["PublicTest"] * 3 + ["PrivateTest"] * 2)
    ]
    path = tmp_path / ("fer2013.csv.gz" if gz else "fer2013.csv")
    with gzip.open(path, "wt", newline="") if gz else open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([("emotion", "pixels", "Usage"), *rows])
    for p in (path, tmp_path):
        assert detect_format(p) == "fer2013_csv"
    assert list_splits(path) == ["train", "val", "test"]
    tr, va, te = (load_dataset(path, s) for s in ("train", "val", "test"))
    assert (len(tr), len(va), len(te)) == (8, 3, 2)
    # CSV index 6 is neutral, 4 is sad (not the alphabetical order).
    assert tr.classes[tr.labels[6]] == "neutral" and tr.classes[tr.labels[4]] == "sad"
    np.testing.assert_array_equal(tr.read_image(3), _face(3))
    assert va.source_ids[0] == f"{path}#8"


def _write_rafdb_original(root: Path, with_labels: bool = True) -> None:
    img_dir = root / "basic" / "Image" / "aligned"
    img_dir.mkdir(parents=True)
    lines = []
    for i in range(1, 8):
        for split in ("train", "test"):
            name = f"{split}_{i:05d}.jpg"
            Image.fromarray(_face(i, 100, rgb=True)).save(img_dir / name.replace(".jpg", "_aligned.jpg"))
            lines.append(f"{name} {i}")
    if with_labels:
        (root / "basic" / "EmoLabel").mkdir()
        (root / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")


def test_rafdb_original_synthetic(tmp_path):
    _write_rafdb_original(tmp_path)
    assert detect_format(tmp_path) == "rafdb_original"
    assert detect_format(tmp_path / "basic") == "rafdb_original"
    ds = load_dataset(tmp_path, "test")
    assert len(ds) == 7 and all("test_" in s and s.endswith("_aligned.jpg") for s in ds.source_ids)
    assert [ds.classes[i] for i in ds.labels] == [RAFDB_INDEX[i] for i in range(1, 8)]
    assert ds.read_image(0).shape == (100, 100, 3)


def test_rafdb_original_missing_label_file(tmp_path):
    _write_rafdb_original(tmp_path, with_labels=False)
    with pytest.raises(FileNotFoundError, match="list_patition_label.txt"):
        load_dataset(tmp_path, "train")


def _write_class_folders(root: Path, names: list[str], n: int = 3) -> None:
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(_face(100 * k + i)).save(root / name / f"img{i}.png")


def test_nested_class_folders_synthetic(tmp_path):
    names = ["Anger", "disgusted", "FEAR", "happiness", "neutral", "Sadness", "surprised", "contempt"]
    for split in ("train", "validation", "test"):
        _write_class_folders(tmp_path / split, names)
    assert detect_format(tmp_path) == "class_folders"
    assert list_splits(tmp_path) == ["test", "train", "val"]
    ds = load_dataset(tmp_path, "val")
    assert len(ds) == 7 * 3 and ds.class_counts() == {c: 3 for c in EMOTIONS}
    ds8 = load_dataset(tmp_path, "val", include_contempt=True)
    assert ds8.class_counts()["contempt"] == 3


def test_flat_class_folders_and_not_fer2013(tmp_path):
    # Emotion folders under train/test but without Training_ prefixes: generic, not FER2013.
    _write_class_folders(tmp_path / "flat", list(EMOTIONS))
    assert detect_format(tmp_path / "flat") == "class_folders"
    assert list_splits(tmp_path / "flat") == ["all"]
    _write_class_folders(tmp_path / "split" / "train", list(EMOTIONS))
    assert detect_format(tmp_path / "split") == "class_folders"


def test_non_emotion_folders_are_listed(tmp_path):
    _write_class_folders(tmp_path, ["happy", "cats", "dogs"])
    with pytest.raises(ValueError, match=r"\['cats', 'dogs'\]"):
        detect_format(tmp_path)


def test_wrong_layout_error_lists_layouts(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError) as err:
        detect_format(tmp_path)
    for name in FORMATS:
        assert name in str(err.value)
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing")
    with pytest.raises(ValueError, match="Unknown dataset format"):
        load_dataset(tmp_path, format="affectnet")


def test_bad_split_names_the_valid_ones(tmp_path):
    _write_class_folders(tmp_path, list(EMOTIONS))
    with pytest.raises(ValueError, match=r"available splits: \['all'\]"):
        load_dataset(tmp_path, "train")


def test_corrupt_and_empty_images_are_skipped(tmp_path):
    from ferkit.data.cache import arrays_in_memory

    _write_class_folders(tmp_path, list(EMOTIONS), n=2)
    good = (tmp_path / "happy" / "img0.png").read_bytes()
    (tmp_path / "happy" / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "sad" / "garbage.jpg").write_bytes(b"not an image at all")
    (tmp_path / "fear" / "empty.jpg").write_bytes(b"")
    ds = load_dataset(tmp_path, "all")
    assert len(ds) == 16 and [Path(s).name for s, _ in ds.skipped] == ["empty.jpg"]
    with pytest.raises(ValueError, match="garbage.jpg"):
        ds.read_image(ds.source_ids.index(str(tmp_path / "sad" / "garbage.jpg")))
    arrays = arrays_in_memory(ds, 32, 1)
    assert len(arrays) == 14 and arrays.images.shape == (14, 32, 32, 1)
    assert {Path(s).name for s, _ in ds.skipped} == {"empty.jpg", "truncated.png", "garbage.jpg"}
    assert {Path(s).name for s, _ in arrays.skipped} == {"truncated.png", "garbage.jpg"}
    from ferkit.data import drop_unreadable

    clean = drop_unreadable(load_dataset(tmp_path, "all"), workers=1)
    assert len(clean) == 14 and len(clean.skipped) == 3
    assert all(clean.read_image(i).shape == (48, 48) for i in range(len(clean)))
