"""``fit(config)``: sequence the stages and epochs of a recipe; resumable, torchrun-aware.

Per epoch: seed (base seed + epoch, so a resumed run draws the same batches and augmentations), train, evaluate
on val (rank 0), early-stopping bookkeeping, best checkpoint in ``<run>/best/``, resumable state in
``<run>/last/``, ``metrics.csv``/``metrics.jsonl``. At the end: ``curves.png``, temperature fitted on val,
test report of the best checkpoint in ``<run>/test_report/``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ferkit.config import TrainConfig, save_config
from ferkit.data.cache import CachedArrays
from ferkit.data.loaders import build_eval_loader
from ferkit.training import distributed as dist_utils
from ferkit.training.engine import evaluate, train_one_epoch
from ferkit.training.optim import build_criterion, build_optimizer, build_scheduler
from ferkit.training.setup import (
    Prepared,
    configure_torch,
    prepare,
    resolve_amp,
    resolve_device,
    resolve_run_dir,
    seed_everything,
)
from ferkit.training.state import RunProgress, find_last, get_rng_state, load_last, save_last, set_rng_state

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a run produced: its folder, best checkpoint and metric, per-epoch history, test report dict."""

    run_dir: Path
    best_dir: Path | None
    best_metric: float | None
    best_epoch: int | None
    history: list[dict] = field(default_factory=list)
    test_report: dict | None = None
    stopped_early: bool = False
    seconds: float = 0.0


def _score(metrics: dict, metric: str) -> float | None:
    value = metrics.get(metric)
    if value is None:
        return None
    return -value if metric == "val_loss" else value  # higher is better


def _val_metrics(model, loader, device, criterion, amp_dtype, channels_last) -> dict:
    from sklearn.metrics import f1_score

    loss, logits, labels = evaluate(model, loader, device, criterion, amp_dtype=amp_dtype, channels_last=channels_last)
    pred = logits.argmax(1).numpy()
    return {
        "val_loss": loss,
        "val_acc": float((pred == labels.numpy()).mean()),
        "val_macro_f1": float(f1_score(labels.numpy(), pred, average="macro", zero_division=0)),
    }


