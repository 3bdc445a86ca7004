"""inspect, split, dedupe, the decoded cache, transforms presets, torch loaders, and the `ferkit data` CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ferkit.data import apply_split_file, dedupe, load_dataset, save_split_file, split_dataset
from ferkit.data.cache import load_cached_arrays
from ferkit.data.inspect import format_report, inspect_dataset
from ferkit.data.loaders import ArrayDataset, ImageFileDataset, build_loader
from ferkit.data.transforms import PRESETS, build_transforms
from ferkit.labels import EMOTIONS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _face(seed: int, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def _class_folders(root: Path, per_class: dict[str, int], splits=("train", "test"), seed0: int = 0) -> Path:
    k = seed0
    for split in splits:
        for name, n in per_class.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                k += 1
                Image.fromarray(_face(k)).save(root / split / name / f"{split}_{i}.png")
    return root


@pytest.fixture()
def folders(tmp_path) -> Path:
    return _class_folders(tmp_path / "ds", {c: 4 for c in EMOTIONS})


@pytest.fixture(scope="module")
def rafdb_subset(tmp_path_factory) -> Path:
    src = SHARED / "rafdb" / "DATASET"
    if not src.is_dir():
        pytest.skip(f"real dataset {src} not present (needs ../shared/data beside the checkout)")
    out = tmp_path_factory.mktemp("rafdb") / "DATASET"
    for split in ("train", "test"):
        rows = ["image,label"]
        for cls in sorted((src / split).iterdir()):
            for f in sorted(cls.iterdir())[:4]:
                (out / split / cls.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(f, out / split / cls.name / f.name)
                rows.append(f"{f.name},{cls.name}")
        (out / f"{split}_labels.csv").write_text("\n".join(rows) + "\n")
    return out


@pytest.mark.needs_data("rafdb/DATASET")
def test_inspect_counts_and_planted_leak(rafdb_subset):
    # Plant a copy of a train image in test (re-encoded as PNG-identical JPEG bytes: same file copied).
    src = next((rafdb_subset / "train" / "4").iterdir())
    shutil.copy(src, rafdb_subset / "test" / "4" / "leaked_aligned.jpg")
    with open(rafdb_subset / "test_labels.csv", "a") as fh:
        fh.write("leaked_aligned.jpg,4\n")
    try:
        report = inspect_dataset(rafdb_subset, workers=1)
    finally:
        (rafdb_subset / "test" / "4" / "leaked_aligned.jpg").unlink()
    assert report["format"] == "rafdb_kaggle"
    assert report["splits"]["train"]["count"] == 28 and report["splits"]["test"]["count"] == 29
    assert report["splits"]["test"]["class_counts"]["happy"] == 5
    assert report["splits"]["train"]["sizes"] == {"100x100": 28}
    assert report["splits"]["train"]["modes"] == {"RGB": 28}
    leaks = report["duplicates_across"]
    assert len(leaks) == 1
    assert sorted((s, Path(p).name) for s, p in leaks[0]) == [("test", "leaked_aligned.jpg"), ("train", src.name)]
    text = format_report(report)
    assert "leakage): 1 groups" in text and "leaked_aligned.jpg" in text
    json.dumps(report)  # JSON-able


def test_inspect_within_duplicates_and_unreadable(folders):
    shutil.copy(folders / "train" / "happy" / "train_0.png", folders / "train" / "happy" / "copy.png")
    (folders / "test" / "sad" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    report = inspect_dataset(folders, workers=1)
    assert report["splits"]["train"]["duplicates_within"] == [
        [str(folders / "train" / "happy" / n) for n in ("copy.png", "train_0.png")]
    ]
    assert [Path(s).name for s, _ in report["splits"]["test"]["unreadable"]] == ["bad.jpg"]
    assert report["duplicates_across"] == [] and report["totals"]["unreadable"] == 1


def test_split_is_stratified_and_deterministic(tmp_path):
    root = _class_folders(tmp_path, {"happy": 40, "sad": 20, "fear": 10}, splits=("test",))
    ds = load_dataset(root, "test")
    a = split_dataset(ds, {"val": 0.5, "test": 0.5}, seed=0)
    b = split_dataset(ds, "val:0.5,test:0.5", seed=0)
    c = split_dataset(ds, {"val": 0.5, "test": 0.5}, seed=1)
    assert a["val"].source_ids == b["val"].source_ids and a["val"].source_ids != c["val"].source_ids
    assert set(a["val"].source_ids).isdisjoint(a["test"].source_ids)
    assert len(a["val"]) + len(a["test"]) == len(ds)
    for part in a.values():
        counts = part.class_counts()
        assert (counts["happy"], counts["sad"], counts["fear"]) == (20, 10, 5)
        assert part.split in ("val", "test")
    three = split_dataset(ds, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    assert [len(p) for p in three.values()] == [42, 14, 14]
    with pytest.raises(ValueError, match="sum to 1"):
        split_dataset(ds, {"val": 0.5, "test": 0.6})
    path = save_split_file(a, tmp_path / "split.json", seed=0)
    again = apply_split_file(ds, path)
    assert again["test"].source_ids == a["test"].source_ids


def test_dedupe_keeps_one_copy(folders):
    shutil.copy(folders / "train" / "angry" / "train_0.png", folders / "train" / "angry" / "dup.png")
    ds = load_dataset(folders, "train")
    assert len(ds) == 29 and len(dedupe(ds, workers=1)) == 28


def test_cache_reuse_and_rebuild(folders, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FERKIT_CACHE", str(cache))
    ds = load_dataset(folders, "train")
    first = load_cached_arrays(ds, 32, 3)
    assert first.images.shape == (28, 32, 32, 3) and first.images.dtype == np.uint8
    assert first.path.parent == cache and first.classes == EMOTIONS
    np.testing.assert_array_equal(first.labels, ds.labels)
    assert len(list(cache.glob("*.json"))) == 1

    import ferkit.data.cache as cache_mod

    def boom(*a, **k):
        raise AssertionError("decoded again although the cache matches")

    monkeypatch.setattr(cache_mod, "decode_dataset", boom)
    again = load_cached_arrays(load_dataset(folders, "train"), 32, 3)
    assert isinstance(again.images, np.memmap)
    np.testing.assert_array_equal(again.images, first.images)
    monkeypatch.undo()
    monkeypatch.setenv("FERKIT_CACHE", str(cache))

    # Other parameters and a changed file both make a new entry.
    gray = load_cached_arrays(ds, 32, 1)
    assert gray.images.shape == (28, 32, 32, 1)
    f = Path(ds.source_ids[0])
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(f)
    os.utime(f, (1, 1))
    changed = load_cached_arrays(load_dataset(folders, "train"), 32, 3)
    assert changed.path != first.path and changed.images[0].max() == 0
    assert len(list(cache.glob("*.json"))) == 3


def test_cache_soft_labels_and_in_memory_csv(tmp_path):
    import csv

    path = tmp_path / "fer2013.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i in range(6):
            w.writerow([i, " ".join(map(str, _face(i).ravel())), "Training"])
    arr = load_cached_arrays(load_dataset(path), 24, 3, cache_dir=tmp_path / "c")
    assert arr.images.shape == (6, 24, 24, 3) and arr.soft_labels is None
    assert arr.source_ids[2] == f"{path}#2"


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("channels", [1, 3])
def test_transforms_presets(preset, channels):
    tf = build_transforms(40, channels, [0.5], [0.25], train=True, preset=preset)
    for in_ch in (1, 3):
        img = torch.randint(0, 256, (in_ch, 48, 48), dtype=torch.uint8)
        out = tf(img)
        assert out.shape == (channels, 40, 40) and out.dtype == torch.float32
    ev = build_transforms(48, channels, [0.5], [0.25], train=False, preset=preset)
    x = torch.full((channels, 48, 48), 255, dtype=torch.uint8)
    torch.testing.assert_close(ev(x), torch.full((channels, 48, 48), 2.0))  # (1 - 0.5) / 0.25


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="'none', 'light', 'standard', 'strong', 'photo'"):
        build_transforms(48, 1, [0.5], [0.5], train=True, preset="heavy")


def test_loaders(folders):
    from ferkit.data.cache import arrays_in_memory

    ds = load_dataset(folders, "train")
    arrays = arrays_in_memory(ds, 32, 1)
    tf = build_transforms(32, 1, [0.5], [0.5], train=True, preset="standard")
    x, y = ArrayDataset(arrays, tf)[0]
    assert x.shape == (1, 32, 32) and isinstance(y, int)
    x2, y2 = ImageFileDataset(ds, 32, 1, tf)[0]
    assert x2.shape == (1, 32, 32) and y2 == y
    loader = build_loader(ArrayDataset(arrays, tf), batch_size=8, train=True, num_workers=0, balanced=True)
    xb, yb = next(iter(loader))
    assert xb.shape == (8, 1, 32, 32) and yb.dtype == torch.int64
    arrays.soft_labels = np.eye(7, dtype=np.float32)[arrays.labels]
    _, ys = ArrayDataset(arrays)[3]
    assert ys.shape == (7,) and ys.dtype == torch.float32
    dist = build_loader(
        ArrayDataset(arrays), batch_size=4, train=False, num_workers=0, distributed=True, num_replicas=2, rank=1
    )
    assert type(dist.sampler).__name__ == "DistributedSampler" and len(dist.sampler) == 14
    with pytest.raises(ValueError, match="cannot be combined"):
        build_loader(ArrayDataset(arrays), 4, True, num_workers=0, balanced=True, distributed=True)


def test_cli_inspect_and_split(folders, tmp_path, capsys):
    from ferkit.cli import main

    out = tmp_path / "insp"
    assert main(["data", "inspect", str(folders), "--json", "--out", str(out), "--workers", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["test"]["count"] == 28
    assert (out / "class_distribution.png").stat().st_size > 0 and (out / "inspect.json").is_file()
    split_file = tmp_path / "s.json"
    assert (
        main(
            [
                "data",
                "split",
                str(folders),
                "--split",
                "test",
                "--into",
                "val:0.5,test:0.5",
                "--seed",
                "0",
                "--out",
                str(split_file),
            ]
        )
        == 0
    )
    doc = json.loads(split_file.read_text())
    assert doc["counts"] == {"val": 14, "test": 14} and doc["seed"] == 0
    assert main(["data", "inspect", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _write_split(data: Path, out: Path, split: str = "test", into: str = "val:0.5,test:0.5") -> None:
    from ferkit.cli import main

    assert main(["data", "split", str(data), "--split", split, "--into", into, "--out", str(out)]) == 0


def test_split_file_is_portable_across_cwd_and_dataset_moves(tmp_path, monkeypatch, capsys):
    """Written from one cwd with a relative dataset path, used from another cwd with the dataset moved: train (a
    1-epoch tiny run) and evaluate both take their parts from it."""
    from ferkit.cli import main
    from ferkit.config import load_config
    from ferkit.training import fit
    from ferkit.training.data import load_splits

    (tmp_path / "a").mkdir()
    _class_folders(tmp_path / "a" / "ds", {c: 4 for c in EMOTIONS})
    monkeypatch.chdir(tmp_path / "a")
    _write_split(Path("ds"), Path("splits/s.json"))
    doc = json.loads((tmp_path / "a" / "splits" / "s.json").read_text())
    assert doc["version"] == 2 and doc["format"] == "class_folders" and doc["split"] == "test"
    assert all(not os.path.isabs(p) and p.startswith("test/") for p in doc["parts"]["val"])
    expected = {n: [Path(p).name for p in ids] for n, ids in doc["parts"].items()}

    shutil.move(tmp_path / "a" / "ds", tmp_path / "moved")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    split_file = str(tmp_path / "a" / "splits" / "s.json")
    parts = apply_split_file(load_dataset(tmp_path / "moved", "test"), split_file)
    assert {n: [Path(s).name for s in d.source_ids] for n, d in parts.items()} == expected

    cfg = load_config(
        None,
        [
            f"data.path={tmp_path / 'moved'}",
            f"data.split_file={split_file}",
            "data.cache=false",
            "data.image_size=32",
            "data.channels=1",
            "data.max_per_class=2",
            "data.batch_size=7",
            "data.augment=none",
            "model.name=simple_cnn",
            "stages.0.epochs=1",
            "threads=1",
            f"out_dir={tmp_path / 'runs'}",
            "name=run",
            "channels_last=false",
        ],
    )
    splits = load_splits(cfg.data)
    assert [Path(s).name for s in splits["val"].source_ids] == expected["val"] and len(splits["test"]) == 14
    run = fit(cfg, progress=False)
    assert run.run_dir.is_dir()
    with pytest.raises(ValueError, match="cannot be combined"):
        load_config(None, [f"data.split_file={split_file}", "data.val_from={split: test}"])

    code = main(
        ["evaluate", "--model", str(run.run_dir / "best"), "--data", str(tmp_path / "moved"), "--out", "rep"]
        + ["--split-file", split_file, "--split", "val", "--no-cache", "--device", "cpu"]
    )
    assert code == 0
    rep = json.loads(Path("rep/report.json").read_text())
    assert rep["n"] == 14 and rep["extra"]["split"] == "val" and rep["extra"]["split_file"] == split_file
    capsys.readouterr()


def test_split_file_old_format_and_missing_paths(tmp_path, monkeypatch):
    root = _class_folders(tmp_path / "ds", {"happy": 4, "sad": 4}, splits=("test",))
    ds = load_dataset(root, "test")
    # The old format (absolute or cwd-relative ids, no version) is still read when its paths resolve.
    monkeypatch.chdir(tmp_path)
    ids = [os.path.relpath(s) for s in ds.source_ids]
    old = tmp_path / "old.json"
    old.write_text(
        json.dumps({"split": "test", "parts": {"val": ids[:3], "test": [os.path.abspath(s) for s in ids[3:]]}})
    )
    assert [len(p) for p in apply_split_file(ds, old).values()] == [3, 5]

    path = save_split_file(split_dataset(ds, "val:0.5,test:0.5"), tmp_path / "s.json", split="test")
    gone = Path(ds.source_ids[0])
    gone.unlink()
    with pytest.raises(ValueError, match="s.json") as err:
        apply_split_file(load_dataset(root, "test"), path)
    assert str(gone) in str(err.value) and "does not exist" in str(err.value)
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        apply_split_file(ds, tmp_path / "nothing.json")


def test_photo_degradations_keep_shape_and_colour_but_lose_detail():
    """RandomResolution blurs a checkerboard towards grey; RandomJPEG keeps a red image red (RGB order kept
    through OpenCV's BGR codec) and gray images gray."""
    from ferkit.data.transforms import RandomJPEG, RandomResolution

    board = torch.from_numpy((np.indices((48, 48)).sum(0) % 2 * 255).astype(np.uint8))[None]
    soft = RandomResolution((0.4, 0.4))(board)
    assert soft.shape == board.shape and soft.dtype == torch.uint8
    assert soft.float().std() < 0.5 * board.float().std()
    red = torch.zeros((3, 32, 32), dtype=torch.uint8)
    red[0] = 200
    out = RandomJPEG((30, 30))(red)
    assert out.shape == red.shape and out.dtype == torch.uint8
    assert out[0].float().mean() > 180 and out[1:].float().mean() < 20
    gray = torch.randint(0, 256, (1, 40, 40), dtype=torch.uint8)
    jpeg = RandomJPEG((20, 20))(gray)
    assert jpeg.shape == gray.shape and not torch.equal(jpeg, gray)


def test_crop_landmark_threshold_is_fixed_and_keys_the_cache(folders, monkeypatch):
    """The crop's landmark search keeps its own score threshold (not the detector's default, which may move),
    and a change to it makes a new cache entry instead of reusing crops made with the old one."""
    import ferkit.data.cache as cache_mod
    from ferkit.faces import crop

    assert crop._crop_finder().threshold == crop.LANDMARK_THRESHOLD == 0.5
    ds = load_dataset(folders, "train")
    key = cache_mod.cache_key(ds, 32, 1)
    monkeypatch.setattr(cache_mod, "LANDMARK_THRESHOLD", 0.6)
    assert cache_mod.cache_key(ds, 32, 1) != key
    monkeypatch.undo()
    assert cache_mod.cache_key(ds, 32, 1) == key
    resize_key = cache_mod.cache_key(ds, 32, 1, crop="resize")
    monkeypatch.setattr(cache_mod, "landmark_model_digest", lambda: "another graph")  # the detector file changed
    assert cache_mod.cache_key(ds, 32, 1) != key
    assert cache_mod.cache_key(ds, 32, 1, crop="resize") == resize_key  # the resize crop reads no landmarks
    assert len(crop.landmark_model_digest()) == 16


def test_dataset_files_are_read_as_predict_reads_them(tmp_path):
    """Class folders (training, ``evaluate``, ``--detect-faces``) and ``ferkit predict`` share one image reader: a
    phone photo's EXIF orientation is applied, a 16-bit gray PNG is scaled rather than clipped to white, gray stays
    gray for the dataset."""
    from ferkit.inference.sources import read_image

    rng = np.random.default_rng(0)
    for cls in ("happy", "sad"):
        (tmp_path / "ds" / cls).mkdir(parents=True)
    rgb = rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)  # landscape pixels, stored with "rotate 90" in EXIF
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "ds" / "happy" / "phone.jpg", quality=95, exif=exif)
    deep = (rng.integers(0, 65535, (40, 40))).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "ds" / "sad" / "deep.png")
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "ds" / "sad" / "gray.png")
    ds = load_dataset(tmp_path / "ds", "all")
    images = {Path(s).name: ds.read_image(i) for i, s in enumerate(ds.source_ids)}
    assert images["phone.jpg"].shape == (90, 60, 3)  # upright, as predict sees it
    np.testing.assert_array_equal(images["phone.jpg"], read_image(tmp_path / "ds" / "happy" / "phone.jpg"))
    assert images["deep.png"].shape == (40, 40) and abs(images["deep.png"].mean() - deep.mean() / 257) < 1
    np.testing.assert_array_equal(images["gray.png"], rgb[:, :, 0])


