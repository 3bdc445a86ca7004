"""The REST API and web page: a thin FastAPI shim over one or more loaded EmotionRecognizers. ``create_app``
assembles it: middleware (``middleware.py``), error handlers (``handlers.py``) and the routes (``routes.py``).

Endpoints: ``POST /v1/predict``, ``POST /v1/explain``, ``GET /v1/models``, ``GET /healthz``, the page at ``/``
and OpenAPI docs at ``/docs`` (assets vendored by fastapi-offline, so everything works without a network).
Every refusal is ``{"error": {"status", "code", "message"}}`` JSON (``ErrorBody`` in the OpenAPI schema). A photo
without a face is a 200 with ``faces: []``, as in the CLI and the Python API.
"""

import logging
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from ferkit.inference.explain import METHODS as EXPLAIN_METHODS  # noqa: F401 (old import path)
from ferkit.serving.config import ServerConfig
from ferkit.serving.handlers import install_error_handlers
from ferkit.serving.pool import InferencePool
from ferkit.serving.routes import build_router

log = logging.getLogger(__name__)

# Multipart framing and the small form fields around the file.
_FORM_OVERHEAD = 64 * 1024


def create_app(recognizers: dict[str, Any], config: ServerConfig | None = None):
    """Build the FastAPI app over already-loaded recognisers (name -> EmotionRecognizer; the first is the default).

    The models are loaded once by the caller (see ``load_recognizers``) and shared by every request; inference
    runs on ``config.workers`` threads with at most ``config.max_pending`` requests admitted (else 503).
    """
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline

    from ferkit import __version__
    from ferkit.serving.middleware import AdmissionMiddleware, BodyLimitMiddleware, RequestGuardMiddleware

    if not recognizers:
        raise ValueError("create_app needs at least one recognizer; pass {'name': EmotionRecognizer(...)}.")
    config = config or ServerConfig()
    pool = InferencePool(config.workers, config.max_pending)
    static_dir = resources.files("ferkit.serving") / "static"

    @asynccontextmanager
    async def lifespan(app):
        yield
        pool.shutdown()

    max_body = config.max_upload_bytes + _FORM_OVERHEAD
    app = FastAPIOffline(
        title="ferkit",
        version=__version__,
        lifespan=lifespan,
        static_url="/static-docs",
        description="Facial emotion recognition: faces, boxes, emotion probabilities, attention maps.",
    )
    app.state.pool = pool
    app.state.config = config
    # The last added runs first: Host/Origin, then admission, then the body limit and read timeout.
    app.add_middleware(BodyLimitMiddleware, max_body=max_body, read_timeout=config.read_timeout)
    app.add_middleware(AdmissionMiddleware, max_pending=config.max_pending)
    app.add_middleware(RequestGuardMiddleware, allowed_hosts=config.allowed_hosts)
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    install_error_handlers(app, config, max_body)
    app.include_router(build_router(recognizers, config, pool, static_dir))
    return app
