"""ImageNet weights for the torchvision backbones, offline first.

``pretrained=True`` reads the file torchvision would have downloaded from the torch hub cache
(``torch.hub.get_dir()/checkpoints``). Nothing is downloaded unless ``FERKIT_ALLOW_DOWNLOAD=1`` is set, so a
machine without network fails at once with instructions instead of hanging.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

ALLOW_DOWNLOAD_ENV = "FERKIT_ALLOW_DOWNLOAD"

# ferkit backbone key -> name of the torchvision weights enum (its DEFAULT member is used).
IMAGENET_WEIGHTS: dict[str, str] = {
    "resnet18": "ResNet18_Weights",
    "resnet50": "ResNet50_Weights",
    "mobilenet_v2": "MobileNet_V2_Weights",
    "mobilenet_v3_small": "MobileNet_V3_Small_Weights",
    "mobilenet_v3_large": "MobileNet_V3_Large_Weights",
    "vgg16_bn": "VGG16_BN_Weights",
    "inception_v3": "Inception_V3_Weights",
    "efficientnet_b0": "EfficientNet_B0_Weights",
}


def imagenet_weights_url(backbone: str) -> str:
    """URL of torchvision's default ImageNet weights for ``backbone``."""
    import torchvision.models as tvm

    if backbone not in IMAGENET_WEIGHTS:
        raise ValueError(f"No ImageNet weights for backbone {backbone!r}; known: {', '.join(IMAGENET_WEIGHTS)}.")
    return getattr(tvm, IMAGENET_WEIGHTS[backbone]).DEFAULT.url


def hub_checkpoint_dir() -> Path:
    """The folder torchvision caches downloaded weights in."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file or a ``.pth``/``.pt`` file (never unpickles objects)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Weights file {path} does not exist; pass weights=PATH to a .pth or .safetensors file."
        )
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except SafetensorError as err:
            raise ValueError(f"{path} is not a valid safetensors file ({err}).") from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or pickled-object files
        raise ValueError(f"Could not read {path} as a tensor state dict ({type(err).__name__}: {err}).") from err
    for key in ("state_dict", "model"):  # training-script checkpoints nest the weights
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state dict (a dict of tensors).")
    return obj


def load_imagenet_state_dict(backbone: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet state dict for ``backbone`` from the hub cache; RuntimeError with instructions if
    absent."""
    url = imagenet_weights_url(backbone)
    folder = hub_checkpoint_dir()
    file = folder / url.rsplit("/", 1)[-1]
    if file.is_file():
        return load_state_dict_file(file)
    if os.environ.get(ALLOW_DOWNLOAD_ENV) == "1":
        log.info("Downloading %s to %s (%s=1)", url, folder, ALLOW_DOWNLOAD_ENV)
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True, weights_only=True)
    raise RuntimeError(
        f"ImageNet weights for {backbone} are not cached: expected {file.name} in {folder}. "
        f"Fetch {url} on a machine with network and copy it into {folder}, "
        f"or pass weights=PATH to a local .pth/.safetensors file, "
        f"or set {ALLOW_DOWNLOAD_ENV}=1 to let ferkit download it, or use pretrained=False."
    )


def load_backbone_weights(
    module: nn.Module,
    backbone: str,
    *,
    pretrained: bool,
    weights: str | os.PathLike | None,
    head_prefixes: tuple[str, ...],
) -> bool:
    """Load ImageNet (``pretrained``) or file (``weights``) weights into a torchvision-layout ``module``.

    Keys under ``head_prefixes`` (the 1000-class classifier) are skipped; every other key must match by name and
    shape. Returns True when weights were loaded.
    """
    if weights is not None:
        source, state = str(weights), load_state_dict_file(weights)
    elif pretrained:
        source, state = f"ImageNet {backbone}", load_imagenet_state_dict(backbone)
    else:
        return False
    state = {k: v for k, v in state.items() if not k.startswith(head_prefixes)}
    target = {k: v for k, v in module.state_dict().items() if not k.startswith(head_prefixes)}
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in target.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"Weights from {source} do not fit torchvision's {backbone}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, shape mismatch {mismatched[:5]}. weights=PATH expects a torchvision "
            "state dict for this backbone; to reload a ferkit model use ferkit.models.load_model(folder)."
        )
    module.load_state_dict(state, strict=False)
    return True
