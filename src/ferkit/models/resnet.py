"""ResNet-18/50 (He et al., CVPR 2016) from torchvision, with optional CBAM or SE attention and a small-face stem.

Variants (arguments of ``_create_resnet``):
- ``attn_where="all"``: an attention block in every residual block, on the residual branch output before the
  addition (Woo et al. 2018 for CBAM, Hu et al. 2018 for SE); inserted by wrapping the branch's last BatchNorm.
- ``attn_where="last"``: one CBAM after the last residual block of layer4 (the seed projects' "Light CBAM").
- ``small_stem=True``: the 7x7 stride-2 conv is kept (so ImageNet weights still load) but the max-pool is
  dropped, halving the total stride to 16: a 64 px face ends as a 4x4 map instead of 2x2.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ferkit.models._base import FERNet, adapt_first_conv
from ferkit.models._pretrained import load_backbone_weights
from ferkit.models._registry import register_model
from ferkit.models.attention import create_attn


def _insert_attention(net: nn.Module, attn_layer: str, where: str, reduction: int) -> None:
    """Insert attention blocks into a torchvision ResNet in place."""
    if where == "last":
        channels = net.fc.in_features
        net.layer4.append(create_attn(attn_layer, channels, reduction=reduction))
        return
    if where != "all":
        raise ValueError(f"attn_where must be 'all' or 'last', got {where!r}.")
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in layer:
            last_bn = "bn3" if hasattr(block, "bn3") else "bn2"  # Bottleneck vs BasicBlock
            bn = getattr(block, last_bn)
            # Sequential(bn, attn): the block's forward applies attention to the residual branch before `+= identity`.
            setattr(block, last_bn, nn.Sequential(bn, create_attn(attn_layer, bn.num_features, reduction=reduction)))


def _create_resnet(
    depth: int,
    *,
    num_classes: int,
    in_chans: int,
    pretrained: bool,
    weights,
    attn_layer: str | None = None,
    attn_where: str = "all",
    small_stem: bool = False,
    reduction: int = 16,
    drop_rate: float = 0.0,
) -> FERNet:
    import torchvision.models as tvm

    builder = {18: tvm.resnet18, 50: tvm.resnet50}[depth]
    net = builder(weights=None, num_classes=max(num_classes, 1))
    loaded = load_backbone_weights(
        net, f"resnet{depth}", pretrained=pretrained, weights=weights, head_prefixes=("fc.",)
    )
    net.conv1 = adapt_first_conv(net.conv1, in_chans, keep_weights=loaded)
    if small_stem:
        net.maxpool = nn.Identity()
    # Attention is built last so that, for one seed, the backbone weights equal the plain model's.
    if attn_layer:
        _insert_attention(net, attn_layer, attn_where, reduction)
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    features = nn.Sequential(OrderedDict((n, getattr(net, n)) for n in names))
    return FERNet(
        features,
        net.fc.in_features,
        num_classes,
        stem_name="features.conv1",
        drop_rate=drop_rate,
        fc=net.fc if num_classes > 0 else None,
        min_image_size=16 if small_stem else 32,
    )


@register_model(pretrained_backbone="resnet18")
def resnet18(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0):
    """ResNet-18, torchvision."""
    return _create_resnet(
        18, num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, weights=weights, drop_rate=drop_rate
    )


@register_model(pretrained_backbone="resnet50")
def resnet50(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0):
    """ResNet-50, torchvision."""
    return _create_resnet(
        50, num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, weights=weights, drop_rate=drop_rate
    )


@register_model(pretrained_backbone="resnet18")
def resnet18_cbam_light(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0, reduction=16):
    """ResNet-18 with one CBAM after layer4's last block ("Light CBAM")."""
    return _create_resnet(
        18,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        attn_layer="cbam",
        attn_where="last",
        reduction=reduction,
        drop_rate=drop_rate,
    )


@register_model(pretrained_backbone="resnet50")
def resnet50_cbam_light(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0, reduction=16):
    """ResNet-50 with one CBAM after layer4's last block ("Light CBAM")."""
    return _create_resnet(
        50,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        attn_layer="cbam",
        attn_where="last",
        reduction=reduction,
        drop_rate=drop_rate,
    )


@register_model(pretrained_backbone="resnet18")
def resnet18_cbam(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0, reduction=16):
    """ResNet-18 with CBAM in every residual block (Woo et al. 2018)."""
    return _create_resnet(
        18,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        attn_layer="cbam",
        attn_where="all",
        reduction=reduction,
        drop_rate=drop_rate,
    )


@register_model(pretrained_backbone="resnet50")
def resnet50_cbam(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0, reduction=16):
    """ResNet-50 with CBAM in every residual block (Woo et al. 2018)."""
    return _create_resnet(
        50,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        attn_layer="cbam",
        attn_where="all",
        reduction=reduction,
        drop_rate=drop_rate,
    )


@register_model(pretrained_backbone="resnet18")
def resnet18_se(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0, reduction=16):
    """ResNet-18 with squeeze-excitation in every residual block (Hu et al. 2018)."""
    return _create_resnet(
        18,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        attn_layer="se",
        attn_where="all",
        reduction=reduction,
        drop_rate=drop_rate,
    )


@register_model(pretrained_backbone="resnet50")
def resnet50_se(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0, reduction=16):
    """ResNet-50 with squeeze-excitation in every residual block (Hu et al. 2018)."""
    return _create_resnet(
        50,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        attn_layer="se",
        attn_where="all",
        reduction=reduction,
        drop_rate=drop_rate,
    )


@register_model(image_size=64, min_image_size=16, pretrained_backbone="resnet18")
def resnet18_small(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0):
    """ResNet-18 without the stem max-pool (total stride 16) for 48-112 px faces."""
    return _create_resnet(
        18,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        small_stem=True,
        drop_rate=drop_rate,
    )


@register_model(image_size=64, min_image_size=16, pretrained_backbone="resnet18")
def resnet18_cbam_small(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.0, reduction=16):
    """ResNet-18 with CBAM in every block and no stem max-pool, for 48-112 px faces."""
    return _create_resnet(
        18,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        attn_layer="cbam",
        attn_where="all",
        small_stem=True,
        reduction=reduction,
        drop_rate=drop_rate,
    )
