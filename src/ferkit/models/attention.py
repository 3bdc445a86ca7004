"""Attention blocks inserted into backbones: CBAM (Woo et al., ECCV 2018) and squeeze-excitation (Hu et al., CVPR 2018).

Both blocks end in a learnable residual gate ``out = x + gamma * (attn(x) - x)`` with ``gamma = 0`` at init, so a
block inserted into a pretrained backbone is the identity until training moves ``gamma``: the backbone's ImageNet
features are intact on the first step (a plain sigmoid gate would halve every activation at init, sigmoid(0) = 0.5).
``gamma`` still gets a gradient at 0 (``d out / d gamma = attn(x) - x``), so the attention branch switches on by itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """CBAM channel attention: avg- and max-pooled descriptors through one shared MLP, summed, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, min_hidden)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean((2, 3), keepdim=True))  # B,C,1,1
        mx = self.mlp(x.amax((2, 3), keepdim=True))  # B,C,1,1
        return torch.sigmoid(avg + mx)  # B,C,1,1 in [0, 1]


class SpatialAttention(nn.Module):
    """CBAM spatial attention: channel-wise mean and max, a k x k conv, sigmoid."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # B,2,H,W
        return torch.sigmoid(self.conv(desc))  # B,1,H,W in [0, 1]


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel then spatial attention, behind a zero-initialised gate.

    While ``keep_map`` is set (``record_attention(model)``), ``last_spatial_map`` holds the spatial attention map
    (B,1,H,W, detached) of the latest forward pass, for attention-map visualisation; otherwise nothing is kept, so
    training and inference hold no extra activation per block.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, gate_init: float = 0.0) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)
        self.gamma = nn.Parameter(torch.tensor(float(gate_init)))
        self.keep_map = False
        self.last_spatial_map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * self.channel(x)  # B,C,H,W
        spatial = self.spatial(y)  # B,1,H,W
        if self.keep_map:
            self.last_spatial_map = spatial.detach()
        y = y * spatial
        return x + self.gamma * (y - x)


@contextlib.contextmanager
def record_attention(model: nn.Module) -> Iterator[list[CBAM]]:
    """Within the block, every CBAM block of ``model`` keeps its latest spatial map (``last_spatial_map``); yields
    the blocks. On exit the maps are dropped and recording is off again."""
    blocks = [m for m in model.modules() if isinstance(m, CBAM)]
    for b in blocks:
        b.keep_map = True
    try:
        yield blocks
    finally:
        for b in blocks:
            b.keep_map, b.last_spatial_map = False, None


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global average pool, bottleneck MLP, sigmoid channel weights, zero-init gate."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 8, gate_init: float = 0.0) -> None:
        super().__init__()
        hidden = max(channels // reduction, min_hidden)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )
        self.gamma = nn.Parameter(torch.tensor(float(gate_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))  # B,C,H,W
        return x + self.gamma * (y - x)


ATTENTION_LAYERS: dict[str, type[nn.Module]] = {"cbam": CBAM, "se": SqueezeExcite}


def create_attn(name: str, channels: int, **kwargs) -> nn.Module:
    """Build an attention block by name (``"cbam"`` or ``"se"``) for a feature map with ``channels`` channels."""
    if name not in ATTENTION_LAYERS:
        raise ValueError(f"Unknown attention layer {name!r}; valid: {', '.join(ATTENTION_LAYERS)}.")
    return ATTENTION_LAYERS[name](channels, **kwargs)


def is_attention(module: nn.Module) -> bool:
    """True for the inserted attention blocks (used to put their parameters in their own group)."""
    return isinstance(module, tuple(ATTENTION_LAYERS.values()))
