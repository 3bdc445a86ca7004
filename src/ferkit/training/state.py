"""The resumable state of a run in ``<run>/last/``: model weights (safetensors) plus ``state.pt`` (optimizer,
scheduler and scaler state, counters, RNG states, history), written atomically every epoch.

``state.pt`` holds only tensors, numbers, strings, lists and dicts, and is read with
``torch.load(weights_only=True)``, so resuming never unpickles arbitrary objects.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

STATE_NAME = "state.pt"


@dataclass
class RunProgress:
    """Counters saved in ``last/state.pt``: the current stage, the epochs done in it, whether early stopping ended it.

    A finished stage stays the current one until the next starts, so resuming with more epochs for it extends it.
    """

    stage: int = 0
    stage_epoch: int = 0
    stage_done: bool = False
    epoch: int = 0  # epochs done over all stages
    best_score: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)  # one metrics row per epoch


def get_rng_state() -> dict:
    """Python, numpy, torch (and CUDA) RNG states as weights_only-loadable values."""
    np_state = np.random.get_state()
    state = {
        "python": list(random.getstate()[1]) + [random.getstate()[0]],
        "python_gauss": random.getstate()[2],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of ``get_rng_state``."""
    py = state["python"]
    random.setstate((int(py[-1]), tuple(int(v) for v in py[:-1]), state["python_gauss"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_last(run_dir: Path, model: nn.Module, metadata: dict, state: dict) -> Path:
    """Write ``<run>/last/`` (model.safetensors + model.json + state.pt) atomically: build ``last.tmp`` then
    swap it in, so a run killed mid-write still has the previous epoch's complete state."""
    from ferkit.models import save_checkpoint

    final, tmp, old = run_dir / "last", run_dir / "last.tmp", run_dir / "last.old"
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(model, tmp, metadata)
    torch.save(state, tmp / STATE_NAME)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def find_last(run_dir: Path) -> Path | None:
    """The folder with the newest complete state of ``run_dir`` (``last``, or ``last.old`` after a crash mid-swap)."""
    for name in ("last", "last.old"):
        folder = run_dir / name
        if (folder / STATE_NAME).is_file() and (folder / "model.safetensors").is_file():
            return folder
    return None


def load_last(folder: Path, model: nn.Module) -> dict:
    """Load the weights of ``folder`` into ``model`` (in place) and return its ``state.pt`` dict."""
    from safetensors.torch import load_file

    try:
        weights = load_file(str(folder / "model.safetensors"))
        state = torch.load(folder / STATE_NAME, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any read failure means the state cannot be trusted
        raise RuntimeError(
            f"Cannot read the resume state in {folder} ({type(err).__name__}: {err}); "
            "start a new run instead of --resume."
        ) from err
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"The resume state in {folder} does not fit model {type(model).__name__} (missing "
            f"{missing[:3]}, unexpected {unexpected[:3]}); resume with the same model config."
        )
    return state
