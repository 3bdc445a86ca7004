"""Everything ``fit`` needs before the first epoch: device, AMP, seeds, run folder, data, model, transforms."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferkit.config import TrainConfig
from ferkit.training.data import SplitArrays, decode_splits, load_extra_train, load_splits
from ferkit.training.distributed import DistInfo, barrier, broadcast

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str, dist_info: DistInfo | None = None) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU raises."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but torch sees no CUDA GPU; use device=cpu or device=auto.")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and dist_info is not None and dist_info.enabled:
        return torch.device("cuda", dist_info.local_rank)
    return torch.device(name)


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: ``auto`` is bf16 on a GPU that supports it, fp16 on older GPUs, off on CPU."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp=fp16 needs a CUDA device; use amp=bf16 or amp=off on CPU.")
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def configure_torch(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels


def _newest_run(out_dir: Path, name: str | None) -> Path:
    from ferkit.training.state import find_last

    runs = [p for p in out_dir.glob(f"{name}*" if name else "*") if p.is_dir() and find_last(p) is not None]
    if not runs:
        raise FileNotFoundError(
            f"--resume auto found no run with a last/ state under {out_dir}; "
            "pass the run folder, or start without --resume."
        )
    return max(runs, key=lambda p: (p / "last").stat().st_mtime if (p / "last").exists() else 0)


def resolve_run_dir(cfg: TrainConfig, resume: str | Path | None, info: DistInfo) -> Path:
    """The run folder: the resumed one, or ``<out_dir>/<name>`` (a fresh one must not hold a state yet)."""
    out_dir = Path(cfg.out_dir)
    if resume == "auto":
        run = _newest_run(out_dir, cfg.name)
    elif resume:
        run = Path(resume)
        if not run.is_dir():
            raise FileNotFoundError(f"--resume {run}: no such run folder.")
    else:
        name = cfg.name or f"{cfg.model.name}_{Path(cfg.data.path).name}_{time.strftime('%Y%m%d-%H%M%S')}"
        run = out_dir / name
        if (run / "last").exists() and info.is_main:
            raise ValueError(
                f"Run folder {run} already holds a run; resume it with --resume {run} or pick another "
                "name (name=... or --out)."
            )
    return Path(broadcast(str(run), info))


@dataclass
class Prepared:
    """The model, data and transforms of a run."""

    model: nn.Module
    arrays: SplitArrays
    train_tf: Callable[[torch.Tensor], torch.Tensor]
    eval_tf: Callable[[torch.Tensor], torch.Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset_name: str = ""
    extra: dict = field(default_factory=dict)
    batch_tf: torch.nn.Module | None = None  # data.batch_augment: the augmentation of a whole batch, in the step


def _init_from_checkpoint(model, path: str, arch: str) -> None:
    """Load a trained ferkit checkpoint's weights into ``model`` (same architecture and classes) to fine-tune it."""
    from ferkit.models import load_model

    trained, meta = load_model(path)
    if meta.get("arch") != arch:
        raise ValueError(
            f"model.init_from={path!r} holds a {meta.get('arch')!r} model, but model.name is {arch!r}; "
            "set model.name to the checkpoint's architecture."
        )
    model.load_state_dict(trained.state_dict())
    log.info("initialised %s from %s", arch, path)


def load_teacher(cfg: TrainConfig, prep: Prepared, device):
    """The ``loss.distill_from`` checkpoint in eval mode, frozen. It must read what the student reads (input size,
    channels, mean/std, crop) and name the same classes in the same order, or ValueError says which differs."""
    from ferkit.faces.crop import CropSpec
    from ferkit.models import load_model

    path = cfg.loss.distill_from
    teacher, meta = load_model(path, device)
    mine = {  # as resolved for this run (data.image_size / channels may be left to the model's defaults)
        "labels": list(prep.arrays.classes),
        "image_size": prep.arrays.image_size,
        "in_chans": prep.arrays.channels,
        "mean": list(prep.mean),
        "std": list(prep.std),
        "crop": cfg.data.crop,
    }
    theirs = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in meta.items() if k in mine}
    theirs["crop"] = CropSpec.from_metadata(meta).data_crop
    bad = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
    if bad:
        raise ValueError(
            f"loss.distill_from={path!r} does not read what the student reads: {bad} (teacher, student); "
            "distil from a model of the same input, normalisation and classes."
        )
    for p in teacher.parameters():
        p.requires_grad_(False)
    log.info(
        "distilling from %s (weight %s, temperature %s)", path, cfg.loss.distill_weight, cfg.loss.distill_temperature
    )
    return teacher.eval()


def prepare(cfg: TrainConfig, info: DistInfo) -> Prepared:
    """Read and decode the data (rank 0 first, so other ranks read its cache), build the model and transforms."""
    from ferkit.data.transforms import build_batch_transforms, build_transforms
    from ferkit.labels import get_classes
    from ferkit.models import create_model, get_model_cfg

    model_cfg = get_model_cfg(cfg.model.name)
    image_size = cfg.data.image_size or model_cfg["image_size"]
    channels = cfg.data.channels or model_cfg["in_chans"]
    if image_size < model_cfg.get("min_image_size", 1):
        raise ValueError(
            f"data.image_size={image_size} is below {cfg.model.name}'s minimum "
            f"{model_cfg['min_image_size']}; raise it or pick another model."
        )
    classes = get_classes(cfg.data.include_contempt)
    model = create_model(
        cfg.model.name,
        num_classes=len(classes),
        in_chans=channels,
        pretrained=cfg.model.pretrained,
        weights=cfg.model.weights,
        **cfg.model.kwargs,
    )
    if cfg.model.init_from:
        _init_from_checkpoint(model, cfg.model.init_from, cfg.model.name)
    if not info.is_main:
        barrier(info)
    splits = load_splits(cfg.data, cfg.seed)
    arrays = decode_splits(cfg.data, splits, image_size, channels, extra=load_extra_train(cfg.data))
    if info.is_main:
        barrier(info)
    if tuple(arrays.classes) != tuple(classes):
        raise ValueError(
            f"The data's classes {arrays.classes} differ from the model's {classes}; check data.include_contempt."
        )
    mean, std = tuple(model.default_cfg["mean"]), tuple(model.default_cfg["std"])
    batch_tf = None
    if cfg.data.batch_augment:
        train_tf, batch_tf = build_batch_transforms(image_size, channels, mean, std, preset=cfg.data.augment)
    else:
        train_tf = build_transforms(image_size, channels, mean, std, train=True, preset=cfg.data.augment)
    eval_tf = build_transforms(image_size, channels, mean, std, train=False)
    return Prepared(model, arrays, train_tf, eval_tf, mean, std, splits["train"].name, batch_tf=batch_tf)
