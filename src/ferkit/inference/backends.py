"""Classifier backends: the same ``probs = backend(batch)`` over torch or ONNX Runtime.

``load_classifier(model, backend)`` resolves the model (``None`` = the packaged default; a checkpoint folder or
model.safetensors; an exported model.onnx; a TorchScript .pt) and picks the backend: ``auto`` uses ONNX Runtime
on CPU (an exported .onnx as is; a checkpoint converted in memory), torch otherwise. The packaged default ships
both ``model.onnx`` and the checkpoint: ``auto``/``onnx`` read the .onnx, so a base install never imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ferkit.extras import MissingExtraError, is_installed, require, torch_available
from ferkit.onnxrt import cpu_session

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")
EXPORT_SUFFIXES = (".onnx", ".pt", ".pth", ".torchscript")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "assets" / "default"


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """float32 probabilities of ``logits / temperature`` (ferkit.evaluation.softmax, kept in float32 for results)."""
    from ferkit.evaluation import softmax as softmax64

    return softmax64(logits, temperature).astype(np.float32)


def onnxruntime_available() -> bool:
    return is_installed("onnxruntime")


def torch_checkpoint(model, path: Path) -> Path | None:
    """The checkpoint torch-only features (``explain``) load for ``model``: the packaged default's folder when
    ``model`` is None, else ``path`` unless it is an exported file; None when there is none."""
    if model is None:
        return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / "model.safetensors").is_file() else None
    return None if path.suffix.lower() in EXPORT_SUFFIXES else path


class TorchBackend:
    """A torch ``nn.Module`` (or TorchScript module) on ``device``; returns calibrated probabilities."""

    name = "torch"

    def __init__(self, module, meta: dict, device: str = "cpu") -> None:
        import torch

        self.module, self.meta, self.device = module.to(device).eval(), meta, torch.device(device)
        self.temperature = float(meta.get("temperature") or 1.0)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw logits N x K (no temperature)."""
        import torch

        with torch.inference_mode():
            return self.module(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return softmax(self.logits(batch), self.temperature)


class OnnxBackend:
    """An ONNX Runtime CPU session over an exported model (path or bytes)."""

    name = "onnx"

    def __init__(self, model, meta: dict, num_threads: int | None = None, session=None) -> None:
        # ``session``: one already open on ``model`` (``export.onnx.open_onnx`` reads the metadata from it too).
        self.session = session if session is not None else cpu_session(model, num_threads)
        self.input_name = self.session.get_inputs()[0].name
        self.meta = meta
        self.temperature = float(meta.get("temperature") or 1.0)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw logits N x K (no temperature)."""
        return self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return softmax(self.logits(batch), self.temperature)


def resolve_model_path(model, backend: str = "auto", device: str = "cpu") -> Path:
    """``None`` -> the packaged default: its ``model.onnx`` for ``onnx``, and for ``auto`` on CPU (or without torch),
    else its checkpoint folder. Any other ``model`` is returned as a path, which must exist."""
    if model is None:
        onnx_file, checkpoint = DEFAULT_MODEL_DIR / "model.onnx", DEFAULT_MODEL_DIR / "model.safetensors"
        prefer_onnx = backend == "onnx" or (backend == "auto" and (str(device) == "cpu" or not torch_available()))
        if onnx_file.is_file() and (prefer_onnx or not checkpoint.is_file()):
            return onnx_file
        if checkpoint.is_file():
            return DEFAULT_MODEL_DIR
        raise FileNotFoundError(
            f"The default model is missing from this ferkit install ({DEFAULT_MODEL_DIR} has no model.onnx or "
            "model.safetensors); reinstall ferkit, or pass model=PATH (a checkpoint folder, model.safetensors, or an "
            "exported model.onnx), e.g. `ferkit predict photo.jpg --model runs/fercnet_s/best`."
        )
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(
            f"Model {path} does not exist; pass a checkpoint folder (model.safetensors + "
            "model.json), a model.safetensors file, an exported .onnx or a TorchScript .pt."
        )
    return path


def load_classifier(model=None, backend: str = "auto", device: str = "cpu"):
    """Return ``(backend_callable, metadata, path)`` for ``model`` with ``backend`` in ``BACKENDS``."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; choose one of {list(BACKENDS)}.")
    path = resolve_model_path(model, backend, device)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        if backend == "torch":
            raise ValueError(f"{path} is an ONNX export; use backend='onnx' (or 'auto'), or pass the torch checkpoint.")
        from ferkit.export.onnx import open_onnx

        session, meta = open_onnx(path)  # metadata validated there, like a checkpoint's model.json
        return OnnxBackend(path, meta, session=session), meta, path
    if suffix in (".pt", ".pth", ".torchscript"):
        if backend == "onnx":
            raise ValueError(f"{path} is a TorchScript export; use backend='torch' or pass the .onnx export.")
        require(f"The TorchScript model {path}", "torch")
        from ferkit.export import read_torchscript

        module, meta = read_torchscript(path)
        return TorchBackend(module, meta, device), meta, path
    if not torch_available():
        exported = (path.parent if path.is_file() else path) / "model.onnx"
        alt = f"pass its export {exported}" if exported.is_file() else "pass an exported .onnx (ferkit export)"
        raise MissingExtraError(
            f"{path} is a torch checkpoint and torch is not installed; {alt} instead, or install "
            "torch with `pip install 'ferkit[train]'`.",
            name="torch",
        )
    from ferkit.models import load_model

    net, meta = load_model(path, device="cpu")
    use_onnx = backend == "onnx" or (backend == "auto" and str(device) == "cpu" and onnxruntime_available())
    if use_onnx:
        from ferkit.export import export_metadata
        from ferkit.export.onnx import model_bytes

        try:
            onnx_meta = export_metadata(meta)
            return OnnxBackend(model_bytes(net, onnx_meta), onnx_meta), meta, path
        except Exception as err:  # noqa: BLE001 - any export failure falls back to torch under auto
            if backend == "onnx":
                raise RuntimeError(
                    f"Could not convert {path} to ONNX for backend='onnx' ({err}); use backend='torch'."
                ) from err
            logger.warning("ONNX conversion of %s failed (%s); using torch", path, err)
    return TorchBackend(net, meta, device), meta, path
