"""Loss, optimiser and learning-rate schedule of a stage; freezing the parameter groups a stage does not train."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from ferkit.config import LossConfig, StageConfig

log = logging.getLogger(__name__)


def build_criterion(
    loss: LossConfig, train_labels: np.ndarray, num_classes: int, device: torch.device | str = "cpu"
) -> nn.Module:
    """Cross-entropy with optional class weights and label smoothing.

    Works for hard (int) and soft (probability N x C) targets alike: torch's CrossEntropyLoss takes both.
    ``class_weights="balanced"`` gives ``n / (C * count_c)`` from the train labels (sklearn's rule; 1 for
    an absent class).
    """
    weight = None
    cw = loss.class_weights
    if isinstance(cw, list):
        if len(cw) != num_classes:
            raise ValueError(
                f"loss.class_weights has {len(cw)} values for {num_classes} classes; give one per class "
                "or use 'balanced'."
            )
        weight = torch.tensor(cw, dtype=torch.float32)
    elif cw == "balanced":
        labels = train_labels[train_labels >= 0]
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        w = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 1.0)
        weight = torch.tensor(w, dtype=torch.float32)
        log.info("class weights (balanced): %s", np.round(w, 3).tolist())
    if weight is not None:
        weight = weight.to(device)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=loss.label_smoothing)


def stage_parameters(model: nn.Module, groups: list[str]) -> list[nn.Parameter]:
    """Parameters of the named groups (``head``, ``attention``, ``stem``, ``backbone`` or ``all``)."""
    from ferkit.models import split_parameters

    if "all" in groups:
        return list(model.parameters())
    parts = split_parameters(model)
    params = [p for g in groups for p in parts[g]]
    if not params:
        raise ValueError(
            f"The stage trains {groups} but model {type(model).__name__} has no parameters there "
            f"(group sizes: { {k: len(v) for k, v in parts.items()} }); add another group."
        )
    return params


def freeze_for_stage(model: nn.Module, groups: list[str]) -> list[nn.Parameter]:
    """Set requires_grad True on the stage's groups and False elsewhere; returns the trainable parameters."""
    trainable = stage_parameters(model, groups)
    ids = {id(p) for p in trainable}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    return trainable


def build_optimizer(model: nn.Module, stage: StageConfig) -> torch.optim.Optimizer:
    """Freeze what ``stage.train`` leaves out, then an Adam/AdamW/SGD over the trainable parameters."""
    params = freeze_for_stage(model, stage.train)
    if stage.optimizer == "adam":
        return torch.optim.Adam(params, lr=stage.lr, weight_decay=stage.weight_decay)
    if stage.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=stage.lr, weight_decay=stage.weight_decay)
    if stage.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=stage.lr, momentum=stage.momentum, weight_decay=stage.weight_decay, nesterov=stage.momentum > 0
        )
    raise ValueError(f"Unknown optimizer {stage.optimizer!r}; choose adam, adamw or sgd.")


def build_scheduler(optimizer: torch.optim.Optimizer, stage: StageConfig, steps_per_epoch: int):
    """The stage's schedule, stepped per batch (``plateau``: per epoch with the monitored metric), or None."""
    sched = stage.scheduler
    total = max(1, stage.epochs * steps_per_epoch)
    warmup = int(stage.warmup_epochs * steps_per_epoch)
    if sched == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=stage.lr, total_steps=total)
    if sched == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=stage.gamma, patience=stage.plateau_patience
        )
    if sched == "none" and warmup == 0:
        return None
    floor = stage.min_lr / stage.lr if stage.lr > 0 else 0.0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if sched == "cosine":
            t = (step - warmup) / max(1, total - warmup)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if sched == "step":
            return stage.gamma ** (step // (max(1, stage.step_size) * steps_per_epoch))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
