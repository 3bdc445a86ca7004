"""Models created by name: ``register_model`` decorates a builder, ``create_model`` calls it and fills ``default_cfg``.

Modelled on timm's registry (``timm/models/_registry.py``): a variant is a builder calling a shared constructor
with a set of arguments, never a subclass.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import os
from collections.abc import Callable

from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_CFGS: dict[str, dict] = {}
_RESERVED = ("num_classes", "in_chans", "pretrained", "weights")


def register_model(
    fn: Callable | None = None,
    *,
    image_size: int = 112,
    in_chans: int = 3,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    min_image_size: int = 32,
    pretrained_backbone: str | None = None,
    description: str | None = None,
):
    """Register a builder ``fn(num_classes, in_chans, pretrained, weights, **kwargs) -> nn.Module`` under its name.

    Usable bare (``@register_model``) or with the model's default cfg (``@register_model(image_size=48, ...)``).
    ``pretrained_backbone`` names the torchvision ImageNet weights it can start from (None: trained from scratch).
    """

    def wrap(builder: Callable) -> Callable:
        name = builder.__name__
        if name in _BUILDERS:
            raise ValueError(f"Model {name!r} is registered twice.")
        doc = (builder.__doc__ or "").strip().splitlines()
        _BUILDERS[name] = builder
        _CFGS[name] = {
            "image_size": image_size,
            "in_chans": in_chans,
            "mean": tuple(mean),
            "std": tuple(std),
            "min_image_size": min_image_size,
            "pretrained_backbone": pretrained_backbone,
            "description": description or (doc[0] if doc else ""),
        }
        return builder

    return wrap(fn) if fn is not None else wrap


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted registered model names, optionally filtered by a shell-style pattern (``"resnet*_cbam*"``)."""
    names = sorted(_BUILDERS)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def _check_name(name: str) -> None:
    if name not in _BUILDERS:
        close = difflib.get_close_matches(name, list(_BUILDERS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Available models: {', '.join(list_models())}.")


def get_model_cfg(name: str) -> dict:
    """Default cfg of a registered model: image_size, in_chans, mean, std, min_image_size, description, ..."""
    _check_name(name)
    return dict(_CFGS[name])


def _norm_for_chans(values: tuple[float, ...], in_chans: int) -> tuple[float, ...]:
    """Mean/std for ``in_chans`` channels: a gray model uses the average of the RGB statistics."""
    if len(values) == in_chans:
        return tuple(values)
    avg = round(sum(values) / len(values), 4)
    return (avg,) * in_chans


def create_model(
    name: str,
    num_classes: int = 7,
    in_chans: int | None = None,
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    **kwargs,
) -> nn.Module:
    """Build a registered model.

    ``in_chans`` defaults to the model's own (3 for ImageNet backbones, 1 for the gray FER CNNs).
    ``pretrained=True`` starts the backbone from cached ImageNet weights (never downloads unless
    ``FERKIT_ALLOW_DOWNLOAD=1``); ``weights=PATH`` from a local torchvision-layout .pth/.safetensors file.
    Extra ``kwargs`` go to the builder (e.g. ``drop_rate``); unknown ones raise ValueError listing the valid ones.
    """
    _check_name(name)
    builder, cfg = _BUILDERS[name], dict(_CFGS[name])
    accepted = [p for p in inspect.signature(builder).parameters if p not in _RESERVED and p != "kwargs"]
    bad = [k for k in kwargs if k not in accepted]
    if bad:
        raise ValueError(f"Model {name!r} does not accept {bad}; its options are: {accepted or 'none'}.")
    if (pretrained or weights is not None) and cfg["pretrained_backbone"] is None:
        with_weights = [n for n in list_models() if _CFGS[n]["pretrained_backbone"]]
        raise ValueError(
            f"Model {name!r} has no ImageNet weights (it trains from scratch); use pretrained=False, "
            f"or one of: {', '.join(with_weights)}. To reload a trained ferkit model use load_model(folder)."
        )
    in_chans = cfg["in_chans"] if in_chans is None else int(in_chans)
    model = builder(num_classes=num_classes, in_chans=in_chans, pretrained=pretrained, weights=weights, **kwargs)
    cfg.update(
        arch=name,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=_norm_for_chans(cfg["mean"], in_chans),
        std=_norm_for_chans(cfg["std"], in_chans),
        model_kwargs=dict(kwargs),
    )
    model.default_cfg = cfg
    return model
