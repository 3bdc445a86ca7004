"""Serving: a REST API and a web page over EmotionRecognizer (``ferkit serve``).

``load_recognizers`` loads each model once, ``create_app`` builds the FastAPI app over them, ``serve`` runs it
with uvicorn. Nothing in the library imports this package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ferkit.serving.app import create_app
from ferkit.serving.config import ServerConfig
from ferkit.serving.errors import ServingError

__all__ = ["ServerConfig", "ServingError", "create_app", "load_recognizers", "model_names", "serve"]

log = logging.getLogger(__name__)


def model_names(models: Sequence[str | None], infos: Sequence[dict]) -> list[str]:
    """Short unique names for the served models: a checkpoint's folder name (the folder holding a file such as
    model.onnx); the default model's own name. Clashing names take parent folders until they differ, so two runs'
    ``best`` become ``runA/best`` and ``runB/best``; the same model twice gets ``-2``."""
    parts = []
    for model, info in zip(models, infos):
        if model is None:
            parts.append([str(info.get("name") or "default")])
            continue
        p = Path(model).resolve()
        parts.append(list((p.parent if p.is_file() else p).parts[1:]) or [str(info.get("name") or "model")])
    depth = [1] * len(parts)
    while True:
        names = ["/".join(pp[-d:]) for pp, d in zip(parts, depth)]
        clash = [
            i
            for i, n in enumerate(names)
            if depth[i] < len(parts[i]) and any(m == n and parts[j] != parts[i] for j, m in enumerate(names))
        ]
        if not clash:
            break
        for i in clash:
            depth[i] += 1
    out: list[str] = []
    for name in names:
        unique, k = name, 2
        while unique in out:
            unique, k = f"{name}-{k}", k + 1
        out.append(unique)
    return out


def load_recognizers(
    models: Sequence[str | None] = (None,),
    detector: str = "auto",
    backend: str = "auto",
    device: str = "cpu",
    detector_options: dict | None = None,
) -> dict:
    """Load each model once as an EmotionRecognizer; returns ``{name: recognizer}`` in the given order.

    ``None`` means the package's default model; ``detector_options`` (``detector``, ``det_threshold``, ``min_face``,
    ``det_size``) override ``detector``. Single uploads are independent images, so temporal
    smoothing is off (the web page smooths webcam frames itself).
    """
    from ferkit.inference import EmotionRecognizer

    opts = {"detector": detector, **(detector_options or {})}
    models = list(models or (None,))
    loaded = [EmotionRecognizer(model=m, **opts, backend=backend, device=device, smoothing="none") for m in models]
    recognizers = dict(zip(model_names(models, [dict(r.model_info) for r in loaded]), loaded))
    for name, rec in recognizers.items():
        log.info("loaded model %s (%s, %s backend)", name, rec.model_info.get("arch"), rec.model_info.get("backend"))
    return recognizers


def serve(
    models: Sequence[str | None] = (None,),
    host: str = "127.0.0.1",
    port: int = 8000,
    detector: str = "auto",
    backend: str = "auto",
    config: ServerConfig | None = None,
    detector_options: dict | None = None,
) -> None:
    """Load the models and serve the API and page with uvicorn until interrupted (binds 127.0.0.1 by default).

    A loopback bind only answers to loopback Host names (DNS rebinding), unless ``config.allowed_hosts`` says otherwise.
    """
    import uvicorn

    from ferkit.serving.middleware import LOOPBACK_HOSTS

    config = config or ServerConfig()
    if host in ("127.0.0.1", "localhost", "::1") and config.allowed_hosts is None:
        config = replace(config, allowed_hosts=LOOPBACK_HOSTS)
    app = create_app(
        load_recognizers(models, detector=detector, backend=backend, detector_options=detector_options), config
    )
    log.info("serving on http://%s:%d (docs at /docs)", host, port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=5,
        # A connection cap well above max_pending: up to it every refusal is the app's JSON 503 (admission runs
        # before the body is read); uvicorn's own, plain-text 503 only answers floods beyond it.
        limit_concurrency=8 * config.max_pending + 64,
    )
