"""Small CNNs trained from scratch on 48-64 px gray faces.

- ``simple_cnn``: the seed projects' baseline (conv32-pool-conv64-pool-flatten-dense128-dropout). An adaptive
  average pool to 12x12 before the flatten makes it accept any input size; at 48 px it is the identity, so the
  network is exactly the seeds' one there.
- ``fercnet_*``: a compact VGG-style CNN (stages of 3x3 conv-BN-ReLU, max-pool between stages, global average
  pool, dropout, linear), in the spirit of the VGG variants that reach ~70-73% on FER2013 (Khaireddin & Chen
  2021) but a fraction of their size so it trains on a CPU. Plain convs, BN and ReLU run well in channels_last.
"""

from __future__ import annotations

from torch import nn

from ferkit.models._base import FERNet
from ferkit.models._registry import register_model

GRAY_MEAN = (0.5,)
GRAY_STD = (0.5,)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _create_fercnet(
    *,
    num_classes: int,
    in_chans: int,
    widths: tuple[int, ...],
    depths: tuple[int, ...],
    stem_pool: bool,
    drop_rate: float,
) -> FERNet:
    """Full-resolution stem conv (then a 2x2 max-pool if ``stem_pool``), then stages of ``depths[i]`` convs of
    width ``widths[i]`` with a 2x2 max-pool before every stage but the first."""
    stem = _conv_bn_relu(in_chans, widths[0])
    if stem_pool:
        # Pooling the full-resolution stem responses keeps fine detail (eyes, mouth corners) that a strided
        # conv would skip, for the cost of one conv on a single gray channel.
        stem.append(nn.MaxPool2d(2))
    layers: dict[str, nn.Module] = {"stem": stem}
    cin = widths[0]
    for i, (width, depth) in enumerate(zip(widths, depths)):
        blocks = [nn.MaxPool2d(2)] if i > 0 else []  # downsample between stages
        for _ in range(depth):
            blocks.append(_conv_bn_relu(cin, width))
            cin = width
        layers[f"stage{i + 1}"] = nn.Sequential(*blocks)
    features = nn.Sequential()
    for name, module in layers.items():
        features.add_module(name, module)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    min_size = (2 if stem_pool else 1) * 2 ** (len(widths) - 1)
    return FERNet(features, cin, num_classes, stem_name="features.stem.0", drop_rate=drop_rate, min_image_size=min_size)


@register_model(image_size=48, in_chans=1, mean=GRAY_MEAN, std=GRAY_STD, min_image_size=16)
def fercnet_s(
    num_classes=7,
    in_chans=1,
    pretrained=False,
    weights=None,
    drop_rate=0.3,
    widths=(32, 64, 128, 256),
    depths=(2, 2, 2, 2),
    stem_pool=True,
):
    """Compact VGG-style CNN for 48-64 px gray faces (~1.2 M params), built for CPU training."""
    return _create_fercnet(
        num_classes=num_classes,
        in_chans=in_chans,
        widths=tuple(widths),
        depths=tuple(depths),
        stem_pool=stem_pool,
        drop_rate=drop_rate,
    )


@register_model(image_size=48, in_chans=1, mean=GRAY_MEAN, std=GRAY_STD, min_image_size=8)
def fercnet_m(
    num_classes=7,
    in_chans=1,
    pretrained=False,
    weights=None,
    drop_rate=0.3,
    widths=(32, 64, 128, 256),
    depths=(2, 2, 2, 2),
    stem_pool=False,
):
    """fercnet_s without the stem pool: the first stage runs at full resolution (4x the FLOPs, same params)."""
    return _create_fercnet(
        num_classes=num_classes,
        in_chans=in_chans,
        widths=tuple(widths),
        depths=tuple(depths),
        stem_pool=stem_pool,
        drop_rate=drop_rate,
    )


class _SimpleCNNBody(nn.Sequential):
    def __init__(self, in_chans: int) -> None:
        super().__init__()
        self.add_module("conv1", nn.Conv2d(in_chans, 32, 3, padding=1))
        self.add_module("relu1", nn.ReLU(inplace=True))
        self.add_module("pool1", nn.MaxPool2d(2))
        self.add_module("conv2", nn.Conv2d(32, 64, 3, padding=1))
        self.add_module("relu2", nn.ReLU(inplace=True))
        self.add_module("pool2", nn.MaxPool2d(2))


@register_model(image_size=48, in_chans=1, mean=GRAY_MEAN, std=GRAY_STD, min_image_size=4)
def simple_cnn(num_classes=7, in_chans=1, pretrained=False, weights=None, drop_rate=0.5):
    """The seeds' baseline: conv32-pool-conv64-pool-flatten-dense128-dropout (any input size)."""
    global_pool = nn.Sequential(nn.AdaptiveAvgPool2d(12), nn.Flatten(1))  # B,64*12*12 at any size
    pre_logits = nn.Sequential(nn.Linear(64 * 12 * 12, 128), nn.ReLU(inplace=True))
    return FERNet(
        _SimpleCNNBody(in_chans),
        64,
        num_classes,
        stem_name="features.conv1",
        global_pool=global_pool,
        pre_logits=pre_logits,
        head_features=128,
        drop_rate=drop_rate,
        min_image_size=4,
    )
