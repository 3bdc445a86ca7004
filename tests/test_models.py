"""Registry, every registered model's forward/backward, attention blocks and parameter groups."""

from __future__ import annotations

import pytest
import torch

from ferkit.models import (
    CBAM,
    SqueezeExcite,
    count_flops,
    count_parameters,
    create_model,
    get_model_cfg,
    list_models,
    measure_latency,
    record_attention,
    split_parameters,
)


def _test_size(name: str) -> int:
    return max(48, get_model_cfg(name)["min_image_size"])


@pytest.mark.parametrize("in_chans", [1, 3])
@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name, in_chans):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, in_chans=in_chans)
    size = _test_size(name)
    x = torch.randn(2, in_chans, size, size)
    feats = model.forward_features(x)
    assert feats.ndim == 4 and feats.shape[:2] == (2, model.num_features)
    logits = model.forward_head(feats)
    assert logits.shape == (2, 5)
    logits.sum().backward()
    stem = model.get_submodule(model.stem_name)
    assert stem.weight.shape[1] == in_chans
    assert stem.weight.grad is not None and torch.isfinite(stem.weight.grad).all()
    assert model.default_cfg["in_chans"] == in_chans and len(model.default_cfg["mean"]) == in_chans
    assert model.min_image_size == get_model_cfg(name)["min_image_size"]


@pytest.mark.parametrize("name", ["resnet18_cbam", "fercnet_s", "mobilenet_v3_small", "simple_cnn"])
def test_reset_classifier(name):
    model = create_model(name, num_classes=7).eval()
    size = get_model_cfg(name)["image_size"]
    x = torch.randn(1, model.default_cfg["in_chans"], size, size)
    model.reset_classifier(3)
    assert model(x).shape == (1, 3) and model.default_cfg["num_classes"] == 3
    model.reset_classifier(0)
    assert model(x).shape == (1, model.head_features)


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match=r"Did you mean 'resnet18'.*Available models: .*fercnet_s"):
        create_model("resnet19")


def test_unknown_kwarg_lists_options():
    with pytest.raises(ValueError, match=r"does not accept \['depth'\].*drop_rate"):
        create_model("resnet18", depth=34)


def test_list_models_pattern_and_cfg():
    assert list_models("resnet*_cbam") == ["resnet18_cbam", "resnet50_cbam"]
    assert {"resnet18", "resnet50_se", "fercnet_s", "inception_v3", "simple_cnn"} <= set(list_models())
    cfg = get_model_cfg("fercnet_s")
    assert cfg["in_chans"] == 1 and cfg["image_size"] == 48 and cfg["description"]


def test_inception_rejects_small_inputs():
    model = create_model("inception_v3", in_chans=1).eval()
    with pytest.raises(ValueError, match="at least 75x75"):
        model(torch.randn(1, 1, 64, 64))


def test_simple_cnn_any_size():
    model = create_model("simple_cnn").eval()
    for size in (32, 48, 100):
        assert model(torch.randn(1, 1, size, size)).shape == (1, 7)


def test_cbam_shapes_and_maps():
    torch.manual_seed(0)
    block = CBAM(32, reduction=4)
    x = torch.randn(2, 32, 9, 7)
    assert torch.equal(block(x), x)  # gamma = 0: identity at init
    with torch.no_grad():
        block.gamma.fill_(1.0)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    assert block.last_spatial_map is None  # kept only while recording
    with record_attention(block) as blocks:
        assert blocks == [block]
        block(x)
        amap = block.last_spatial_map
    assert block.last_spatial_map is None and not block.keep_map
    assert amap.shape == (2, 1, 9, 7) and amap.min() >= 0 and amap.max() <= 1
    channel = block.channel(x)
    assert channel.shape == (2, 32, 1, 1) and channel.min() >= 0 and channel.max() <= 1


def test_attention_gate_gets_gradient_at_init():
    for block in (CBAM(16, reduction=4), SqueezeExcite(16, reduction=4)):
        block(torch.randn(2, 16, 5, 5)).pow(2).sum().backward()
        assert block.gamma.grad is not None and block.gamma.grad.abs() > 0


@pytest.mark.parametrize("variant", ["resnet18_cbam", "resnet18_cbam_light", "resnet18_se", "resnet18_cbam_small"])
def test_attention_is_identity_at_init(variant):
    base = "resnet18_small" if variant.endswith("_small") else "resnet18"
    torch.manual_seed(3)
    plain = create_model(base, in_chans=1).eval()
    torch.manual_seed(3)
    attn = create_model(variant, in_chans=1).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(plain(x), attn(x), atol=1e-6)
    # The same holds when the plain weights are copied in (not only through the shared seed): the attention
    # model's non-attention tensors are the plain model's, in the same order.
    torch.manual_seed(4)
    other = create_model(variant, in_chans=1).eval()
    attn_keys = {
        f"{n}.{k}" for n, m in other.named_modules() if isinstance(m, (CBAM, SqueezeExcite)) for k in m.state_dict()
    }
    target = [k for k in other.state_dict() if k not in attn_keys]
    source = plain.state_dict()
    assert len(target) == len(source)
    other.load_state_dict(dict(zip(target, source.values())), strict=False)
    with torch.no_grad():
        assert torch.allclose(plain(x), other(x), atol=1e-6)
    assert all(m.gamma.item() == 0.0 for m in other.modules() if isinstance(m, (CBAM, SqueezeExcite)))


@pytest.mark.parametrize(
    "name", ["resnet50_cbam", "resnet18_cbam_light", "mobilenet_v3_small", "inception_v3", "fercnet_s", "simple_cnn"]
)
def test_split_parameters_covers_each_once(name):
    model = create_model(name, in_chans=1)
    groups = split_parameters(model)
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert groups["head"] and groups["stem"] and groups["backbone"]
    assert groups["stem"] == list(model.get_submodule(model.stem_name).parameters())
    has_attn = "cbam" in name or "_se" in name
    assert bool(groups["attention"]) == has_attn
    assert any(p is model.fc.weight for p in groups["head"])


def test_stats():
    model = create_model("fercnet_s")
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    for p in model.features.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == sum(p.numel() for p in model.fc.parameters())
    flops48, flops96 = count_flops(model, 48), count_flops(model, 96)
    assert flops48 > 1e7 and 3.5 < flops96 / flops48 < 4.5  # conv cost grows with the pixel count
    lat = measure_latency(model, 48, repeats=2, warmup=1)
    assert lat["median_ms"] > 0 and lat["images_per_s"] > 0
