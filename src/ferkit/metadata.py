"""Model metadata checks shared by every format that carries it (checkpoint model.json, ONNX, TorchScript).

Torch-free, so prediction with an exported ONNX model never imports torch.
"""

from __future__ import annotations

import math


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_metadata(meta: dict, source) -> dict:
    """Validate the metadata fields inference trusts (those present); ValueError naming ``source``, the field and the
    allowed range. Called wherever metadata is read (checkpoint, ONNX, TorchScript), so a bad file fails at load
    instead of inverting (``temperature < 0``) or garbling predictions."""
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: the metadata is a {type(meta).__name__}, not a JSON object; re-save the model.")
    chans = meta.get("in_chans", 3)
    rules = {
        "num_classes": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2, "an integer >= 2"),
        "in_chans": (lambda v: v in (1, 3) and not isinstance(v, bool), "1 (gray) or 3 (RGB)"),
        "image_size": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 1024,
            "an integer from 8 to 1024",
        ),
        "mean": (
            lambda v: isinstance(v, (list, tuple)) and len(v) in (1, chans) and all(map(_is_number, v)),
            f"a list of 1 or in_chans={chans} numbers",
        ),
        "std": (
            lambda v: isinstance(v, (list, tuple)) and len(v) in (1, chans) and all(_is_number(x) and x > 0 for x in v),
            f"a list of 1 or in_chans={chans} numbers > 0",
        ),
        "labels": (
            lambda v: (
                isinstance(v, (list, tuple))
                and len(v) == meta.get("num_classes", len(v))
                and all(isinstance(x, str) and x for x in v)
            ),
            f"a list of num_classes={meta.get('num_classes')} non-empty strings",
        ),
        "temperature": (lambda v: v is None or (_is_number(v) and v > 0), "a number > 0 (or absent)"),
    }
    for field, (ok, allowed) in rules.items():
        if field in meta and not ok(meta[field]):
            raise ValueError(
                f"{source}: metadata field {field!r} = {meta[field]!r} is invalid; it must be {allowed}. "
                "Fix it in model.json (then re-export) or re-save the model with save_checkpoint."
            )
    return meta
