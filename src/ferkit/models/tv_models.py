"""Other torchvision ImageNet backbones used as FER baselines: MobileNetV2/V3, VGG-16-BN, Inception-v3, EfficientNet-B0.

Each is rebuilt as ``FERNet`` (body, global average pool, linear head) so all share one interface. VGG-16 keeps
its 13 BN convs and replaces the 4096-wide FC layers (120 M parameters sized for 224 px) with global pooling and
one linear layer; Inception-v3 runs without the auxiliary classifier and needs inputs of at least 75 px.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ferkit.models._base import FERNet, adapt_first_conv
from ferkit.models._pretrained import load_backbone_weights
from ferkit.models._registry import register_model


def _load_and_adapt(net, backbone, stem_parent, stem_attr, *, in_chans, pretrained, weights, head_prefixes):
    """Load weights into torchvision ``net`` then adapt its first conv (``stem_parent.stem_attr``) to ``in_chans``."""
    loaded = load_backbone_weights(net, backbone, pretrained=pretrained, weights=weights, head_prefixes=head_prefixes)
    conv = getattr(stem_parent, stem_attr)
    setattr(stem_parent, stem_attr, adapt_first_conv(conv, in_chans, keep_weights=loaded))


def _mobilenet(builder_name, num_classes, in_chans, pretrained, weights, drop_rate):
    import torchvision.models as tvm

    net = getattr(tvm, builder_name)(weights=None)
    v3 = builder_name.startswith("mobilenet_v3")
    head_prefixes = ("classifier.3.",) if v3 else ("classifier.1.",)
    _load_and_adapt(
        net,
        builder_name,
        net.features[0],
        "0",
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        head_prefixes=head_prefixes,
    )
    num_features = net.features[-1].out_channels
    if v3:
        # Keep V3's pretrained Linear-Hardswish "pre-logits" layer; replace only the final linear.
        pre_logits = nn.Sequential(net.classifier[0], net.classifier[1])
        return FERNet(
            net.features,
            num_features,
            num_classes,
            stem_name="features.0.0",
            pre_logits=pre_logits,
            head_features=net.classifier[0].out_features,
            drop_rate=drop_rate,
            min_image_size=32,
        )
    return FERNet(
        net.features, num_features, num_classes, stem_name="features.0.0", drop_rate=drop_rate, min_image_size=32
    )


@register_model(pretrained_backbone="mobilenet_v2")
def mobilenet_v2(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.2):
    """MobileNetV2 (Sandler et al. 2018), torchvision."""
    return _mobilenet("mobilenet_v2", num_classes, in_chans, pretrained, weights, drop_rate)


@register_model(pretrained_backbone="mobilenet_v3_small")
def mobilenet_v3_small(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.2):
    """MobileNetV3-Small (Howard et al. 2019), torchvision."""
    return _mobilenet("mobilenet_v3_small", num_classes, in_chans, pretrained, weights, drop_rate)


@register_model(pretrained_backbone="mobilenet_v3_large")
def mobilenet_v3_large(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.2):
    """MobileNetV3-Large (Howard et al. 2019), torchvision."""
    return _mobilenet("mobilenet_v3_large", num_classes, in_chans, pretrained, weights, drop_rate)


@register_model(pretrained_backbone="efficientnet_b0")
def efficientnet_b0(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.2):
    """EfficientNet-B0 (Tan & Le 2019), torchvision."""
    import torchvision.models as tvm

    net = tvm.efficientnet_b0(weights=None)
    _load_and_adapt(
        net,
        "efficientnet_b0",
        net.features[0],
        "0",
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        head_prefixes=("classifier.",),
    )
    return FERNet(
        net.features,
        net.classifier[1].in_features,
        num_classes,
        stem_name="features.0.0",
        drop_rate=drop_rate,
        min_image_size=32,
    )


class _VGGFeatures(nn.Module):
    """Holds VGG-16-BN's conv layers under ``features`` so torchvision's state-dict keys match."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        self.features = make_layers(cfgs["D"], batch_norm=True)
        for m in self.features.modules():  # torchvision VGG's own init (make_layers alone leaves PyTorch defaults)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)


@register_model(min_image_size=32, pretrained_backbone="vgg16_bn")
def vgg16(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.5):
    """VGG-16 with BatchNorm (Simonyan & Zisserman 2015), 13 convs + global pool + linear head."""
    holder = _VGGFeatures()
    _load_and_adapt(
        holder,
        "vgg16_bn",
        holder.features,
        "0",
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        head_prefixes=("classifier.",),
    )
    return FERNet(holder.features, 512, num_classes, stem_name="features.0", drop_rate=drop_rate, min_image_size=32)


@register_model(image_size=112, min_image_size=75, pretrained_backbone="inception_v3")
def inception_v3(num_classes=7, in_chans=3, pretrained=False, weights=None, drop_rate=0.5):
    """Inception-v3 (Szegedy et al. 2016), torchvision, no auxiliary head; inputs >= 75 px."""
    import torchvision.models as tvm

    net = tvm.inception_v3(weights=None, aux_logits=False, init_weights=True, transform_input=False)
    _load_and_adapt(
        net,
        "inception_v3",
        net.Conv2d_1a_3x3,
        "conv",
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        head_prefixes=("fc.", "AuxLogits."),
    )
    body = [(n, m) for n, m in net.named_children() if n not in ("avgpool", "dropout", "fc", "AuxLogits")]
    return FERNet(
        nn.Sequential(OrderedDict(body)),
        net.fc.in_features,
        num_classes,
        stem_name="features.Conv2d_1a_3x3.conv",
        drop_rate=drop_rate,
        min_image_size=75,
    )
