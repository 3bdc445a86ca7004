"""Training: frozen stages, a small real run, resume, early stopping, torchrun, ferkit evaluate, bad checkpoints.

Real images: 6 per class copied from ../shared/data/rafdb into generic class folders (train/ and test/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ferkit.config import StageConfig, load_config

RAFDB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rafdb" / "DATASET"
REPO = Path(__file__).resolve().parents[1]
PER_CLASS = 6


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """``root/{train,test}/<emotion>/*.jpg``: the first PER_CLASS RAF-DB images of each class and split."""
    if not RAFDB.is_dir():
        pytest.skip(f"RAF-DB not found at {RAFDB} (see ../shared/data/README.md)")
    from ferkit.labels import RAFDB_INDEX

    root = tmp_path_factory.mktemp("faces")
    for split in ("train", "test"):
        for idx, emotion in RAFDB_INDEX.items():
            dst = root / split / emotion
            dst.mkdir(parents=True)
            for src in sorted((RAFDB / split / str(idx)).glob("*.jpg"))[:PER_CLASS]:
                shutil.copy(src, dst / src.name)
    return root


def _cfg(faces: Path, out: Path, *extra: str):
    base = [
        f"data.path={faces}",
        "data.cache=false",
        "data.image_size=32",
        "data.channels=1",
        "data.val_from={split: test, fractions: {val: 0.5, test: 0.5}, seed: 0}",
        "data.batch_size=7",
        "data.augment=none",
        "model.name=simple_cnn",
        "model.kwargs.drop_rate=0.0",
        "threads=1",
        f"out_dir={out}",
        "name=run",
        "channels_last=false",
    ]
    return load_config(None, base + list(extra))


def _batches(n: int = 2, size: int = 32):
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 1, size, size, generator=gen), torch.randint(0, 7, (8,), generator=gen)) for _ in range(n)]


def _group_state(model, group: str) -> dict[str, torch.Tensor]:
    """Parameters of a split_parameters group plus the BatchNorm buffers of the features (backbone)."""
    from ferkit.models import split_parameters

    ids = {id(p) for p in split_parameters(model)[group]}
    out = {k: v.detach().clone() for k, v in model.named_parameters() if id(v) in ids}
    if group == "backbone":
        out.update({k: v.clone() for k, v in model.named_buffers() if k.startswith("features.")})
    return out


def test_head_stage_leaves_backbone_and_bn_stats_unchanged_then_all_stage_updates():
    from ferkit.models import create_model
    from ferkit.training import build_optimizer, train_one_epoch

    torch.manual_seed(0)
    model = create_model("fercnet_s", in_chans=1)
    crit = torch.nn.CrossEntropyLoss()
    before, head_before = _group_state(model, "backbone"), _group_state(model, "head")
    opt = build_optimizer(model, StageConfig(train=["head"], lr=0.05))
    train_one_epoch(model, _batches(), crit, opt, progress=False)
    after = _group_state(model, "backbone")
    assert all(torch.equal(before[k], after[k]) for k in before), "stage 1 changed the backbone"
    assert any(not torch.equal(head_before[k], v) for k, v in _group_state(model, "head").items())
    assert not any(p.requires_grad for p in model.features.parameters())

    opt = build_optimizer(model, StageConfig(train=["all"], lr=0.05))
    train_one_epoch(model, _batches(), crit, opt, progress=False)
    final = _group_state(model, "backbone")
    assert any(not torch.equal(after[k], final[k]) for k in after if "running_mean" in k)
    assert any(not torch.equal(after[k], final[k]) for k in after if k.endswith("weight"))


@pytest.fixture(scope="module")
def trained_run(faces, tmp_path_factory):
    from ferkit.training import fit

    cfg = _cfg(faces, tmp_path_factory.mktemp("runs"), "stages.0.epochs=3", "stages.0.lr=3e-3")
    return fit(cfg, progress=False)


@pytest.mark.needs_data("rafdb/DATASET")
def test_small_real_run_learns_and_writes_its_outputs(trained_run):
    hist = trained_run.history
    assert len(hist) == 3
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    run = trained_run.run_dir
    for name in (
        "config.yaml",
        "metrics.csv",
        "metrics.jsonl",
        "curves.png",
        "result.json",
        "best/model.safetensors",
        "best/model.json",
        "last/state.pt",
        "test_report/report.json",
        "test_report/confusion.png",
    ):
        assert (run / name).is_file(), name
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 4  # header + 3 epochs

    from ferkit.models import load_model

    model, meta = load_model(run / "best")
    assert meta["labels"][3] == "happy" and meta["image_size"] == 32 and meta["in_chans"] == 1
    assert meta["temperature"] > 0 and meta["recipe"]["model"]["name"] == "simple_cnn"
    assert trained_run.test_report["n"] == 7 * PER_CLASS // 2
    assert "ece_after_temperature" in trained_run.test_report["extra"]


@pytest.mark.needs_data("rafdb/DATASET")
@pytest.mark.parametrize("batch_augment", [False, True])
def test_resumed_run_ends_like_an_uninterrupted_one(faces, tmp_path, batch_augment):
    """Also with the augmentation drawn per batch in the training step (``data.batch_augment``): the same draws."""
    from safetensors.torch import load_file

    from ferkit.training import fit

    extra = (
        "stages.0.epochs=2",
        "stages.0.lr=3e-3",
        "data.augment=standard",
        f"data.batch_augment={str(batch_augment).lower()}",
        "model.name=fercnet_s",
        "model.kwargs.drop_rate=0.3",
        "stages.0.scheduler=cosine",
    )
    full = fit(_cfg(faces, tmp_path / "a", *extra), progress=False)

    def crash(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt("simulated kill after epoch 1")

    cfg = _cfg(faces, tmp_path / "b", *extra)
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, callbacks=[crash], progress=False)
    resumed = fit(cfg, resume=tmp_path / "b" / "run", progress=False)
    a = load_file(str(full.run_dir / "last" / "model.safetensors"))
    b = load_file(str(resumed.run_dir / "last" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    assert [r["train_loss"] for r in resumed.history] == pytest.approx([r["train_loss"] for r in full.history])
    assert f"batch_augment: {str(batch_augment).lower()}" in (resumed.run_dir / "config.yaml").read_text()


@pytest.mark.needs_data("rafdb/DATASET")
def test_early_stopping_stops_when_the_metric_cannot_improve(faces, tmp_path):
    from ferkit.training import fit

    cfg = _cfg(
        faces,
        tmp_path,
        "stages.0.epochs=5",
        "stages.0.lr=0",
        "stages.0.train=[head]",
        "early_stop.patience=1",
        "early_stop.metric=val_loss",
    )
    result = fit(cfg, progress=False)
    assert result.stopped_early and len(result.history) == 2


@pytest.mark.needs_data("rafdb/DATASET")
def test_evaluate_cli_writes_a_report(trained_run, faces, tmp_path, capsys):
    import json

    from ferkit.cli import main

    out = tmp_path / "rep"
    code = main(
        [
            "evaluate",
            "--model",
            str(trained_run.run_dir / "best"),
            "--data",
            str(faces),
            "--split",
            "test",
            "--out",
            str(out),
            "--no-latency",
        ]
    )
    assert code == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["n"] == 7 * PER_CLASS and rep["extra"]["params"] > 0 and (out / "confusion.png").is_file()
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.needs_data("rafdb/DATASET")
def test_corrupt_checkpoint_gives_a_clear_error(trained_run, faces, tmp_path, capsys):
    from ferkit.cli import main

    bad = tmp_path / "bad"
    shutil.copytree(trained_run.run_dir / "best", bad)
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    code = main(["evaluate", "--model", str(bad), "--data", str(faces), "--no-latency"])
    assert code == 2
    assert "safetensors" in capsys.readouterr().err


@pytest.mark.needs_data("rafdb/DATASET")
def test_resume_with_a_damaged_state_fails_clearly(trained_run, tmp_path):
    from ferkit.training import fit

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_dir, run)
    (run / "last" / "state.pt").write_bytes(b"garbage")
    cfg = load_config(trained_run.run_dir / "config.yaml", [f"out_dir={tmp_path}"])
    with pytest.raises(RuntimeError, match="Cannot read the resume state"):
        fit(cfg, resume=run, progress=False)


@pytest.mark.slow
@pytest.mark.needs_data("rafdb/DATASET")
def test_torchrun_two_processes_complete_an_epoch(faces, tmp_path):
    from ferkit.config import save_config

    cfg = _cfg(faces, tmp_path, "stages.0.epochs=1", "device=cpu")
    path = save_config(cfg, tmp_path / "ddp.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "ferkit",
        "train",
        str(path),
        "--no-progress",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / "best" / "model.safetensors").is_file()
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 2


@pytest.mark.needs_data("rafdb/DATASET")
def test_cli_train_then_resume_auto_with_more_epochs(faces, tmp_path, capsys):
    import json

    from ferkit.cli import main
    from ferkit.config import save_config

    recipe = save_config(_cfg(faces, tmp_path, "stages.0.epochs=1"), tmp_path / "recipe.yaml")
    assert main(["train", str(recipe), "--no-progress"]) == 0
    assert "test: accuracy" in capsys.readouterr().out
    # A changed config is refused on resume (naming the key), unless --override-config.
    assert main(["train", str(recipe), "stages.0.epochs=2", "--resume", "auto", "--no-progress"]) == 2
    assert "stages" in capsys.readouterr().err
    # With it, resuming a finished run with a longer stage trains only the missing epoch.
    args = ["train", str(recipe), "stages.0.epochs=2", "--resume", "auto", "--override-config", "--no-progress"]
    assert main(args) == 0
    rows = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and json.loads((tmp_path / "run" / "result.json").read_text())["epochs"] == 2
    assert main(["train", str(recipe), "data.bach_size=3"]) == 2
    assert "Did you mean 'batch_size'" in capsys.readouterr().err


def test_resume_without_state_fails_before_reading_data(tmp_path, capsys):
    """--resume on a folder with no saved state says so at once (no dataset is read: the path does not exist)."""
    from ferkit.cli import main

    (tmp_path / "run").mkdir()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {path: /nonexistent/dataset}\nmodel: {name: simple_cnn}\nstages: [{epochs: 1}]\n")
    assert main(["train", str(recipe), "--resume", str(tmp_path / "run"), "--no-progress"]) == 2
    assert "no last/ state" in capsys.readouterr().err
