"""The ferkit REST API and web page: one FastAPI app, a thin shim over ``EmotionRecognizer``.

Routes: ``GET /`` (page), ``GET /healthz``, ``GET /v1/models``, ``POST /v1/predict``, ``POST /v1/explain``,
``/docs`` (OpenAPI, served offline). Every refusal is ``{"error": {"status", "code", "message"}}`` JSON.
"""

from __future__ import annotations

import logging
import time
from importlib import resources
from typing import Any, Callable

from ferkit.serving.errors import ServingError
from ferkit.serving.images import check_content_type, check_size, decode_image
from ferkit.serving.pool import InferencePool
from ferkit.serving.registry import ModelRegistry
from ferkit.serving.responses import explanation_to_json, face_to_json

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 2**20
MAX_PIXELS = 25_000_000  # 25 MP: any phone photo; far below what would exhaust memory when decoded
EXPLAIN_METHODS = ("auto", "cbam", "gradcam")
# Multipart framing and the small form fields around the file.
_MULTIPART_SLACK = 64 * 1024


def _default_factory(detector: str) -> Callable[[str | None], Any]:
    def build(path: str | None):
        from ferkit.inference import EmotionRecognizer

        return EmotionRecognizer(model=path, detector=detector)

    return build


def create_app(
    models: list[str | None] | None = None,
    *,
    detector: str = "auto",
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    workers: int = 1,
    max_pending: int = 32,
    recognizer_factory: Callable[[str | None], Any] | None = None,
):
    """Build the app; every model in ``models`` (checkpoint paths, None = packaged default) is loaded now, once.

    ``workers`` threads run inference; at most ``max_pending`` requests are admitted (running + queued), the
    rest get 503 with Retry-After. Uploads over ``max_upload_bytes`` or ``max_pixels`` get 413.
    """
    from fastapi import File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ferkit import __version__
    from ferkit.serving.pool import BodyLimitMiddleware

    registry = ModelRegistry(list(models or [None]), recognizer_factory or _default_factory(detector))
    pool = InferencePool(workers=workers, max_pending=max_pending)
    static_dir = resources.files("ferkit.serving") / "static"

    app = FastAPIOffline(title="ferkit", version=__version__,
                         description="Facial emotion recognition: faces, boxes, the 7 emotion probabilities.")
    app.state.registry, app.state.pool = registry, pool
    app.add_middleware(BodyLimitMiddleware, max_body=max_upload_bytes + _MULTIPART_SLACK)
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    app.add_event_handler("shutdown", pool.shutdown)

    @app.exception_handler(ServingError)
    async def _serving_error(request: Request, exc: ServingError):
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        err = ServingError(422, "invalid_request",
                           f"{problems}. Send multipart/form-data with the image in a field named 'file'.")
        return JSONResponse(err.to_dict(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        err = ServingError(exc.status_code, "http_error", f"{exc.detail} ({request.method} {request.url.path}).")
        return JSONResponse(err.to_dict(), status_code=exc.status_code)

    async def read_upload(file: UploadFile) -> bytes:
        check_content_type(file.content_type)
        data = await file.read(max_upload_bytes + 1)
        check_size(len(data), max_upload_bytes)
        return data

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(static_dir / "index.html"))

    @app.get("/healthz", summary="Liveness: the models are loaded and the queue length")
    async def healthz():
        return {"status": "ok", "models": registry.names, "pending": pool.pending,
                "workers": pool.workers, "max_pending": pool.max_pending}

    @app.get("/v1/models", summary="The served models; the first is the default")
    async def list_models():
        return {"default": registry.default, "models": registry.describe()}

    @app.post("/v1/predict", summary="Faces, boxes and the probability of every emotion in one image")
    async def predict(file: UploadFile = File(..., description="JPEG, PNG or WebP image"),
                      model: str = Form("", description="a name from GET /v1/models; empty = default"),
                      top_k: int = Form(3, ge=1, le=8)):
        t0 = time.perf_counter()
        name, rec = registry.get(model)
        data = await read_upload(file)

        def job():
            t1 = time.perf_counter()
            image = decode_image(data, max_pixels)
            t2 = time.perf_counter()
            frame = rec.predict(image)[0]
            return image.shape, frame, t2 - t1, time.perf_counter() - t2

        (shape, frame, decode_s, infer_s), queued_s = await pool.run(job)
        if not frame.faces:
            raise ServingError(422, "no_face",
                               f"No face was found in the {shape[1]}x{shape[0]} image; send a photo where a face "
                               "is visible, frontal and at least ~40 pixels wide.")
        return {
            "model": name,
            "image_size": [int(shape[1]), int(shape[0])],
            "faces": [face_to_json(f, top_k) for f in frame.faces],
            "timings_ms": {"queue": round(queued_s * 1e3, 2), "decode": round(decode_s * 1e3, 2),
                           "inference": round(infer_s * 1e3, 2),
                           "total": round((time.perf_counter() - t0) * 1e3, 2)},
        }

    @app.post("/v1/explain", summary="Where the model looked: a heatmap and overlay per face")
    async def explain(file: UploadFile = File(..., description="JPEG, PNG or WebP image"),
                      model: str = Form(""),
                      method: str = Form("auto", description="auto | cbam | gradcam")):
        if method not in EXPLAIN_METHODS:
            raise ServingError(400, "unknown_method",
                               f"Explanation method {method!r} is not known; use one of {list(EXPLAIN_METHODS)}.")
        name, rec = registry.get(model)
        data = await read_upload(file)

        def job():
            image = decode_image(data, max_pixels)
            try:
                return image.shape, rec.explain(image, method=method)
            except ValueError as err:  # e.g. method="cbam" for a model without CBAM
                raise ServingError(400, "explain_unavailable", str(err)) from err

        (shape, items), _ = await pool.run(job)
        if not items:
            raise ServingError(422, "no_face", f"No face was found in the {shape[1]}x{shape[0]} image to explain.")
        return {"model": name, "image_size": [int(shape[1]), int(shape[0])],
                "faces": [explanation_to_json(it, method) for it in items]}

    return app
