"""One epoch of a run: train, validate, then the best checkpoint, early-stopping counters, metrics files and the
resumable ``last/`` state. ``fit`` sequences these over stages."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ferkit.config import TrainConfig
from ferkit.data.cache import CachedArrays
from ferkit.training import distributed as dist_utils
from ferkit.training.engine import evaluate, train_one_epoch
from ferkit.training.setup import Prepared, seed_everything
from ferkit.training.state import RunProgress, get_rng_state, save_last

log = logging.getLogger(__name__)


@dataclass
class RunContext:
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
    teacher: torch.nn.Module | None = None  # loss.distill_from, loaded once per run (``setup.load_teacher``)


def metric_score(metrics: dict, metric: str) -> float | None:
    value = metrics.get(metric)
    if value is None:
        return None
    return -value if metric == "val_loss" else value  # higher is better


def val_metrics(model, loader, device, criterion, amp_dtype, channels_last) -> dict:
    from sklearn.metrics import f1_score

    loss, logits, labels = evaluate(model, loader, device, criterion, amp_dtype=amp_dtype, channels_last=channels_last)
    pred = logits.argmax(1).numpy()
    return {
        "val_loss": loss,
        "val_acc": float((pred == labels.numpy()).mean()),
        "val_macro_f1": float(f1_score(labels.numpy(), pred, average="macro", zero_division=0)),
    }


def write_metrics(run_dir: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(run_dir / "metrics.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))


def checkpoint_meta(cfg: TrainConfig, prep, metrics: dict | None = None) -> dict:
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
        "crop": crop_meta(cfg, a),
    }


def crop_meta(cfg: TrainConfig, arrays) -> dict | None:
    """The crop the model was trained on, for ``CropSpec.from_metadata`` (None = legacy: the file resized)."""
    from ferkit.faces.crop import CropSpec

    if cfg.data.crop != "template":
        return None
    return CropSpec(arrays.image_size, arrays.channels).to_dict()


def train_epoch(run: RunContext, prog: RunProgress, stage, net, optimizer, scheduler, scaler) -> dict:
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
        mixup=cfg.loss.mixup,
        cutmix=cfg.loss.cutmix,
        batch_transform=run.prep.batch_tf,
        teacher=run.teacher,
        distill=(cfg.loss.distill_weight, cfg.loss.distill_temperature),
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
        val = val_metrics(run.model, run.val_loader, run.device, run.criterion, run.amp_dtype, cfg.channels_last)
    row.update(dist_utils.broadcast(val, info) or {})
    return row


def end_epoch(run: RunContext, prog: RunProgress, s: int, row: dict, optimizer, scheduler, scaler) -> None:
    """Best checkpoint, early-stopping counters, metrics files and the resumable ``last/`` state."""
    from ferkit.models import save_checkpoint

    cfg, stage, info = run.cfg, run.cfg.stages[s], run.info
    has_val = "val_acc" in row
    score = metric_score(row, cfg.early_stop.metric) if has_val else float(prog.epoch)  # no val: the last epoch is best
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(score)
    if prog.best_score is None or score > prog.best_score + cfg.early_stop.min_delta:
        prog.best_score, prog.best_epoch, prog.bad_epochs = score, prog.epoch + 1, 0
        if info.is_main:
            save_checkpoint(run.model, run.run_dir / "best", checkpoint_meta(cfg, run.prep, row))
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
        write_metrics(run.run_dir, prog.history)
        state = {
            "progress": vars(prog).copy(),
            "rng": get_rng_state(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
        }
        save_last(run.run_dir, run.model, checkpoint_meta(cfg, run.prep, row), state)
    dist_utils.barrier(info)
