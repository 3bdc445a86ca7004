"""Where the classifier looked: CBAM spatial attention (Woo et al. 2018) or Grad-CAM (Selvaraju et al. 2017).

``EXPLAIN_METHODS`` is the one table of methods (name -> description, availability, map function); the CLI's
choices and help are read from it. ``"auto"`` picks the first method in the table the model supports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExplainMethod:
    """``available(model)``: whether the model supports it; ``maps(model, x)``: B,S,S heatmaps in [0, 1]."""

    name: str
    description: str
    available: Callable[[object], bool]
    maps: Callable[[object, object], np.ndarray]


def _cbam_modules(model) -> list:
    from ferkit.models.attention import CBAM

    return [m for m in model.modules() if isinstance(m, CBAM)]


def _normalise(maps, size: int) -> np.ndarray:
    """B,h,w tensor -> B,size,size numpy in [0, 1] (each map min-max scaled)."""
    import torch.nn.functional as F

    up = F.interpolate(maps[:, None].float(), size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    flat = up.flatten(1)
    lo, hi = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
    return ((flat - lo) / (hi - lo).clamp_min(1e-8)).reshape(up.shape).cpu().numpy()


def cbam_maps(model, x) -> np.ndarray:
    """Mean of every CBAM block's spatial attention map, each upsampled to the input size."""
    import torch

    from ferkit.models.attention import record_attention

    with torch.inference_mode(), record_attention(model) as blocks:
        model(x)
        maps = [
            _normalise(b.last_spatial_map.reshape(x.shape[0], *b.last_spatial_map.shape[-2:]), x.shape[-1])
            for b in blocks
        ]
    return np.mean(maps, axis=0)


def gradcam_maps(model, x) -> np.ndarray:
    """Grad-CAM on the last feature map (``forward_features``) for each input's top class. An ensemble
    (``ferkit.models.ensemble``): its members' maps on their own inputs, weighted as their probabilities are."""
    import torch

    if hasattr(model, "member_inputs"):
        return sum(
            w * _normalise(torch.from_numpy(gradcam_maps(m, xi)), x.shape[-1]) for m, xi, w in model.member_inputs(x)
        )
    with torch.enable_grad():
        feats = model.forward_features(x.requires_grad_(False))  # B,C,h,w
        feats.retain_grad()
        logits = model.forward_head(feats)
        logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
        weights = feats.grad.mean(dim=(2, 3), keepdim=True)  # B,C,1,1
        cam = torch.relu((weights * feats).sum(1)).detach()  # B,h,w
    model.zero_grad(set_to_none=True)
    return _normalise(cam, x.shape[-1])


EXPLAIN_METHODS: dict[str, ExplainMethod] = {
    m.name: m
    for m in (
        ExplainMethod(
            "cbam",
            "CBAM spatial attention (models with CBAM blocks)",
            lambda model: bool(_cbam_modules(model)),
            cbam_maps,
        ),
        ExplainMethod("gradcam", "Grad-CAM on the last feature map (any model)", lambda model: True, gradcam_maps),
    )
}
METHODS: tuple[str, ...] = ("auto", *EXPLAIN_METHODS)


def methods_help() -> str:
    """One line per method, for CLI help and docs."""
    return "auto = the first the model supports of: " + "; ".join(
        f"{m.name} = {m.description}" for m in EXPLAIN_METHODS.values()
    )


def explain_crops(model, batch: np.ndarray, method: str = "auto", device: str = "cpu") -> tuple[np.ndarray, str]:
    """Heatmaps (B, S, S) in [0, 1] for a preprocessed batch; returns (maps, method used)."""
    import torch

    if method not in METHODS:
        raise ValueError(f"Unknown explain method {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "auto":
        method = next(m.name for m in EXPLAIN_METHODS.values() if m.available(model))
    elif not EXPLAIN_METHODS[method].available(model):
        usable = [m.name for m in EXPLAIN_METHODS.values() if m.available(model)]
        raise ValueError(
            f"The model {model.default_cfg.get('arch', '')!r} does not support method {method!r} "
            f"({EXPLAIN_METHODS[method].description}); use one of {usable} (or 'auto')."
        )
    x = torch.from_numpy(batch).to(device)
    model.eval()
    return EXPLAIN_METHODS[method].maps(model, x), method
