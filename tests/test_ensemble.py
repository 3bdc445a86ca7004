"""Output ensembles (``ferkit.models.ensemble``): members of different input sizes in one graph, saved and loaded as
safetensors + JSON, exported to ONNX, explained, and used by the recogniser with the crop of the largest member."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ferkit.faces.crop import CropSpec
from ferkit.models import create_model, load_model, save_checkpoint
from ferkit.models.ensemble import check_members, from_checkpoints, resize_matrix


def _member(folder, size: int, seed: int):
    torch.manual_seed(seed)
    model = create_model("fercnet_s", num_classes=7).eval()
    return save_checkpoint(model, folder, metadata={"image_size": size, "crop": CropSpec(size, 1).to_dict()})


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    return _member(root / "m48", 48, 0), _member(root / "m64", 64, 1)


@pytest.fixture(scope="module")
def ens_folder(members, tmp_path_factory):
    model, meta = from_checkpoints(list(members), [0.4, 0.6])
    return save_checkpoint(model, tmp_path_factory.mktemp("ens") / "ens", metadata=meta)


def test_resize_matrix_is_the_antialiased_bilinear_resize():
    x = torch.randn(3, 1, 64, 64)
    a = resize_matrix(64, 48)
    ref = F.interpolate(x, size=(48, 48), mode="bilinear", antialias=True, align_corners=False)
    assert a.shape == (48, 64) and torch.allclose(a @ x @ a.T, ref, atol=1e-5)


def test_output_is_the_log_of_the_weighted_mean_probability(members, ens_folder):
    model, meta = load_model(ens_folder)
    assert meta["arch"] == "ensemble" and meta["image_size"] == 64 and meta["crop"]["size"] == 64
    assert [m["image_size"] for m in meta["model_kwargs"]["members"]] == [48, 64]
    m48, _ = load_model(members[0])
    m64, _ = load_model(members[1])
    x = torch.randn(4, 1, 64, 64)
    x48 = F.interpolate(x, size=(48, 48), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        want = 0.4 * m48(x48).softmax(1) + 0.6 * m64(x).softmax(1)
        got = model(x)
    assert torch.allclose(got.exp(), want, atol=1e-5)
    model.tta = "flip"
    with torch.no_grad():
        flipped = (want + 0.4 * m48(x48.flip(-1)).softmax(1) + 0.6 * m64(x.flip(-1)).softmax(1)) / 2
        assert torch.allclose(model(x).exp(), flipped, atol=1e-5)
    with pytest.raises(ValueError, match="reads 64 px crops"):
        model(torch.randn(1, 1, 48, 48))


def _m(arch="fercnet_s", size=48, weight=1.0) -> dict:
    return {"arch": arch, "image_size": size, "weight": weight}


@pytest.mark.parametrize(
    "members,match",
    [
        ([_m()], "at least 2"),
        ([_m(), _m(arch="ensemble")], "member 1"),  # no nesting
        ([_m(weight=0), _m()], "member 0"),
        ([_m(size="48"), _m()], "member 0"),
    ],
)
def test_bad_member_lists_are_refused(members, match):
    with pytest.raises(ValueError, match=match):
        check_members(members)


def test_a_damaged_ensemble_json_is_a_clear_error(ens_folder, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(ens_folder, bad)
    meta = json.loads((bad / "model.json").read_text())
    meta["model_kwargs"] = {"members": [{"arch": "os.system", "image_size": 48, "weight": 1}] * 2}
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="Unknown model 'os.system'"):
        load_model(bad)
    meta["model_kwargs"] = {"members": [], "code": "x"}
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="model_kwargs must be"):
        load_model(bad)


def test_members_must_share_labels_and_template(members, tmp_path):
    torch.manual_seed(2)
    crop = CropSpec(48, 1, template=((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.5, 0.8))).to_dict()
    net = create_model("fercnet_s", num_classes=7).eval()
    other = save_checkpoint(net, tmp_path / "other_template", metadata={"image_size": 48, "crop": crop})
    with pytest.raises(ValueError, match="crop templates"):
        from_checkpoints([members[0], other], [0.5, 0.5])


def test_onnx_and_torchscript_exports_match_torch(ens_folder, tmp_path):
    from ferkit.export import export_model

    for fmt, name in (("onnx", "ens.onnx"), ("torchscript", "ens.pt")):
        res = export_model(ens_folder, fmt, tmp_path / name, num_check=64)
        assert res.max_abs_diff < 1e-3 and res.top1_agreement == 1.0, fmt
        assert res.metadata["arch"] == "ensemble" and res.metadata["image_size"] == 64


def test_int8_keeps_the_probability_tail_in_fp32(ens_folder, members, tmp_path):
    """8-bit probabilities would put every one under ~0.002 at 0 and its log at -inf: from the first Softmax on,
    an ensemble's graph is not quantised. A single model's graph (logits out) has no such tail."""
    import onnx

    from ferkit.export import export_model
    from ferkit.export.onnx import probability_tail

    fp32 = export_model(ens_folder, "onnx", tmp_path / "ens.onnx", num_check=16).path
    tail = probability_tail(fp32)
    ops = {n.name: n.op_type for n in onnx.load(str(fp32)).graph.node}
    kinds = [ops[n] for n in tail]
    assert kinds.count("Softmax") == 2 and kinds[-1] == "Log" and not {"Conv", "Gemm"} & set(kinds)
    assert probability_tail(export_model(members[1], "onnx", tmp_path / "one.onnx", num_check=16).path) == []
    int8 = onnx.load(str(export_model(ens_folder, "onnx", tmp_path / "ens8.onnx", int8=True, num_check=64).path))
    assert any(n.op_type == "QuantizeLinear" for n in int8.graph.node)  # the members are quantised
    produced_by_tail = {o for n in int8.graph.node if n.name in tail for o in n.output}
    assert not [n.name for n in int8.graph.node if n.op_type == "QuantizeLinear" and produced_by_tail & set(n.input)]


def test_gradcam_explains_an_ensemble_at_its_input_size(ens_folder):
    from ferkit.inference.explain import explain_crops

    model, _ = load_model(ens_folder)
    maps, method = explain_crops(model, np.random.default_rng(0).standard_normal((2, 1, 64, 64)).astype(np.float32))
    assert method == "gradcam" and maps.shape == (2, 64, 64)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1.0 + 1e-6


def test_recognizer_crops_at_the_ensemble_size(ens_folder):
    from ferkit.inference import EmotionRecognizer

    rec = EmotionRecognizer(ens_folder, backend="torch", detector="none")
    assert rec.image_size == 64 and rec.crop_spec.size == 64
    face = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    (frame,) = rec.predict(face)
    assert len(frame.faces) == 1 and sum(frame.faces[0].probs.values()) == pytest.approx(1, abs=1e-4)
