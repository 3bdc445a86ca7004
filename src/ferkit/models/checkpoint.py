"""Checkpoints as ``model.safetensors`` + ``model.json``: tensors without pickle, metadata that rebuilds the model.

The JSON holds ``arch``, ``num_classes``, ``labels``, ``image_size``, ``in_chans``, ``mean``, ``std``,
``model_kwargs`` and ``format_version``, plus whatever the caller adds (recipe, metrics, temperature).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from ferkit.labels import EMOTIONS, EMOTIONS_WITH_CONTEMPT
from ferkit.metadata import check_metadata  # noqa: F401  (re-exported; lives in a torch-free module)
from ferkit.models._registry import create_model
from ferkit.models.ensemble import ARCH as ENSEMBLE
from ferkit.models.ensemble import Ensemble

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"


def _atomic_write(path: Path, write) -> None:
    """Write via a temp file in the same folder then os.replace, so a crash never leaves a half file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _default_labels(num_classes: int) -> list[str]:
    for labels in (EMOTIONS, EMOTIONS_WITH_CONTEMPT):
        if len(labels) == num_classes:
            return list(labels)
    raise ValueError(
        f"The model has {num_classes} classes; pass metadata={{'labels': [...]}} with {num_classes} names."
    )


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Save ``model`` into folder ``path`` as model.safetensors + model.json; returns the folder.

    Metadata defaults come from ``model.default_cfg`` (set by create_model); ``metadata`` overrides/extends them.
    """
    from safetensors.torch import save_file

    cfg = getattr(model, "default_cfg", None) or {}
    if "arch" not in cfg and not (metadata or {}).get("arch"):
        raise ValueError("The model has no default_cfg['arch']; build it with create_model or pass metadata['arch'].")
    meta = {
        k: cfg[k] for k in ("arch", "num_classes", "image_size", "in_chans", "mean", "std", "model_kwargs") if k in cfg
    }
    meta.update(metadata or {})
    if "labels" not in meta:
        meta["labels"] = _default_labels(int(meta["num_classes"]))
    if len(meta["labels"]) != meta["num_classes"]:
        raise ValueError(
            f"{len(meta['labels'])} labels {meta['labels']} for a model with {meta['num_classes']} classes."
        )
    meta["format_version"] = FORMAT_VERSION
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    text = json.dumps(meta, indent=2, default=list)
    _atomic_write(folder / META_NAME, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return folder


def _resolve(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not path.exists():
        raise FileNotFoundError(f"Checkpoint {path} does not exist; pass a folder made by save_checkpoint.")
    weights, meta = folder / WEIGHTS_NAME, folder / META_NAME
    if path.is_file() and path.suffix == ".safetensors":
        weights = path
    for file in (weights, meta):
        if not file.is_file():
            raise FileNotFoundError(
                f"Checkpoint file {file} is missing; a checkpoint is a folder with {WEIGHTS_NAME} and {META_NAME}."
            )
    return weights, meta


TTA_MODES = ("none", "flip")


def read_metadata(path: str | os.PathLike) -> dict:
    """The model.json of a checkpoint (folder or .safetensors path), checked for the keys load_model needs."""
    _, meta_file = _resolve(path)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{meta_file} is not valid JSON ({err}).") from err
    missing = [k for k in ("arch", "num_classes", "in_chans") if k not in meta] if isinstance(meta, dict) else ["all"]
    if missing:
        raise ValueError(f"{meta_file} lacks the keys {missing}; it was not written by ferkit's save_checkpoint.")
    return check_metadata(meta, meta_file)


def build_model(meta: dict) -> nn.Module:
    """The untrained module that model.json ``meta`` describes: a registered architecture, or an ensemble of them
    (``ferkit.models.ensemble``)."""
    num_classes, in_chans, kwargs = int(meta["num_classes"]), int(meta["in_chans"]), meta.get("model_kwargs", {})
    if meta["arch"] == ENSEMBLE:
        if not isinstance(kwargs, dict) or set(kwargs) != {"members"}:
            raise ValueError(f"An ensemble's model_kwargs must be {{'members': [...]}}, got {kwargs!r}.")
        return Ensemble(kwargs["members"], num_classes, in_chans)
    return create_model(meta["arch"], num_classes=num_classes, in_chans=in_chans, **kwargs)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the architecture named in model.json, load model.safetensors, return ``(model.eval(), metadata)``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_file, _ = _resolve(path)
    meta = read_metadata(path)
    model = build_model(meta)
    try:
        state = load_file(str(weights_file))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{weights_file} is not a safetensors file or is damaged ({err}).") from err
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{weights_file} does not match arch {meta['arch']!r}: missing keys {missing[:5]}, unexpected keys "
            f"{unexpected[:5]}; was it saved by another architecture?"
        )
    bad = [
        f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state.items() if v.shape != expected[k].shape
    ]
    if bad:
        raise ValueError(f"{weights_file} has tensors of the wrong shape for {meta['arch']!r}: {bad[:5]}.")
    model.load_state_dict(state)
    tta = meta.get("tta", "none")
    if tta not in TTA_MODES:
        raise ValueError(f"{path}: model.json field 'tta' is {tta!r}; allowed: {list(TTA_MODES)}.")
    model.tta = tta
    for key in ("image_size", "mean", "std", "labels"):
        if key in meta:
            model.default_cfg[key] = tuple(meta[key]) if isinstance(meta[key], list) else meta[key]
    return model.to(device).eval(), meta
