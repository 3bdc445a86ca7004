"""Train/eval transform presets on uint8 ``C x H x W`` tensors (torchvision.transforms.v2), in the style of
torchvision's classification reference ``presets.py``. Augmentation runs on uint8 (cheaper), then to float and
normalise. ``BatchAugment`` draws the geometric and photometric part of a preset for a whole batch at once as tensor
ops (``data.batch_augment``): one affine grid sample per batch instead of one warp per image in the loader.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.transforms import v2

PRESETS: tuple[str, ...] = ("none", "light", "standard", "strong", "photo")
# The presets' parameters, read by the per-image ops (``_augment``) and ``BatchAugment`` alike.
AFFINE = {  # degrees, translate (fraction of the side), scale range, shear (degrees)
    "light": (0.0, 0.05, (1.0, 1.0), 0.0),
    "standard": (10.0, 0.1, (0.9, 1.1), 5.0),
}
JITTER = 0.3  # brightness and contrast factors in [1 - JITTER, 1 + JITTER]
ERASING = {"standard": (0.25, (0.02, 0.15)), "photo": (0.25, (0.02, 0.15)), "strong": (0.5, (0.02, 0.25))}
BATCH_PRESETS = ("none", "light", "standard")  # the others need per-image ops (JPEG, resolution)


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
        _, shift, _, _ = AFFINE["light"]
        return [v2.RandomHorizontalFlip(), v2.RandomAffine(degrees=0, translate=(shift, shift))]
    degrees, shift, scale, shear = AFFINE["standard"]
    standard = [
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=degrees, translate=(shift, shift), scale=scale, shear=shear),
        v2.ColorJitter(brightness=JITTER, contrast=JITTER),
    ]
    p, area = ERASING[preset]
    erase = v2.RandomErasing(p=p, scale=area, value=0)
    if preset == "standard":
        return standard + [erase]
    if preset == "photo":  # what a camera and the crop do to a face: fewer pixels, blur, JPEG (issue: default model)
        return standard + [
            v2.RandomApply([RandomResolution((0.35, 0.9))], p=0.4),
            v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.2))], p=0.2),
            v2.RandomApply([RandomJPEG((40, 95))], p=0.4),
            erase,
        ]
    return standard + [v2.RandomApply([v2.GaussianBlur(kernel_size=3, sigma=(0.1, 1.5))], p=0.3), erase]


def build_transforms(
    image_size: int, channels: int, mean: Sequence[float], std: Sequence[float], train: bool, preset: str = "standard"
) -> v2.Compose:
    """uint8 ``C x H x W`` tensor -> float32 ``channels x image_size x image_size``, normalised.

    ``train=False`` or ``preset="none"``: resize (a no-op at the right size), channels, float, normalise.
    Presets: ``light`` (flip, small shift), ``standard`` (flip, rotation ±10°, shift/zoom/shear, brightness/
    contrast jitter, random erasing), ``strong`` (standard + Gaussian blur + stronger erasing), ``photo`` (standard +
    camera degradations: lower resolution, blur, JPEG quality 40-95).
    """
    mean, std = _normaliser(channels, mean, std)
    steps = _load_steps(image_size, channels, preset)
    if train:
        steps += _augment(preset)
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


def _load_steps(image_size: int, channels: int, preset: str) -> list:
    """The uint8 steps every transform starts with (channels, size), once ``preset`` is known to be one."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown augmentation preset {preset!r}; choose one of {list(PRESETS)}.")
    return [ToChannels(channels), v2.Resize((image_size, image_size), antialias=True)]


def _normaliser(channels: int, mean: Sequence[float], std: Sequence[float]) -> tuple[list[float], list[float]]:
    mean, std = list(mean), list(std)
    if len(mean) == 1 and channels == 3:
        mean, std = mean * 3, std * 3
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std need {channels} values (or 1), got mean={mean}, std={std}.")
    return mean, std


