"""Model layer: registry (create_model / list_models), attention blocks, backbones, checkpoints, model stats."""

from __future__ import annotations

from ferkit.models import fercnet, resnet, tv_models  # noqa: F401  (registers the models)
from ferkit.models._base import FERNet, adapt_first_conv, split_parameters
from ferkit.models._registry import create_model, get_model_cfg, list_models, register_model
from ferkit.models.attention import CBAM, SqueezeExcite, create_attn, record_attention
from ferkit.models.checkpoint import load_model, save_checkpoint
from ferkit.models.stats import count_flops, count_parameters, measure_latency, model_extra

__all__ = [
    "CBAM",
    "FERNet",
    "SqueezeExcite",
    "adapt_first_conv",
    "count_flops",
    "count_parameters",
    "create_attn",
    "create_model",
    "get_model_cfg",
    "list_models",
    "load_model",
    "measure_latency",
    "model_extra",
    "record_attention",
    "register_model",
    "save_checkpoint",
    "split_parameters",
]
