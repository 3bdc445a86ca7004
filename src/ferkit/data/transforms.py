"""Train/eval transform presets on uint8 ``C x H x W`` tensors (torchvision.transforms.v2), in the style of
torchvision's classification reference ``presets.py``. Augmentation runs on uint8 (cheaper), then to float and
normalise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

PRESETS: tuple[str, ...] = ("none", "light", "standard", "strong")


class ToChannels(torch.nn.Module):
    """Make a ``C x H x W`` image have ``channels`` channels (gray <-> RGB); a no-op when it already does."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.shape[-3] == self.channels:
            return img
        if self.channels == 3:
            return img.expand(*img.shape[:-3], 3, *img.shape[-2:])
        return v2.functional.rgb_to_grayscale(img, num_output_channels=1)


def _augment(preset: str) -> list:
    """The uint8-space augmentations of ``preset`` (rotation, shift, zoom and shear in one affine warp)."""
    if preset == "none":
        return []
    if preset == "light":
        return [v2.RandomHorizontalFlip(), v2.RandomAffine(degrees=0, translate=(0.05, 0.05))]
    standard = [
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5),
        v2.ColorJitter(brightness=0.3, contrast=0.3),
    ]
    if preset == "standard":
        return standard + [v2.RandomErasing(p=0.25, scale=(0.02, 0.15), value=0)]
    return standard + [
        v2.RandomApply([v2.GaussianBlur(kernel_size=3, sigma=(0.1, 1.5))], p=0.3),
        v2.RandomErasing(p=0.5, scale=(0.02, 0.25), value=0),
    ]


def build_transforms(
    image_size: int, channels: int, mean: Sequence[float], std: Sequence[float], train: bool, preset: str = "standard"
) -> v2.Compose:
    """uint8 ``C x H x W`` tensor -> float32 ``channels x image_size x image_size``, normalised.

    ``train=False`` or ``preset="none"``: resize (a no-op at the right size), channels, float, normalise.
    Presets: ``light`` (flip, small shift), ``standard`` (flip, rotation ±10°, shift/zoom/shear, brightness/
    contrast jitter, random erasing), ``strong`` (standard + Gaussian blur + stronger erasing).
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown augmentation preset {preset!r}; choose one of {list(PRESETS)}.")
    mean, std = list(mean), list(std)
    if len(mean) == 1 and channels == 3:
        mean, std = mean * 3, std * 3
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std need {channels} values (or 1), got mean={mean}, std={std}.")
    steps = [ToChannels(channels), v2.Resize((image_size, image_size), antialias=True)]
    if train:
        steps += _augment(preset)
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)
