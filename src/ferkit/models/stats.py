"""Model size and cost: parameter count, FLOPs (torch's own FlopCounterMode) and measured latency."""

from __future__ import annotations

import logging
import time

import torch
from torch import nn

log = logging.getLogger(__name__)


def _input_chans(model: nn.Module, in_chans: int | None) -> int:
    if in_chans is not None:
        return in_chans
    return getattr(model, "default_cfg", {}).get("in_chans", 3)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_flops(model: nn.Module, image_size: int, in_chans: int | None = None) -> int:
    """FLOPs of one forward pass on one ``in_chans x image_size x image_size`` image (a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(1, _input_chans(model, in_chans), image_size, image_size, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    image_size: int,
    in_chans: int | None = None,
    batch_size: int = 1,
    repeats: int = 20,
    warmup: int = 3,
    channels_last: bool = False,
) -> dict[str, float]:
    """Time eval-mode forward passes on random input; returns median/mean ms per batch and images/s.

    A measuring helper for comparison tables (results depend on the machine and its load), not for assertions.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.randn(batch_size, _input_chans(model, in_chans), image_size, image_size, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    model.train(was_training)
    times.sort()
    median = times[len(times) // 2]
    return {
        "median_ms": median * 1e3,
        "mean_ms": sum(times) / len(times) * 1e3,
        "images_per_s": batch_size / median,
        "batch_size": batch_size,
    }


def model_extra(model: nn.Module, image_size: int, in_chans: int) -> dict:
    """Parameter count and FLOPs per image, for reports and ``ferkit compare``."""
    extra = {"params": count_parameters(model)}
    try:
        extra["flops"] = count_flops(model, image_size, in_chans)
    except Exception as err:  # noqa: BLE001 - FLOPs are informative only; a counter failure must not lose a run
        log.warning("could not count FLOPs: %s", err)
    return extra
