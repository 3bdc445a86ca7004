"""Export a ferkit checkpoint to ONNX (optionally int8) or TorchScript, with labels and preprocessing embedded,
checked against the torch outputs: ``export_model(model, format="onnx", out=..., int8=False)``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("onnx", "torchscript")
EXPORT_KEYS = (
    "name",  # with version: which release of a model this is (the packaged default says so in `predict`'s summary)
    "version",
    "arch",
    "num_classes",
    "labels",
    "image_size",
    "in_chans",
    "mean",
    "std",
    "temperature",
    "crop",
    "model_kwargs",
)


@dataclass
class ExportResult:
    """Where the export went and how far its outputs are from torch's on the check batch."""

    path: Path
    format: str
    max_abs_diff: float  # max |logits_export - logits_torch| on the check batch
    top1_agreement: float  # fraction of the check batch with the same arg-max class
    metadata: dict

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "format": self.format,
            "max_abs_diff": self.max_abs_diff,
            "top1_agreement": self.top1_agreement,
            "metadata": self.metadata,
        }


def export_metadata(meta: dict) -> dict:
    """The subset of checkpoint metadata an exported model needs to preprocess and label its outputs."""
    out = {k: meta[k] for k in EXPORT_KEYS if k in meta}
    out["format_version"] = 1
    return out


def _check_batch(meta: dict, n: int = 16, calib_data: str | None = None, seed: int = 0) -> np.ndarray:
    """Inputs for the check (and int8 calibration): ``n`` dataset faces cut with the model's own crop when
    ``calib_data`` is given, else uniform random images, normalised as the model expects (float32 N x C x S x S)."""
    from ferkit.faces.crop import CropSpec, crop_face, to_model_input

    spec = CropSpec.from_metadata(meta)
    rng = np.random.default_rng(seed)
    if calib_data:
        from ferkit.data import list_splits, load_dataset

        splits = list_splits(calib_data)
        ds = load_dataset(calib_data, split="train" if "train" in splits else splits[0])
        idx = rng.choice(len(ds), size=min(n, len(ds)), replace=False)
        crops = np.stack([crop_face(np.asarray(ds.read_image(int(i))), spec) for i in idx])
    else:
        crops = rng.integers(0, 256, size=(n, spec.size, spec.size, spec.channels), dtype=np.uint8)
    return to_model_input(crops, meta["mean"], meta["std"])


def default_export_path(model_path: str | Path, fmt: str, int8: bool) -> Path:
    """``./<checkpoint folder name>.onnx`` (``.int8.onnx``) or ``.torchscript.pt`` in the working directory: never
    beside the checkpoint, which may be inside the installed package (the shipped model)."""
    p = Path(model_path).resolve()
    name = (p if p.is_dir() else p.parent).name or "model"
    if fmt == "onnx":
        return Path(f"{name}.int8.onnx" if int8 else f"{name}.onnx")
    return Path(f"{name}.torchscript.pt")


def export_model(
    model: str | Path,
    format: str = "onnx",
    out: str | Path | None = None,
    int8: bool = False,
    calib_data: str | None = None,
    num_check: int = 64,
) -> ExportResult:
    """Export checkpoint ``model`` (folder or model.safetensors) to ``format`` at ``out`` (default: the working
    directory, ``default_export_path``).

    The exported file carries the metadata (labels, image_size, in_chans, mean, std, temperature). Outputs are
    compared with torch on ``num_check`` inputs (dataset faces from ``calib_data`` when given, else random
    images); ``int8`` (ONNX only) calibrates static quantisation on the same inputs.
    """
    import torch

    from ferkit.models import load_model
    from ferkit.paths import check_writable

    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; choose one of {list(FORMATS)}.")
    if int8 and format != "onnx":
        raise ValueError("--int8 is only available with --format onnx (ONNX Runtime static quantisation).")
    net, meta = load_model(model)
    meta = export_metadata(meta)
    out = check_writable(out if out else default_export_path(model, format, int8))  # before the slow export
    x = _check_batch(meta, num_check, calib_data)
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    if format == "onnx":
        got = _export_onnx(net, meta, out, int8, x)
    else:
        got = _export_torchscript(net, meta, out, x)
    if int8:
        meta["quantization"] = "int8-static-qdq"
    diff = float(np.abs(got - ref).max())
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    logger.info("exported %s (%s): max |diff| vs torch = %.3g, top-1 agreement %.1f%%", out, format, diff, 100 * agree)
    return ExportResult(out, format + ("-int8" if int8 else ""), diff, agree, meta)


def _export_onnx(net, meta: dict, out: Path, int8: bool, x: np.ndarray) -> np.ndarray:
    from ferkit.export.onnx import INPUT_NAME, model_bytes, quantize_int8
    from ferkit.onnxrt import cpu_session

    fp32 = model_bytes(net, meta)
    if int8:
        quantize_int8(fp32, x, out)
    else:
        out.write_bytes(fp32)
    return cpu_session(out).run(None, {INPUT_NAME: x})[0]


def _export_torchscript(net, meta: dict, out: Path, x: np.ndarray) -> np.ndarray:
    import warnings

    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning on FERNet's Python-side input-size check: constant here
        scripted = torch.jit.trace(net.eval(), torch.from_numpy(x[:2]), check_trace=False)
        # torch 2.10+ flags TorchScript as deprecated in favour of torch.export; the format still loads everywhere.
        torch.jit.save(scripted, str(out), _extra_files={"model.json": json.dumps(meta, default=list)})
    loaded, _ = read_torchscript(out)
    with torch.no_grad():
        return loaded(torch.from_numpy(x)).numpy()


def read_torchscript(path: str | Path):
    """``(scripted module, metadata)`` of a ferkit TorchScript export."""
    import warnings

    import torch

    extra = {"model.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notice, see _export_torchscript
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    if not extra["model.json"]:
        raise ValueError(f"{path} has no ferkit metadata (model.json); export it with `ferkit export`.")
    from ferkit.metadata import check_metadata

    try:
        meta = json.loads(extra["model.json"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: its model.json is not valid JSON ({err}); re-export it.") from err
    return module.eval(), check_metadata(meta, path)


__all__ = ["FORMATS", "ExportResult", "export_model", "export_metadata", "read_torchscript"]