def _write_metrics(run_dir: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(run_dir / "metrics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))


def _checkpoint_meta(cfg: TrainConfig, prep, metrics: dict | None = None) -> dict:
    a = prep.arrays
    return {
        "labels": list(a.classes),
        "image_size": a.image_size,
        "in_chans": a.channels,
        "mean": list(prep.mean),
        "std": list(prep.std),
        "recipe": cfg.to_dict(),
        "dataset": prep.dataset_name,
        "metrics": metrics or {},
        "crop": _crop_meta(cfg, a),
    }


def _crop_meta(cfg: TrainConfig, arrays) -> dict | None:
    """The crop the model was trained on, for ``CropSpec.from_metadata`` (None = legacy: the file resized)."""
    from ferkit.faces.crop import CropSpec

    if cfg.data.crop != "template":
        return None
    return CropSpec(arrays.image_size, arrays.channels).to_dict()


def fit(
    config: TrainConfig,
    resume: str | Path | None = None,
    callbacks: list[Callable[[dict], None]] | None = None,
    progress: bool = True,
) -> RunResult:
    """Train as ``config`` says; ``resume`` (a run folder or ``"auto"``) continues a stopped run from its last
    completed epoch. ``callbacks`` get each epoch's metrics row (after the state is saved)."""
    start = time.perf_counter()
    device_type = (
        "cuda" if (config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())) else "cpu"
    )
    info = dist_utils.init_distributed(device_type)
    try:
        return _fit(config, resume, callbacks or [], progress and info.is_main, info, start)
    finally:
        dist_utils.shutdown(info)


@dataclass
class _Run:
    """What every epoch of a run shares."""

    cfg: TrainConfig
    info: dist_utils.DistInfo
    device: torch.device
    amp_dtype: torch.dtype | None
    run_dir: Path
    prep: Prepared
    model: torch.nn.Module
    criterion: torch.nn.Module
    val_loader: DataLoader | None
    train_arrays: CachedArrays
    progress: bool


def _setup(cfg: TrainConfig, resume, info, progress: bool) -> tuple[_Run, RunProgress, dict | None]:
    device = resolve_device(cfg.device, info)
    configure_torch(cfg, device)
    amp_dtype = resolve_amp(cfg.amp, device)
    run_dir = resolve_run_dir(cfg, resume, info)
    seed_everything(cfg.seed)
    prep = prepare(cfg, info)
    model = prep.model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    arrays = prep.arrays
    criterion = build_criterion(cfg.loss, arrays.train.labels, len(arrays.classes), device)
    eval_bs = cfg.data.eval_batch_size or 2 * cfg.data.batch_size
    val_loader = build_eval_loader(arrays.val, prep.eval_tf, eval_bs, cfg.data.workers) if arrays.val else None
    use_soft = cfg.loss.soft_targets and arrays.train.soft_labels is not None
    train_arrays = arrays.train if use_soft or arrays.train.soft_labels is None else _hard(arrays.train)
    if val_loader is None and cfg.early_stop.patience:
        log.warning("no validation split: early stopping is off and the last epoch is kept as best")
    prog, resumed = RunProgress(), None
    if resume:
        last = find_last(run_dir)
        if last is None:
            raise FileNotFoundError(f"{run_dir} has no last/ state to resume from; start a new run instead.")
        resumed = load_last(last, model)
        prog = RunProgress(**resumed["progress"])
        set_rng_state(resumed["rng"])
        log.info("resuming %s at stage %d epoch %d", run_dir, prog.stage, prog.stage_epoch)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        log.info("run folder %s", run_dir)
    run = _Run(cfg, info, device, amp_dtype, run_dir, prep, model, criterion, val_loader, train_arrays, progress)
    return run, prog, resumed


def _fit(cfg, resume, callbacks, progress, info, start) -> RunResult:
    run, prog, resumed = _setup(cfg, resume, info, progress)
    for s in range(prog.stage, len(cfg.stages)):
        if prog.stage != s:
            prog.stage, prog.stage_epoch, prog.stage_done = s, 0, False
        if not prog.stage_done and prog.stage_epoch < cfg.stages[s].epochs:
            _run_stage(run, prog, s, resumed if resumed and resumed["progress"]["stage"] == s else None, callbacks)
        resumed = None
    metric = cfg.early_stop.metric
    result = RunResult(
        run.run_dir,
        run.run_dir / "best",
        prog.best_score,
        prog.best_epoch,
        prog.history,
        stopped_early=prog.stopped_early,
    )
    if info.is_main and prog.history:
        from ferkit.training.finalize import finalize_run

        result.test_report = finalize_run(
            cfg, run.prep, run.run_dir, run.val_loader, run.device, run.criterion, prog.history
        )
    if prog.best_score is not None:
        result.best_metric = -prog.best_score if metric == "val_loss" else prog.best_score
    result.seconds = time.perf_counter() - start
    if info.is_main:
        (run.run_dir / "result.json").write_text(
            json.dumps(
                {
                    "best_metric": result.best_metric,
                    "metric": metric,
                    "best_epoch": result.best_epoch,
                    "epochs": len(prog.history),
                    "stopped_early": result.stopped_early,
                    "seconds": round(result.seconds, 1),
                    "test": _summary(result.test_report),
                },
                indent=1,
            )
        )
    return result


def _run_stage(run: _Run, prog: RunProgress, s: int, resumed: dict | None, callbacks) -> None:
    """Epochs of stage ``s`` from ``prog.stage_epoch`` until its end or early stopping."""
    cfg, stage = run.cfg, run.cfg.stages[s]
    optimizer = build_optimizer(run.model, stage)  # freezes what the stage does not train
    net = run.model
    if run.info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # Wrapped per stage: DDP registers the parameters that require grad when it is built.
        net = DDP(run.model, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    steps = max(1, len(run.train_arrays) // (cfg.data.batch_size * run.info.world_size))
    scheduler = build_scheduler(optimizer, stage, steps)
    scaler = torch.amp.GradScaler("cuda") if run.amp_dtype == torch.float16 else None
    if resumed is not None and prog.stage_epoch > 0:
        optimizer.load_state_dict(resumed["optimizer"])
        for obj, key in ((scheduler, "scheduler"), (scaler, "scaler")):
            if obj is not None and resumed.get(key):
                obj.load_state_dict(resumed[key])
    else:
        prog.bad_epochs = 0
    log.info(
        "stage %d/%d %r: %d epochs, lr %g, training %s",
        s + 1,
        len(cfg.stages),
        stage.name,
        stage.epochs,
        stage.lr,
        stage.train,
    )
    while not prog.stage_done and prog.stage_epoch < stage.epochs:
        row = _train_epoch(run, prog, stage, net, optimizer, scheduler, scaler)
        _end_epoch(run, prog, s, row, optimizer, scheduler, scaler)
        for cb in callbacks:
            cb(row)


def _train_epoch(run: _Run, prog: RunProgress, stage, net, optimizer, scheduler, scaler) -> dict:
    """Seed (base seed + epoch), train one epoch, validate on rank 0; returns the epoch's metrics row."""
    from ferkit.data.loaders import ArrayDataset, build_loader

    cfg, info = run.cfg, run.info
    seed_everything(cfg.seed + prog.epoch)
    loader = build_loader(
        ArrayDataset(run.train_arrays, run.prep.train_tf),
        cfg.data.batch_size,
        train=True,
        num_workers=cfg.data.workers,
        balanced=cfg.data.balanced,
        distributed=info.enabled,
        seed=cfg.seed + prog.epoch,
    )
    if info.enabled:
        loader.sampler.set_epoch(prog.epoch)
    stats = train_one_epoch(
        net,
        loader,
        run.criterion,
        optimizer,
        scheduler=scheduler,
        device=run.device,
        scaler=scaler,
        epoch=prog.epoch + 1,
        amp_dtype=run.amp_dtype,
        channels_last=cfg.channels_last,
        grad_clip=cfg.grad_clip,
        progress=run.progress,
    )
    loss_sum, correct, seen = dist_utils.all_reduce_sum(
        [stats["loss"] * stats["images"], stats["acc"] * stats["images"], stats["images"]], info, run.device
    )
    row = {
        "epoch": prog.epoch + 1,
        "stage": stage.name,
        "stage_epoch": prog.stage_epoch + 1,
        "lr": optimizer.param_groups[0]["lr"],
        "train_loss": loss_sum / max(seen, 1),
        "train_acc": correct / max(seen, 1),
        "seconds": round(stats["seconds"], 3),
        "images_per_s": round(seen / max(stats["seconds"], 1e-9), 1),
    }
    val = None
    if run.val_loader is not None and info.is_main:
        val = _val_metrics(run.model, run.val_loader, run.device, run.criterion, run.amp_dtype, cfg.channels_last)
    row.update(dist_utils.broadcast(val, info) or {})
    return row


def _end_epoch(run: _Run, prog: RunProgress, s: int, row: dict, optimizer, scheduler, scaler) -> None:
    """Best checkpoint, early-stopping counters, metrics files and the resumable ``last/`` state."""
    from ferkit.models import save_checkpoint

    cfg, stage, info = run.cfg, run.cfg.stages[s], run.info
    has_val = "val_acc" in row
    score = _score(row, cfg.early_stop.metric) if has_val else float(prog.epoch)  # no val: the last epoch is best
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(score)
    if prog.best_score is None or score > prog.best_score + cfg.early_stop.min_delta:
        prog.best_score, prog.best_epoch, prog.bad_epochs = score, prog.epoch + 1, 0
        if info.is_main:
            save_checkpoint(run.model, run.run_dir / "best", _checkpoint_meta(cfg, run.prep, row))
    else:
        prog.bad_epochs += 1
    prog.epoch += 1
    prog.stage_epoch += 1
    prog.history.append(row)
    log.info(
        "epoch %d (%s %d/%d): %s",
        row["epoch"],
        stage.name,
        row["stage_epoch"],
        stage.epochs,
        ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k.endswith(("loss", "acc", "f1"))),
    )
    patience = cfg.early_stop.patience
    if has_val and patience and stage.early_stop and prog.bad_epochs >= patience:
        prog.stopped_early = prog.stage_done = True
        log.info("early stop: %s has not improved for %d epochs", cfg.early_stop.metric, prog.bad_epochs)
    if info.is_main:
        _write_metrics(run.run_dir, prog.history)
        state = {
            "progress": vars(prog).copy(),
            "rng": get_rng_state(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
        }
        save_last(run.run_dir, run.model, _checkpoint_meta(cfg, run.prep, row), state)
    dist_utils.barrier(info)


def _hard(arrays):
    """Arrays with soft labels dropped (loss.soft_targets=false): hard targets are their argmax where needed."""
    from dataclasses import replace

    from ferkit.data import hard_labels

    return replace(arrays, labels=hard_labels(arrays.labels, arrays.soft_labels), soft_labels=None)


def _summary(report: dict | None) -> dict | None:
    if not report:
        return None
    return {"accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"], "n": report["n"]}
