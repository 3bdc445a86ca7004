"""Training: ``train_one_epoch`` / ``evaluate`` as plain functions, stages as data, ``fit(config)``, resumable runs."""

from __future__ import annotations

from ferkit.training.engine import evaluate, set_train_mode, train_one_epoch
from ferkit.training.fit import RunResult, fit
from ferkit.training.optim import build_criterion, build_optimizer, build_scheduler, freeze_for_stage

__all__ = [
    "RunResult",
    "build_criterion",
    "build_optimizer",
    "build_scheduler",
    "evaluate",
    "fit",
    "freeze_for_stage",
    "set_train_mode",
    "train_one_epoch",
]
