"""``fit(config)``: sequence the stages and epochs of a recipe; resumable, torchrun-aware.

Per epoch: seed (base seed + epoch, so a resumed run draws the same batches and augmentations), train, evaluate
on val (rank 0), early-stopping bookkeeping, best checkpoint in ``<run>/best/``, resumable state in
``<run>/last/``, ``metrics.csv``/``metrics.jsonl``. At the end: ``curves.png``, temperature fitted on val,
test report of the best checkpoint in ``<run>/test_report/``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ferkit.config import TrainConfig, save_config
from ferkit.data.loaders import build_eval_loader
from ferkit.training import distributed as dist_utils
from ferkit.training.epoch import RunContext, end_epoch, train_epoch
from ferkit.training.optim import build_criterion, build_optimizer, build_scheduler
from ferkit.training.setup import (
    configure_torch,
    load_teacher,
    prepare,
    resolve_amp,
    resolve_device,
    resolve_run_dir,
    seed_everything,
)
from ferkit.training.state import RunProgress, find_last, load_last, set_rng_state

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


def fit(
    config: TrainConfig,
    resume: str | Path | None = None,
    callbacks: list[Callable[[dict], None]] | None = None,
    progress: bool = True,
    override_config: bool = False,
) -> RunResult:
    """Train as ``config`` says; ``resume`` (a run folder or ``"auto"``) continues a stopped run from its last
    completed epoch, with the run's saved config unless ``override_config`` (a changed config is refused otherwise).
    ``callbacks`` get each epoch's metrics row (after the state is saved)."""
    start = time.perf_counter()
    device_type = (
        "cuda" if (config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())) else "cpu"
    )
    info = dist_utils.init_distributed(device_type)
    try:
        return _fit(config, resume, callbacks or [], progress and info.is_main, info, start, override_config)
    finally:
        dist_utils.shutdown(info)


def _check_resume(cfg: TrainConfig, run_dir: Path, override: bool) -> Path:
    """The resumed run's last/ state, checked before any data is decoded; a config that differs from the run's
    saved config.yaml is refused unless ``override`` (then the new one is saved)."""
    from ferkit.config import load_config

    last = find_last(run_dir)
    if last is None:
        raise FileNotFoundError(f"{run_dir} has no last/ state to resume from; start a new run instead.")
    saved_path = run_dir / "config.yaml"
    if saved_path.is_file() and not override:
        old, new = _flat(load_config(saved_path).to_dict()), _flat(cfg.to_dict())
        changed = [
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
            for k in sorted(set(old) | set(new))
            if k not in ("out_dir", "name") and old.get(k) != new.get(k)
        ]
        if changed:
            raise ValueError(
                f"--resume {run_dir}: the config differs from the run's config.yaml ({'; '.join(changed)}). "
                "Resume with the same config, or pass --override-config to continue with the new one."
            )
    return last


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _setup(
    cfg: TrainConfig, resume, info, progress: bool, override_config: bool = False
) -> tuple[RunContext, RunProgress, dict | None]:
    device = resolve_device(cfg.device, info)
    configure_torch(cfg, device)
    amp_dtype = resolve_amp(cfg.amp, device)
    run_dir = resolve_run_dir(cfg, resume, info)
    last = _check_resume(cfg, run_dir, override_config) if resume else None
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
    if last is not None:
        resumed = load_last(last, model)
        prog = RunProgress(**resumed["progress"])
        set_rng_state(resumed["rng"])
        log.info("resuming %s at stage %d epoch %d", run_dir, prog.stage, prog.stage_epoch)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        log.info("run folder %s", run_dir)
    teacher = load_teacher(cfg, prep, device) if cfg.loss.distill_from else None
    run = RunContext(
        cfg, info, device, amp_dtype, run_dir, prep, model, criterion, val_loader, train_arrays, progress, teacher
    )
    return run, prog, resumed


def _fit(cfg, resume, callbacks, progress, info, start, override_config: bool = False) -> RunResult:
    run, prog, resumed = _setup(cfg, resume, info, progress, override_config)
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


def _run_stage(run: RunContext, prog: RunProgress, s: int, resumed: dict | None, callbacks) -> None:
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
        row = train_epoch(run, prog, stage, net, optimizer, scheduler, scaler)
        end_epoch(run, prog, s, row, optimizer, scheduler, scaler)
        for cb in callbacks:
            cb(row)


def _hard(arrays):
    """Arrays with soft labels dropped (loss.soft_targets=false): hard targets are their argmax where needed."""
    from dataclasses import replace

    from ferkit.data import hard_labels

    return replace(arrays, labels=hard_labels(arrays.labels, arrays.soft_labels), soft_labels=None)


def _summary(report: dict | None) -> dict | None:
    if not report:
        return None
    return {"accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"], "n": report["n"]}