def test_batch_augment_without_a_preset_is_the_eval_transform():
    from ferkit.data.transforms import build_batch_transforms

    per_image, batch = build_batch_transforms(40, 1, [0.5], [0.25], preset="none")
    ev = build_transforms(40, 1, [0.5], [0.25], train=False)
    images = [torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8) for _ in range(4)]
    loaded = torch.stack([per_image(x) for x in images])  # what the loader yields: uint8, resized, gray
    assert loaded.dtype == torch.uint8 and loaded.shape == (4, 1, 40, 40)
    torch.testing.assert_close(batch(loaded), torch.stack([ev(x) for x in images]))
    with pytest.raises(ValueError, match="data.batch_augment"):
        build_batch_transforms(40, 1, [0.5], [0.25], preset="photo")


def test_batch_augment_draws_each_images_own_flip_warp_and_erasing():
    from ferkit.data.transforms import BatchAugment

    torch.manual_seed(0)
    aug = BatchAugment("standard", 1, [0.0], [1.0])  # mean 0, std 1: the output is the [0, 1] image
    left = torch.zeros(200, 1, 32, 32, dtype=torch.uint8)
    left[..., :16] = 200  # bright left half
    out = aug(left)
    assert out.shape == (200, 1, 32, 32) and out.dtype == torch.float32
    flipped = (out[..., 16:].mean((1, 2, 3)) > out[..., :16].mean((1, 2, 3))).float().mean()
    assert 0.35 < flipped < 0.65  # each image flipped with probability 1/2, not the whole batch
    shifted = (out - aug(left)).abs().amax((1, 2, 3)) > 0.1
    assert shifted.float().mean() > 0.9  # a fresh warp per image and call
    ones = torch.ones(100, 1, 32, 32)
    erased = aug._erase(ones, 1.0, (0.02, 0.15))
    for img in erased[:, 0]:
        zero = img == 0
        rows, cols = zero.any(1).sum(), zero.any(0).sum()
        assert zero.sum() == rows * cols  # one black rectangle
        assert 0.01 < zero.float().mean() < 0.2
