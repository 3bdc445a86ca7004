"""The one model shape every ferkit architecture shares: body -> global pool -> pre-logits -> dropout -> linear.

The interface follows timm: ``forward_features`` (B,C,H,W feature map), ``forward_head`` (logits, or pooled
features with ``pre_logits=True``), ``reset_classifier``, and a ``default_cfg`` dict filled by ``create_model``.
"""

from __future__ import annotations

import torch
from torch import nn

from ferkit.models.attention import is_attention


class FERNet(nn.Module):
    """Wrap a feature extractor and a classifier head.

    ``stem_name`` is the dotted path of the first conv (the one adapted to ``in_chans``), used by
    ``split_parameters``. ``min_image_size`` is the smallest side the body accepts; smaller inputs raise ValueError.
    """

    def __init__(
        self,
        features: nn.Module,
        num_features: int,
        num_classes: int,
        *,
        stem_name: str,
        global_pool: nn.Module | None = None,
        pre_logits: nn.Module | None = None,
        head_features: int | None = None,
        drop_rate: float = 0.0,
        fc: nn.Module | None = None,
        min_image_size: int = 16,
    ) -> None:
        super().__init__()
        self.features = features
        self.global_pool = (
            global_pool if global_pool is not None else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        )
        self.pre_logits = pre_logits if pre_logits is not None else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.num_features = num_features
        self.head_features = head_features or num_features
        self.num_classes = num_classes
        self.fc = fc if fc is not None else self._make_fc(num_classes)
        self.stem_name = stem_name
        self.min_image_size = min_image_size
        self.tta = "none"  # "flip": eval-mode forward averages the logits of x and its mirror (checkpoint "tta")
        self.default_cfg: dict = {}

    def _make_fc(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.head_features, num_classes) if num_classes > 0 else nn.Identity()

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last linear layer with a fresh one for ``num_classes`` (0 = return pooled features)."""
        self.num_classes = num_classes
        self.fc = self._make_fc(num_classes)
        if self.default_cfg:
            self.default_cfg["num_classes"] = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """B,in_chans,H,W images -> B,num_features,h,w feature map."""
        if min(x.shape[-2:]) < self.min_image_size:
            arch = self.default_cfg.get("arch", type(self).__name__)
            raise ValueError(
                f"{arch} needs images of at least {self.min_image_size}x{self.min_image_size} px, got "
                f"{tuple(x.shape[-2:])}; resize the input (image_size >= {self.min_image_size}) or pick another model."
            )
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature map -> logits B,num_classes (or the B,head_features vector before the last linear)."""
        x = self.pre_logits(self.global_pool(x))  # B,head_features
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.forward_head(self.forward_features(x))  # B,num_classes
        if self.tta == "flip" and not self.training:
            # Test-time augmentation: faces are near-symmetric, so the mirror image is a second, free view.
            logits = (logits + self.forward_head(self.forward_features(x.flip(-1)))) / 2
        return logits


def adapt_first_conv(conv: nn.Conv2d, in_chans: int, keep_weights: bool) -> nn.Conv2d:
    """Return ``conv`` made for ``in_chans`` inputs.

    With pretrained weights (``keep_weights``) a gray model sums the RGB kernels, so a gray image gives the same
    response as that image repeated on three channels; other counts repeat the kernels and rescale (as timm does).
    Without weights a fresh conv is built.
    """
    if in_chans < 1:
        raise ValueError(f"in_chans must be >= 1, got {in_chans}.")
    if conv.in_channels == in_chans:
        return conv
    new = nn.Conv2d(
        in_chans,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    if keep_weights:
        w = conv.weight.detach()  # O,3,k,k
        if in_chans == 1:
            new_w = w.sum(dim=1, keepdim=True)
        else:
            reps = -(-in_chans // w.shape[1])
            new_w = w.repeat(1, reps, 1, 1)[:, :in_chans] * (w.shape[1] / in_chans)
        with torch.no_grad():
            new.weight.copy_(new_w)
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
    return new


def split_parameters(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Group a ferkit model's parameters for staged training.

    Keys: ``"head"`` (pre-logits and classifier), ``"attention"`` (inserted CBAM/SE blocks), ``"stem"`` (the first
    conv, adapted to in_chans) and ``"backbone"`` (everything else). Every parameter is in exactly one group.
    """
    if not isinstance(model, FERNet):
        raise ValueError(f"split_parameters needs a model from ferkit.models.create_model, got {type(model).__name__}.")
    groups: dict[str, list[nn.Parameter]] = {"head": [], "attention": [], "stem": [], "backbone": []}
    seen: set[int] = set()

    def take(group: str, module: nn.Module) -> None:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                groups[group].append(p)

    for module in (model.global_pool, model.pre_logits, model.head_drop, model.fc):
        take("head", module)
    for module in model.features.modules():
        if is_attention(module):
            take("attention", module)
    take("stem", model.get_submodule(model.stem_name))
    take("backbone", model.features)
    return groups
