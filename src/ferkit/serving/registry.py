"""The server's models: each loaded once at start-up into an ``EmotionRecognizer`` and looked up by name."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from ferkit.serving.errors import ServingError

log = logging.getLogger(__name__)


def _model_name(path: str | None, info: dict) -> str:
    """A short, stable name for the page's select: the checkpoint folder's name, else the model's own name."""
    if path:
        p = Path(path)
        return (p.parent.name if p.is_file() else p.name) or str(path)
    return str(info.get("name") or info.get("arch") or "default")


class ModelRegistry:
    """Name -> recogniser, in the order the models were given; the first is the default.

    ``factory(model_path_or_None)`` builds one recogniser (``EmotionRecognizer`` by default), so each
    model's weights and face detector are loaded exactly once, before the first request.
    """

    def __init__(self, models: list[str | None], factory: Callable[[str | None], Any]):
        if not models:
            models = [None]
        self.recognizers: dict[str, Any] = {}
        self.paths: dict[str, str | None] = {}
        for path in models:
            rec = factory(path)
            name = base = _model_name(path, dict(getattr(rec, "model_info", {}) or {}))
            n = 2
            while name in self.recognizers:  # two checkpoints in folders of the same name
                name, n = f"{base}-{n}", n + 1
            self.recognizers[name] = rec
            self.paths[name] = path
            log.info("loaded model %r from %s", name, path or "the package default")
        self.default = next(iter(self.recognizers))

    @property
    def names(self) -> list[str]:
        return list(self.recognizers)

    def get(self, name: str | None) -> tuple[str, Any]:
        """``(name, recogniser)``; the default when ``name`` is empty; ServingError 400 for an unknown name."""
        name = name or self.default
        if name not in self.recognizers:
            raise ServingError(400, "unknown_model",
                               f"Model {name!r} is not served; choose one of {self.names} "
                               "(GET /v1/models lists them).")
        return name, self.recognizers[name]

    def describe(self) -> list[dict]:
        """JSON-ready description of every model (name, arch, labels, input size, backend, path)."""
        out = []
        for name, rec in self.recognizers.items():
            info = dict(getattr(rec, "model_info", {}) or {})
            out.append({
                "name": name,
                "default": name == self.default,
                "arch": info.get("arch"),
                "labels": list(getattr(rec, "labels", info.get("labels", ())) or ()),
                "image_size": info.get("image_size"),
                "in_chans": info.get("in_chans"),
                "backend": info.get("backend"),
                "path": str(info.get("path") or self.paths[name] or ""),
            })
        return out
