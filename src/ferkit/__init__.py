"""ferkit: facial emotion recognition, offline, from raw dataset to served model.

Only the public API lives here; heavy modules (torch, OpenCV) load on first use so `import ferkit` is fast.
"""

from __future__ import annotations

from ferkit.labels import EMOTIONS

__version__ = "0.1.0"

__all__ = ["EMOTIONS", "EmotionRecognizer", "__version__", "create_model", "list_models", "load_model"]

# Public names served lazily from submodules (name -> module), so `import ferkit` does not import torch.
_LAZY = {
    "EmotionRecognizer": "ferkit.inference",
    "create_model": "ferkit.models",
    "list_models": "ferkit.models",
    "load_model": "ferkit.models",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")