class BatchAugment(torch.nn.Module):
    """A preset's augmentation (``BATCH_PRESETS``) drawn per image but computed for a whole uint8 ``N x C x S x S``
    batch at once on its device, then float and normalised: what ``build_transforms(train=True)`` does image by
    image, as tensor ops (flip; rotation, shift, zoom and shear as one ``affine_grid`` / ``grid_sample``; brightness
    and contrast; random erasing). The distributions are the preset's; the pixels differ from the per-image path by
    rounding (no uint8 step between the ops) and the fixed brightness-then-contrast order."""

    def __init__(self, preset: str, channels: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if preset not in BATCH_PRESETS:
            raise ValueError(
                f"data.batch_augment supports the presets {list(BATCH_PRESETS)}, not data.augment={preset!r} "
                "(its JPEG and resolution steps are per-image ops); set data.batch_augment=false or another preset."
            )
        self.preset = preset
        mean, std = _normaliser(channels, mean, std)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0
        if self.preset != "none":
            n = x.shape[0]
            flip = torch.rand(n, device=x.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            x = self._affine(x, *AFFINE[self.preset])
            if self.preset == "standard":
                x = self._jitter(x)
                x = self._erase(x, *ERASING["standard"])
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    @staticmethod
    def _uniform(n: int, lo: float, hi: float, device) -> torch.Tensor:
        return torch.rand(n, device=device) * (hi - lo) + lo

    def _affine(self, x: torch.Tensor, degrees: float, shift: float, scale: tuple, shear: float) -> torch.Tensor:
        """Each image turned, sheared, zoomed about its centre and shifted, black outside (RandomAffine's fill)."""
        n, dev = x.shape[0], x.device
        ang = torch.deg2rad(self._uniform(n, -degrees, degrees, dev))
        sh = torch.tan(torch.deg2rad(self._uniform(n, -shear, shear, dev)))
        zoom = self._uniform(n, *scale, dev)
        cos, sin = torch.cos(ang), torch.sin(ang)
        # forward map in [-1, 1] coordinates: zoom * rotation @ x-shear, then the shift (2 x fraction of the side)
        fwd = torch.stack([torch.stack([cos, cos * sh - sin], -1), torch.stack([sin, sin * sh + cos], -1)], -2)
        fwd = fwd * zoom.view(-1, 1, 1)
        move = self._uniform(2 * n, -2 * shift, 2 * shift, dev).view(n, 2, 1)
        inv = torch.linalg.inv(fwd)  # affine_grid maps output coordinates to input ones
        theta = torch.cat([inv, -inv @ move], 2)
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        # nearest, as RandomAffine's default, so both paths draw the same preset (bilinear: no measured difference)
        return torch.nn.functional.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        """ColorJitter's brightness (scale) then contrast (blend with the image's gray mean), clamped to [0, 1]."""
        n, dev = x.shape[0], x.device
        x = (x * self._uniform(n, 1 - JITTER, 1 + JITTER, dev).view(-1, 1, 1, 1)).clamp(0, 1)
        gray = x if x.shape[1] == 1 else v2.functional.rgb_to_grayscale(x)
        m = gray.mean(dim=(1, 2, 3), keepdim=True)
        c = self._uniform(n, 1 - JITTER, 1 + JITTER, dev).view(-1, 1, 1, 1)
        return ((x - m) * c + m).clamp(0, 1)

    def _erase(self, x: torch.Tensor, p: float, area: tuple) -> torch.Tensor:
        """RandomErasing: with probability ``p`` a black rectangle of ``area`` of the image, aspect 0.3-3.3."""
        n, dev = x.shape[0], x.device
        size = x.shape[-1]
        a = self._uniform(n, *area, dev) * size * size
        r = torch.exp(self._uniform(n, math.log(0.3), math.log(3.3), dev))
        h = torch.sqrt(a * r).round().clamp(1, size)
        w = torch.sqrt(a / r).round().clamp(1, size)
        top = (torch.rand(n, device=dev) * (size - h + 1)).floor()
        left = (torch.rand(n, device=dev) * (size - w + 1)).floor()
        idx = torch.arange(size, device=dev, dtype=x.dtype)
        rows = (idx.view(1, -1) >= top.view(-1, 1)) & (idx.view(1, -1) < (top + h).view(-1, 1))
        cols = (idx.view(1, -1) >= left.view(-1, 1)) & (idx.view(1, -1) < (left + w).view(-1, 1))
        mask = rows[:, :, None] & cols[:, None, :] & (torch.rand(n, device=dev) < p).view(-1, 1, 1)
        return x.masked_fill(mask[:, None], 0.0)


def build_batch_transforms(
    image_size: int, channels: int, mean: Sequence[float], std: Sequence[float], preset: str = "standard"
) -> tuple[v2.Compose, BatchAugment]:
    """(per-image uint8 transform for the loader: channels and size only, the batch transform for the training
    step: ``BatchAugment``) for ``data.batch_augment``."""
    steps = _load_steps(image_size, channels, preset)
    return v2.Compose(steps), BatchAugment(preset, channels, mean, std)
