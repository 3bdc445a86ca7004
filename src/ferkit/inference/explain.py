"""Where the classifier looked: CBAM spatial attention (Woo et al. 2018) or Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

import numpy as np

METHODS = ("auto", "cbam", "gradcam")


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

    blocks = _cbam_modules(model)
    with torch.inference_mode():
        model(x)
        maps = [_normalise(b.last_spatial_map.reshape(x.shape[0], *b.last_spatial_map.shape[-2:]), x.shape[-1])
                for b in blocks]
    return np.mean(maps, axis=0)


def gradcam_maps(model, x) -> np.ndarray:
    """Grad-CAM on the last feature map (``forward_features``) for each input's top class."""
    import torch

    with torch.enable_grad():
        feats = model.forward_features(x.requires_grad_(False))  # B,C,h,w
        feats.retain_grad()
        logits = model.forward_head(feats)
        logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
        weights = feats.grad.mean(dim=(2, 3), keepdim=True)  # B,C,1,1
        cam = torch.relu((weights * feats).sum(1)).detach()  # B,h,w
    model.zero_grad(set_to_none=True)
    return _normalise(cam, x.shape[-1])


def explain_crops(model, batch: np.ndarray, method: str = "auto", device: str = "cpu") -> tuple[np.ndarray, str]:
    """Heatmaps (B, S, S) in [0, 1] for a preprocessed batch; returns (maps, method used)."""
    import torch

    if method not in METHODS:
        raise ValueError(f"Unknown explain method {method!r}; choose one of {', '.join(METHODS)}.")
    has_cbam = bool(_cbam_modules(model))
    if method == "cbam" and not has_cbam:
        raise ValueError(f"The model {model.default_cfg.get('arch', '')!r} has no CBAM blocks; use method='gradcam' "
                         "(or 'auto').")
    used = "cbam" if method == "cbam" or (method == "auto" and has_cbam) else "gradcam"
    x = torch.from_numpy(batch).to(device)
    model.eval()
    return (cbam_maps(model, x) if used == "cbam" else gradcam_maps(model, x)), used
