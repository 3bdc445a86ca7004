"""One epoch of training and one pass of evaluation, as plain functions (torchvision references style)."""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
from tqdm import tqdm


def autocast_context(device: torch.device, amp_dtype: torch.dtype | None):
    """``torch.autocast`` for ``amp_dtype`` on ``device``, or a no-op when AMP is off."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def set_train_mode(model: nn.Module) -> None:
    """``model.train()`` but keep BatchNorm layers whose parameters are all frozen in eval mode, so a frozen
    part's running statistics stay fixed too (a frozen stage leaves the backbone exactly unchanged)."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def _to_device(images, targets, device, channels_last, batch_transform=None):
    images = images.to(device, non_blocking=True)
    if batch_transform is not None:  # uint8 batch -> augmented, normalised float on the device
        images = batch_transform(images)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, targets.to(device, non_blocking=True)


def train_one_epoch(
    model: nn.Module,
    loader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    scheduler=None,
    device: torch.device | str = "cpu",
    scaler=None,
    epoch: int = 0,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    grad_clip: float | None = None,
    progress: bool = True,
    mixup: float = 0.0,
    cutmix: float = 0.0,
    batch_transform=None,
    teacher: nn.Module | None = None,
    distill: tuple[float, float] = (0.5, 2.0),
) -> dict:
    """Train ``model`` for one pass over ``loader``; steps a per-batch ``scheduler`` (not ReduceLROnPlateau).
    Everything after the optimizer is keyword-only. ``mixup`` > 0: each batch is blended with a shuffled copy of
    itself with a weight drawn from Beta(mixup, mixup), and the loss blends the two images' targets (``mix_batch``).
    ``cutmix`` > 0: a box of the shuffled copy is pasted instead, its area drawn from Beta(cutmix, cutmix); with
    both on, each batch takes one of the two at random (as timm's ``Mixup`` does with ``switch_prob`` 0.5).
    ``batch_transform``: applied to each batch on the device before anything else (``data.batch_augment``: the
    loader yields uint8 images, ``data.transforms.BatchAugment`` augments and normalises them).
    ``teacher``: a trained model in eval mode that sees the same (augmented, mixed) batch; with ``distill`` =
    (weight w, temperature T) the loss is (1 - w) * the data loss + w * ``distill_loss`` (Hinton et al. 2015).

    Returns ``{"loss": mean loss, "acc": train accuracy, "images": count, "seconds": wall time}``.
    """
    import time

    device = torch.device(device)
    set_train_mode(model)
    per_batch = scheduler is not None and not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress, unit="batch")
    for images, targets in bar:
        images, targets = _to_device(images, targets, device, channels_last, batch_transform)
        cut = cutmix > 0 and (mixup <= 0 or bool(torch.rand(()) < 0.5))
        mixed = cut or mixup > 0
        if cut:
            images, targets, partner, lam = mix_batch(images, targets, cutmix, cut=True)
        elif mixed:
            images, targets, partner, lam = mix_batch(images, targets, mixup)
        with autocast_context(device, amp_dtype):
            logits = model(images)  # B,num_classes
            loss = criterion(logits.float(), targets)
            if mixed:  # the loss of a blend is the blend of the two losses (hard or soft targets alike)
                loss = lam * loss + (1 - lam) * criterion(logits.float(), partner)
            if teacher is not None:
                with torch.no_grad():
                    teacher_logits = teacher(images).float()
                w, t = distill
                loss = (1 - w) * loss + w * distill_loss(logits.float(), teacher_logits, t)
        if not math.isfinite(loss.item()):
            raise RuntimeError(
                f"Training loss is {loss.item()} at epoch {epoch}; lower the learning rate or turn AMP off (amp=off)."
            )
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        if per_batch:
            scheduler.step()
        n = images.shape[0]
        hard = targets.argmax(1) if targets.ndim == 2 else targets  # soft targets: their argmax
        loss_sum += loss.item() * n
        correct += int((logits.argmax(1) == hard).sum())
        seen += n
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
    bar.close()
    if seen == 0:  # drop_last with fewer images than one batch: nothing would train, silently
        raise ValueError(
            f"The training loader gave no batch at epoch {epoch} (fewer training images than "
            f"batch_size={getattr(loader, 'batch_size', '?')} per process); lower data.batch_size."
        )
    return {
        "loss": loss_sum / max(seen, 1),
        "acc": correct / max(seen, 1),
        "images": seen,
        "seconds": time.perf_counter() - start,
    }


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean: Hinton et al.'s soft-target loss (the
    T^2 keeps its gradients on the scale of the hard-label loss as T changes)."""
    import torch.nn.functional as F

    t = temperature
    return (
        F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), log_target=True, reduction="batchmean")
        * t
        * t
    )


def mix_batch(images: torch.Tensor, targets: torch.Tensor, alpha: float, cut: bool = False):
    """mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization") on a whole batch as tensor ops:
    ``lam * images + (1 - lam) * images[perm]`` with ``lam ~ Beta(alpha, alpha)`` and a random permutation.
    ``cut``: CutMix (Yun et al. 2019) instead: a box of ``1 - lam`` of the area, centred at random and clipped to
    the image, is taken from ``images[perm]``, and ``lam`` becomes the share of the image left as it was.
    Returns ``(mixed images, targets, targets[perm], lam)``; the caller blends the two losses with ``lam``. Uses
    torch's global RNG, which ``fit`` seeds per epoch, so resumed runs mix the same way."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(images.shape[0], device=images.device)
    if not cut:
        return lam * images + (1 - lam) * images[perm], targets, targets[perm], lam
    h, w = images.shape[-2:]
    side = math.sqrt(1 - lam)
    cy, cx = (int(torch.randint(n, ())) for n in (h, w))
    y0, y1 = max(cy - round(h * side / 2), 0), min(cy + round(h * side / 2), h)
    x0, x1 = max(cx - round(w * side / 2), 0), min(cx + round(w * side / 2), w)
    mixed = images.clone()
    mixed[..., y0:y1, x0:x1] = images[..., y0:y1, x0:x1][perm]  # the box only, not a shuffled copy of all
    return mixed, targets, targets[perm], 1 - (y1 - y0) * (x1 - x0) / (h * w)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device | str = "cpu",
    criterion: nn.Module | None = None,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
) -> tuple[float | None, torch.Tensor, torch.Tensor]:
    """Eval-mode pass over ``loader`` -> ``(mean loss or None, logits N x C float32 CPU, labels N int64 CPU)``.

    Soft targets count in the loss as given; ``labels`` are their argmax.
    """
    device = torch.device(device)
    model.eval()
    logits_all, labels_all, loss_sum, seen = [], [], 0.0, 0
    for images, targets in tqdm(loader, desc="eval", leave=False, disable=not progress, unit="batch"):
        images, targets = _to_device(images, targets, device, channels_last)
        with autocast_context(device, amp_dtype):
            logits = model(images).float()  # B,num_classes
        if criterion is not None:
            loss_sum += criterion(logits, targets).item() * images.shape[0]
        seen += images.shape[0]
        logits_all.append(logits.cpu())
        labels_all.append((targets.argmax(1) if targets.ndim == 2 else targets).cpu())
    if not logits_all:
        raise ValueError("The evaluation split is empty; check the split name and data.max_per_class.")
    loss = loss_sum / seen if criterion is not None else None
    return loss, torch.cat(logits_all), torch.cat(labels_all).long()
