"""Checkpoint round trips and failures, offline ImageNet weights, weights=PATH loading."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from ferkit.models import create_model, load_model, save_checkpoint


@pytest.mark.parametrize("name,kwargs", [("fercnet_s", {"drop_rate": 0.1}), ("resnet18_cbam_small", {})])
def test_checkpoint_round_trip(tmp_path, name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, in_chans=1, **kwargs)
    for m in model.modules():  # make the attention gates and BN statistics non-trivial
        if hasattr(m, "gamma"):
            m.gamma.data.fill_(0.5)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
    model.eval()
    folder = save_checkpoint(model, tmp_path / "ckpt", {"metrics": {"accuracy": 0.5}, "temperature": 1.3})
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]
    meta = json.loads((folder / "model.json").read_text())
    assert meta["arch"] == name and meta["labels"][3] == "happy" and meta["in_chans"] == 1
    assert meta["model_kwargs"] == kwargs and meta["temperature"] == 1.3 and meta["format_version"] == 1
    x = torch.randn(2, 1, 48, 48)
    for source in (folder, folder / "model.safetensors"):
        loaded, loaded_meta = load_model(source)
        assert not loaded.training and loaded_meta["metrics"] == {"accuracy": 0.5}
        with torch.no_grad():
            assert torch.equal(model(x), loaded(x))


def test_checkpoint_custom_labels_and_bad_labels(tmp_path):
    model = create_model("simple_cnn", num_classes=3)
    save_checkpoint(model, tmp_path / "a", {"labels": ["neg", "neu", "pos"]})
    assert load_model(tmp_path / "a")[1]["labels"] == ["neg", "neu", "pos"]
    with pytest.raises(ValueError, match="pass metadata"):
        save_checkpoint(model, tmp_path / "b")


def test_load_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        load_model(tmp_path / "empty")


def test_load_corrupt_weights(tmp_path):
    folder = save_checkpoint(create_model("simple_cnn"), tmp_path / "c")
    (folder / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_model(folder)


def test_load_corrupt_json(tmp_path):
    folder = save_checkpoint(create_model("simple_cnn"), tmp_path / "j")
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(folder)


def test_load_other_architecture(tmp_path):
    folder = save_checkpoint(create_model("simple_cnn"), tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    meta["arch"] = "fercnet_s"
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="missing keys.*another architecture"):
        load_model(folder)


@pytest.mark.parametrize(
    "field,value,allowed",
    [
        ("temperature", -1, "> 0"),
        ("temperature", 0, "> 0"),
        ("image_size", 0, "8 to 1024"),
        ("image_size", 100000, "8 to 1024"),
        ("mean", [], "1 or in_chans=1"),
        ("std", [0.0], "> 0"),
        ("labels", ["a", "b"], "num_classes=7"),
        ("labels", [1, 2, 3, 4, 5, 6, 7], "strings"),
        ("in_chans", 2, "1 .gray"),
    ],
)
def test_bad_metadata_fails_at_load_naming_file_field_and_range(tmp_path, field, value, allowed):
    folder = save_checkpoint(create_model("simple_cnn"), tmp_path / "bad")
    meta = json.loads((folder / "model.json").read_text())
    meta[field] = value
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"model.json: metadata field '{field}' = .*{allowed}") as err:
        load_model(folder)
    assert str(folder) in str(err.value)


def test_pretrained_offline_names_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("FERKIT_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(RuntimeError) as err:
        create_model("resnet18_cbam", pretrained=True)
    msg = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints") in msg
    assert "resnet18-f37072fd.pth" in msg and "https://download.pytorch.org" in msg and "weights=PATH" in msg


def test_pretrained_from_hub_cache(tmp_path, monkeypatch):
    """A file in the hub cache is used (here a fake 'ImageNet' resnet18 made locally)."""
    import torchvision

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(1)
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    model = create_model("resnet18", pretrained=True)
    assert torch.equal(model.features.layer3[0].conv1.weight, ref.layer3[0].conv1.weight)


def test_no_pretrained_for_scratch_models():
    with pytest.raises(ValueError, match="no ImageNet weights.*resnet18"):
        create_model("fercnet_s", pretrained=True)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_path_gray_sums_rgb(tmp_path, suffix):
    import torchvision

    torch.manual_seed(2)
    ref = torchvision.models.mobilenet_v3_small(weights=None)
    path = tmp_path / f"w{suffix}"
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    torch.save(state, path) if suffix == ".pth" else save_file(state, str(path))
    rgb = create_model("mobilenet_v3_small", weights=path).eval()
    gray = create_model("mobilenet_v3_small", in_chans=1, weights=path).eval()
    assert torch.allclose(gray.features[0][0].weight, ref.features[0][0].weight.sum(1, keepdim=True))
    assert torch.equal(rgb.features[3].block[0][0].weight, ref.features[3].block[0][0].weight)
    assert torch.equal(rgb.pre_logits[0].weight, ref.classifier[0].weight)  # pretrained pre-logits kept
    img = torch.rand(1, 1, 64, 64)
    with torch.no_grad():  # a gray image == that image on three channels
        assert torch.allclose(gray.forward_features(img), rgb.forward_features(img.repeat(1, 3, 1, 1)), atol=1e-4)


def test_weights_path_wrong_architecture(tmp_path):
    import torchvision

    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), tmp_path / "w.pth")
    with pytest.raises(ValueError, match="do not fit torchvision's resnet18"):
        create_model("resnet18", weights=tmp_path / "w.pth")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_model("resnet18", weights=tmp_path / "missing.pth")
