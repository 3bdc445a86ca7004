"""ferkit.export: ONNX (fp32, int8) and TorchScript exports carry the metadata and agree with torch."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ferkit.cli import main
from ferkit.export import export_model, read_torchscript
from ferkit.export.onnx import read_onnx_metadata
from ferkit.models import create_model, load_model, save_checkpoint

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model("fercnet_s").eval()
    # A random init gives near-uniform logits; scale the head so the check compares distinct classes.
    with torch.no_grad():
        model.fc.weight.mul_(20)
    return save_checkpoint(model, tmp_path_factory.mktemp("ck") / "fercnet", {"temperature": 1.5})


def _inputs(n: int = 8, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 48, 48)).astype(np.float32)


def test_onnx_matches_torch_and_carries_metadata(checkpoint, tmp_path):
    import onnxruntime as ort

    result = export_model(checkpoint, "onnx", tmp_path / "m.onnx", num_check=16)
    assert result.path.is_file() and result.max_abs_diff < 1e-4 and result.top1_agreement == 1.0
    meta = read_onnx_metadata(result.path)
    assert meta["labels"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert (meta["image_size"], meta["in_chans"], meta["mean"], meta["std"]) == (48, 1, [0.5], [0.5])
    assert meta["temperature"] == 1.5
    # Fresh inputs with another batch size: the batch axis is dynamic.
    x = _inputs(5)
    net, _ = load_model(checkpoint)
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.shape == (5, 7)
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_int8_onnx_is_smaller_and_close(checkpoint, tmp_path):
    fp32 = export_model(checkpoint, "onnx", tmp_path / "fp32.onnx", num_check=16)
    int8 = export_model(checkpoint, "onnx", tmp_path / "int8.onnx", int8=True, num_check=32)
    assert int8.format == "onnx-int8"
    assert read_onnx_metadata(int8.path)["quantization"] == "int8-static-qdq"
    assert int8.path.stat().st_size < 0.5 * fp32.path.stat().st_size
    assert 0 < int8.max_abs_diff < 1.0  # quantised: not bit-equal, but close on the calibration inputs
    assert int8.top1_agreement >= 0.8


@pytest.mark.needs_data("fer2013/train")
def test_int8_calibrated_on_real_faces(checkpoint, tmp_path):
    src = DATA / "fer2013" / "train"
    if not src.is_dir():
        pytest.skip(f"{src} not present (real FER2013 faces for calibration)")
    for cls in ("angry", "happy", "sad"):  # a tiny class-folder dataset: 4 faces per class
        (tmp_path / "calib" / cls).mkdir(parents=True)
        for f in sorted((src / cls).glob("*.jpg"))[:4]:
            shutil.copy(f, tmp_path / "calib" / cls / f.name)
    result = export_model(
        checkpoint, "onnx", tmp_path / "q.onnx", int8=True, calib_data=str(tmp_path / "calib"), num_check=12
    )
    assert result.path.is_file() and np.isfinite(result.max_abs_diff) and result.top1_agreement >= 0.75


def test_torchscript_roundtrip(checkpoint, tmp_path):
    result = export_model(checkpoint, "torchscript", tmp_path / "m.pt", num_check=8)
    assert result.max_abs_diff < 1e-5
    module, meta = read_torchscript(result.path)
    assert meta["arch"] == "fercnet_s" and len(meta["labels"]) == 7
    x = torch.from_numpy(_inputs(3))
    net, _ = load_model(checkpoint)
    with torch.no_grad():
        torch.testing.assert_close(module(x), net(x), atol=1e-5, rtol=1e-5)


def test_bad_arguments(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="onnx.*torchscript"):
        export_model(checkpoint, "tflite")
    with pytest.raises(ValueError, match="int8"):
        export_model(checkpoint, "torchscript", int8=True)
    with pytest.raises(FileNotFoundError):
        export_model(tmp_path / "missing")
    with pytest.raises(ValueError, match="no ferkit metadata"):
        bare = tmp_path / "bare.pt"
        torch.jit.save(torch.jit.script(torch.nn.Identity()), str(bare))
        read_torchscript(bare)


def test_exported_metadata_is_validated(checkpoint, tmp_path):
    """A hand-edited export fails at load like a checkpoint does, naming the field (a sign-flipping temperature)."""
    from ferkit.export.onnx import model_bytes

    net, meta = load_model(checkpoint)
    with pytest.raises(ValueError, match="'temperature' = -1 is invalid; it must be a number > 0"):
        read_onnx_metadata(model_bytes(net, {**meta, "temperature": -1}))
    bad = tmp_path / "bad.pt"
    with pytest.warns(torch.jit.TracerWarning):  # FERNet's Python-side input-size check, constant here
        traced = torch.jit.trace(net, torch.zeros(1, 1, 48, 48))
    torch.jit.save(traced, str(bad), _extra_files={"model.json": '{"image_size": 0, "in_chans": 1}'})
    with pytest.raises(ValueError, match=f"{bad}: metadata field 'image_size' = 0"):
        read_torchscript(bad)


def test_export_into_an_unwritable_folder_names_the_path(checkpoint, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for fmt in ("onnx", "torchscript"):
        with pytest.raises(OSError, match=str(blocker)):
            export_model(checkpoint, fmt, blocker / "out" / "m.bin", num_check=2)


def test_cli_export_prints_difference(checkpoint, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main(["export", "--model", str(checkpoint), "--format", "onnx", "--out", str(out), "--num-check", "4"]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "max abs diff" in text and "top-1 agreement 100.0%" in text
    assert main(["export", "--model", str(checkpoint), "--format", "torchscript", "--int8"]) == 2


def test_default_export_path_is_the_working_directory(checkpoint, tmp_path, monkeypatch):
    """Without --out the export lands in the working directory, never beside the checkpoint (which may be the
    installed package's own model folder)."""
    monkeypatch.chdir(tmp_path)
    result = export_model(checkpoint, "onnx", num_check=4)
    assert result.path == Path("fercnet.onnx") and (tmp_path / "fercnet.onnx").is_file()
    assert not (Path(checkpoint) / "model.onnx").exists()
