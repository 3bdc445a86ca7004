"""Serving: a REST API and a web page over EmotionRecognizer (``ferkit serve``).

``load_recognizers`` loads each model once, ``create_app`` builds the FastAPI app over them, ``serve`` runs it
with uvicorn. Nothing in the library imports this package.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ferkit.serving.app import ServerConfig, create_app
from ferkit.serving.errors import ServingError

__all__ = ["ServerConfig", "ServingError", "create_app", "load_recognizers", "serve"]

log = logging.getLogger(__name__)


def _model_name(path: str | None, info: dict, taken: set[str]) -> str:
    """A short unique name for the page's model list: the checkpoint folder name, else the model's own name."""
    if path is not None:
        p = Path(path)
        base = (p.parent.name if p.is_file() else p.name) or str(info.get("name") or "model")
    else:
        base = str(info.get("name") or "default")
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


def load_recognizers(models: Sequence[str | None] = (None,), detector: str = "auto", backend: str = "auto",
                     device: str = "cpu", detector_options: dict | None = None) -> dict:
    """Load each model once as an EmotionRecognizer; returns ``{name: recognizer}`` in the given order.

    ``None`` means the package's default model; ``detector_options`` (``detector``, ``det_threshold``, ``min_face``,
    ``det_size``) override ``detector``. Single uploads are independent images, so temporal
    smoothing is off (the web page smooths webcam frames itself).
    """
    from ferkit.inference import EmotionRecognizer

    recognizers: dict = {}
    opts = {"detector": detector, **(detector_options or {})}
    for model in models or (None,):
        rec = EmotionRecognizer(model=model, **opts, backend=backend, device=device, smoothing="none")
        name = _model_name(model, dict(rec.model_info), set(recognizers))
        recognizers[name] = rec
        log.info("loaded model %s (%s, %s backend)", name, rec.model_info.get("arch"), rec.model_info.get("backend"))
    return recognizers


def serve(models: Sequence[str | None] = (None,), host: str = "127.0.0.1", port: int = 8000, detector: str = "auto",
          backend: str = "auto", config: ServerConfig | None = None, detector_options: dict | None = None) -> None:
    """Load the models and serve the API and page with uvicorn until interrupted (binds 127.0.0.1 by default).

    A loopback bind only answers to loopback Host names (DNS rebinding), unless ``config.allowed_hosts`` says otherwise.
    """
    import uvicorn

    from ferkit.serving.middleware import LOOPBACK_HOSTS

    config = config or ServerConfig()
    if host in ("127.0.0.1", "localhost", "::1") and config.allowed_hosts is None:
        config = replace(config, allowed_hosts=LOOPBACK_HOSTS)
    app = create_app(load_recognizers(models, detector=detector, backend=backend, detector_options=detector_options),
                     config)
    log.info("serving on http://%s:%d (docs at /docs)", host, port)
    # A hard cap on connections (idle keep-alives included) above max_pending, so uploads past the limit get the
    # app's JSON 503 while the page and /healthz still answer; uvicorn's plain 503 is the last resort.
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5,
                limit_concurrency=2 * config.max_pending + 16)
