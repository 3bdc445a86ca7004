"""The base install (no `ferkit[train]`): prediction on an exported ONNX model never imports torch, and every
torch-only path says which extra to install. Torch is hidden from a subprocess by an import hook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests._inference_support import make_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "ferkit" / "assets" / "samples" / "astronaut.jpg"
DEFAULT_ONNX = ROOT / "src" / "ferkit" / "assets" / "default" / "model.onnx"

# Runs `ferkit ARGS` with torch and torchvision unimportable, then reports on stderr whether torch got loaded.
NO_TORCH = """
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTorch())
from ferkit.cli import main
try:
    code = main(sys.argv[1:])
finally:
    print("TORCH_LOADED=" + str(any(m.split(".")[0] == "torch" for m in sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def run_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A small random checkpoint and its ONNX export (model.onnx inside the checkpoint folder)."""
    from ferkit.export import export_model

    folder = make_checkpoint(tmp_path_factory.mktemp("light") / "ckpt")
    return export_model(folder, "onnx", folder / "model.onnx", num_check=4).path


@pytest.mark.parametrize("which", ["export", "default"])
def test_predict_json_to_stdout_without_torch(exported, which):
    if which == "default" and not DEFAULT_ONNX.is_file():
        pytest.skip("the packaged default model has no model.onnx yet")
    model = ["--model", exported] if which == "export" else []
    proc = run_without_torch("predict", SAMPLE, *model, "--json", "-")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TORCH_LOADED=False" in proc.stderr
    result = json.loads(proc.stdout)  # stdout holds the JSON alone; the table went to stderr
    assert result["model"]["backend"] == "onnx"
    assert result["frames"][0]["source"] == str(SAMPLE) and len(result["frames"][0]["faces"]) >= 1
    assert "source" in proc.stderr  # the console table


def test_csv_to_stdout_without_torch(exported):
    import csv

    proc = run_without_torch("predict", SAMPLE, "--model", exported, "--csv", "-")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    assert rows and rows[0]["source"] == str(SAMPLE) and rows[0]["status"] == "ok"


@pytest.mark.parametrize(
    "args",
    [
        ["predict", SAMPLE, "--model", "CKPT"],
        ["predict", SAMPLE, "--model", "CKPT", "--backend", "torch"],
        ["explain", SAMPLE, "--model", "CKPT", "--save", "OUT"],
        ["export", "--model", "CKPT"],
        ["train", "configs/does_not_matter.yaml"],
    ],
    ids=["checkpoint", "torch-backend", "explain", "export", "train"],
)
def test_torch_verbs_name_the_extra(exported, tmp_path, args):
    args = [str(exported.parent) if a == "CKPT" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    proc = run_without_torch(*args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "pip install 'ferkit[train]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_checkpoint_error_points_at_its_export(exported):
    proc = run_without_torch("predict", SAMPLE, "--model", exported.parent)
    assert f"pass its export {exported}" in proc.stderr


def test_default_model_prefers_its_onnx(exported, monkeypatch):
    """A default folder holding model.onnx beside the checkpoint: auto/onnx read the .onnx (no torch needed),
    torch reads the checkpoint, and explain() still finds the checkpoint."""
    import ferkit.inference.backends as backends
    from ferkit.inference import EmotionRecognizer

    monkeypatch.setattr(backends, "DEFAULT_MODEL_DIR", exported.parent)
    assert backends.resolve_model_path(None, "auto") == exported
    assert backends.resolve_model_path(None, "onnx") == exported
    assert backends.resolve_model_path(None, "torch") == exported.parent
    assert backends.resolve_model_path(None, "auto", device="cuda") == exported.parent
    rec = EmotionRecognizer(detector="none")
    assert rec.model_info["backend"] == "onnx" and rec.model_info["path"] == str(exported)
    assert rec.can_explain
    assert not EmotionRecognizer(exported, detector="none").can_explain


def test_default_model_onnx_only(exported, tmp_path, monkeypatch):
    import shutil

    import ferkit.inference.backends as backends

    shutil.copy(exported, tmp_path / "model.onnx")
    monkeypatch.setattr(backends, "DEFAULT_MODEL_DIR", tmp_path)
    assert backends.resolve_model_path(None, "torch") == tmp_path / "model.onnx"  # load_classifier then says why
    with pytest.raises(ValueError, match="ONNX export"):
        backends.load_classifier(None, "torch")


SERVE_WITHOUT_TORCH = """
import sys
from fastapi.testclient import TestClient
from ferkit.serving import create_app, load_recognizers

with TestClient(create_app(load_recognizers([sys.argv[1]]))) as client:
    models = client.get("/v1/models").json()["models"]
    with open(sys.argv[2], "rb") as f:
        faces = client.post("/v1/predict", files={"file": ("a.jpg", f.read(), "image/jpeg")}).json()["faces"]
    explain = client.post("/v1/explain", files={"file": ("a.jpg", open(sys.argv[2], "rb").read(), "image/jpeg")})
print(models[0]["explain"], len(faces), explain.status_code, explain.json()["error"]["code"])
"""


def test_serve_without_torch(exported):
    code = NO_TORCH.split("from ferkit.cli import main")[0] + SERVE_WITHOUT_TORCH
    code += '\nprint("TORCH_LOADED=" + str(any(m.split(".")[0] == "torch" for m in sys.modules)), file=sys.stderr)\n'
    proc = subprocess.run(
        [sys.executable, "-c", code, str(exported), str(SAMPLE)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    can_explain, n_faces, status, code = proc.stdout.split()
    assert (can_explain, status, code) == ("False", "400", "explain_unavailable") and int(n_faces) >= 1
    assert "TORCH_LOADED=False" in proc.stderr
