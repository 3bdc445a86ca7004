"""Train/eval transform presets on uint8 ``C x H x W`` tensors (torchvision.transforms.v2), in the style of
torchvision's classification reference ``presets.py``. Augmentation runs on uint8 (cheaper), then to float and
normalise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

PRESETS: tuple[str, ...] = ("none", "light", "standard", "strong", "photo")


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


class RandomResolution(torch.nn.Module):
    """Shrink a ``C x H x W`` image to ``scale`` (a random fraction in the range) of its side and enlarge it back:
    the detail lost by a face that was small in the photo, then upscaled by the crop."""

    def __init__(self, scale: tuple[float, float] = (0.35, 0.9)) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        f = float(torch.empty(1).uniform_(*self.scale))
        small = v2.functional.resize(img, [max(8, round(h * f)), max(8, round(w * f))], antialias=True)
        return v2.functional.resize(small, [h, w], antialias=False)


class RandomJPEG(torch.nn.Module):
    """Re-encode a uint8 ``C x H x W`` image (1 or 3 channels) as JPEG at a random quality in ``quality``, with
    OpenCV (torchvision's own JPEG codec is deprecated in 0.29)."""

    def __init__(self, quality: tuple[int, int] = (40, 95)) -> None:
        super().__init__()
        self.quality = quality

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        import cv2

        q = int(torch.randint(self.quality[0], self.quality[1] + 1, ()))
        arr = img.permute(1, 2, 0).numpy()[:, :, ::-1].copy()  # RGB -> BGR, the codec's order
        _, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR if arr.shape[2] == 3 else cv2.IMREAD_GRAYSCALE)
        return torch.from_numpy(out.reshape(arr.shape)[:, :, ::-1].copy()).permute(2, 0, 1)


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
    if preset == "photo":  # what a camera and the crop do to a face: fewer pixels, blur, JPEG (issue: default model)
        return standard + [
            v2.RandomApply([RandomResolution((0.35, 0.9))], p=0.4),
            v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.2))], p=0.2),
            v2.RandomApply([RandomJPEG((40, 95))], p=0.4),
            v2.RandomErasing(p=0.25, scale=(0.02, 0.15), value=0),
        ]
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
    contrast jitter, random erasing), ``strong`` (standard + Gaussian blur + stronger erasing), ``photo`` (standard +
    camera degradations: lower resolution, blur, JPEG quality 40-95).
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
