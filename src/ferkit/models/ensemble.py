"""An output ensemble of trained models in one graph: each member reads the one canonical crop resized to its own
input size, and the ensemble's output is the log of the members' weighted mean probability (so softmax of it is
that mean, and the calibration temperature and every caller treat it as logits).

Members of different input sizes (the default model mixes a 64 px and a 48 px fercnet_s) see the same template
crop: its landmarks are fractions of the side, so a 64 px crop shrunk to 48 px frames the face as a 48 px crop
does. The shrink is a fixed matrix product (``resize_matrix``: bilinear with antialiasing, as
``F.interpolate(antialias=True)``), which exports to ONNX as two MatMuls at any opset.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ferkit.models._registry import create_model

# model.json "arch" of an ensemble. Not a registered architecture: it is built from trained members (by
# ``load_model`` from its metadata), never trained, so ``list_models`` and ``ferkit train`` do not offer it.
ARCH = "ensemble"


def resize_matrix(src: int, dst: int) -> torch.Tensor:
    """``dst x src`` matrix ``A`` with ``A @ x @ A.T`` = ``x`` (``src`` px square) resized to ``dst`` px by
    antialiased bilinear interpolation (``F.interpolate(..., antialias=True)``), one separable axis at a time."""
    basis = torch.eye(src).reshape(src, 1, 1, src)  # each unit impulse as a 1 x src image
    out = F.interpolate(basis, size=(1, dst), mode="bilinear", antialias=True, align_corners=False)
    return out.reshape(src, dst).T.contiguous()


def check_members(members) -> list[dict]:
    """``members`` from model.json: a list of ``{"arch", "image_size", "weight", "model_kwargs"}``, weights > 0
    (normalised to sum 1), no nested ensembles. ValueError naming the bad entry otherwise."""
    if not isinstance(members, (list, tuple)) or len(members) < 2:
        raise ValueError(f"An ensemble needs a list of at least 2 members, got {members!r}.")
    out = []
    for i, m in enumerate(members):
        ok = (
            isinstance(m, dict)
            and isinstance(m.get("arch"), str)
            and m["arch"] != ARCH
            and isinstance(m.get("image_size"), int)
            and m["image_size"] >= 8
            and isinstance(m.get("weight"), (int, float))
            and m["weight"] > 0
            and isinstance(m.get("model_kwargs", {}), dict)
        )
        if not ok:
            raise ValueError(
                f"Ensemble member {i} is {m!r}; each needs 'arch' (a registered model, not an ensemble), "
                "'image_size' (int >= 8), 'weight' (> 0) and optionally 'model_kwargs' (a dict)."
            )
        kwargs = dict(m.get("model_kwargs", {}))
        out.append(
            {"arch": m["arch"], "image_size": m["image_size"], "weight": float(m["weight"]), "model_kwargs": kwargs}
        )
    total = sum(m["weight"] for m in out)
    for m in out:
        m["weight"] /= total
    return out


class Ensemble(nn.Module):
    """Weighted mean of the members' probabilities; input: the crop at the largest member size."""

    def __init__(self, members: list[dict], num_classes: int, in_chans: int):
        super().__init__()
        self.spec = check_members(members)
        self.members = nn.ModuleList(
            create_model(m["arch"], num_classes=num_classes, in_chans=in_chans, **m["model_kwargs"]) for m in self.spec
        )
        self.image_size = max(m["image_size"] for m in self.spec)
        for i, m in enumerate(self.spec):  # not in the state dict: rebuilt from the sizes
            self.register_buffer(f"resize{i}", resize_matrix(self.image_size, m["image_size"]), persistent=False)
        self.tta = "none"  # "flip": eval-mode forward also reads the mirror image (checkpoint "tta")
        self.default_cfg = {
            "arch": ARCH,
            "num_classes": num_classes,
            "image_size": self.image_size,
            "in_chans": in_chans,
            "model_kwargs": {"members": self.spec},
        }

    def member_inputs(self, x: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor, float]]:
        """(member, ``x`` resized to the member's input size, its weight) for each member."""
        out = []
        for i, (member, m) in enumerate(zip(self.members, self.spec)):
            a = getattr(self, f"resize{i}")
            out.append((member, x if m["image_size"] == self.image_size else a @ x @ a.T, m["weight"]))
        return out

    def _mean_probs(self, x: torch.Tensor) -> torch.Tensor:
        return sum(w * member(xi).softmax(1) for member, xi, w in self.member_inputs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"This ensemble reads {self.image_size} px crops, got {tuple(x.shape[-2:])}.")
        probs = self._mean_probs(x)
        if self.tta == "flip" and not self.training:
            probs = (probs + self._mean_probs(x.flip(-1))) / 2
        return probs.clamp_min(1e-12).log()


# What describes one member alone and not the ensemble (its calibration, TTA, recipe, scores).
_MEMBER_ONLY = ("temperature", "tta", "recipe", "soup", "metrics", "test_metrics", "model_kwargs", "arch", "ensemble")


def from_checkpoints(folders, weights) -> tuple[Ensemble, dict]:
    """An ensemble of the trained checkpoints in ``folders`` (one ``weights`` entry each) and its metadata for
    ``save_checkpoint``: that of the member with the largest input (its crop is the ensemble's) without what
    describes that member alone. Members must agree on labels, channels, normalisation and crop template."""
    from ferkit.models.checkpoint import load_model

    loaded = [load_model(f) for f in folders]
    metas = [meta for _, meta in loaded]
    for key in ("labels", "in_chans", "mean", "std"):
        if any(m.get(key) != metas[0].get(key) for m in metas):
            raise ValueError(f"Ensemble members differ in {key}: {[m.get(key) for m in metas]}; they must agree.")
    if len({str(m.get("crop", {}).get("template")) for m in metas}) > 1:
        raise ValueError("Ensemble members were trained on different crop templates; they must share one.")
    spec = [
        {"arch": m["arch"], "image_size": int(m["image_size"]), "weight": w, "model_kwargs": m.get("model_kwargs", {})}
        for m, w in zip(metas, weights)
    ]
    model = Ensemble(spec, int(metas[0]["num_classes"]), int(metas[0]["in_chans"]))
    for dst, (src, _) in zip(model.members, loaded):
        dst.load_state_dict(src.state_dict())
    meta = {k: v for k, v in max(metas, key=lambda m: int(m["image_size"])).items() if k not in _MEMBER_ONLY}
    meta["ensemble"] = [{"model": str(f), "weight": round(m["weight"], 4)} for f, m in zip(folders, model.spec)]
    return model.eval(), meta
