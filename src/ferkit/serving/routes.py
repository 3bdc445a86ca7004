"""The routes: ``GET /``, ``/healthz``, ``/v1/models``, ``POST /v1/predict``, ``/v1/explain``. Each parses, hands the
work to the inference pool and presents the result objects' own ``to_dict``; no recognition logic here."""

import base64
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.inference.explain import METHODS
from ferkit.inference.sources import Frame
from ferkit.inference.tracking import smoothing_constants
from ferkit.serving.config import ServerConfig
from ferkit.serving.errors import ServingError, error_responses
from ferkit.serving.images import check_content_type, check_size, decode_image
from ferkit.serving.pool import InferencePool


def _png_data_url(array: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _read(upload) -> bytes:
    """The upload's bytes, read on the worker thread: queued uploads wait in their spooled temp files, not in
    memory, so memory grows with the workers, not with ``max_pending`` x upload size."""
    upload.seek(0)
    return upload.read()


def _predict_job(rec, upload, max_pixels: int) -> tuple[Any, float, float]:
    """Read + decode + recognise on a worker thread; returns (FrameResult, decode seconds, inference seconds)."""
    t0 = time.perf_counter()
    # A large JPEG decodes smaller when its faces stay larger than the model's input, as in `ferkit predict`;
    # the result is in the upload's own px either way. Recognisers without draft_factor decode in full.
    image, size = decode_image(_read(upload), max_pixels, draft=getattr(rec, "draft_factor", None))
    t1 = time.perf_counter()
    frame = rec.predict(Frame(image, "<upload>", size=size))[0]
    return frame, t1 - t0, time.perf_counter() - t1


def _explain_job(rec, upload, max_pixels: int, method: str) -> tuple[list, tuple[int, int]]:
    image, size = decode_image(_read(upload), max_pixels)  # in full: the explained crops are cut from it
    try:
        return rec.explain(image, method=method), size
    except (ValueError, NotImplementedError, ImportError) as err:  # method="cbam" without CBAM; torch missing
        raise ServingError(400, "explain_unavailable", str(err)) from err


def _model_entry(name: str, rec, default: bool) -> dict:
    info = dict(rec.model_info)
    return {
        "name": name,
        "default": default,
        "arch": info.get("arch"),
        "labels": list(rec.labels),
        "image_size": info.get("image_size"),
        "in_chans": info.get("in_chans"),
        "backend": info.get("backend"),
        "explain": bool(
            getattr(rec, "can_explain", False)
        ),  # attention maps need the torch checkpoint and torch (ferkit[train])
        # the file/folder name only: clients need not learn server paths
        "path": Path(str(info["path"])).name if info.get("path") else None,
    }


def _explained_face(face) -> dict:
    """An ``Explanation`` as JSON: its fields, the maps as PNG data URLs (heatmap gray at face-crop size)."""
    return {
        **face.to_dict(),
        "heatmap": _png_data_url(face.heatmap_u8()),
        "overlay": _png_data_url(np.asarray(face.overlay, dtype=np.uint8)),
    }


def build_router(recognizers: dict[str, Any], config: ServerConfig, pool: InferencePool, static_dir):
    """An APIRouter over the loaded recognisers (the first is the default)."""
    from fastapi import APIRouter, File, Form, UploadFile
    from fastapi.responses import FileResponse

    router = APIRouter()
    default_name = next(iter(recognizers))

    def get_recognizer(model: str | None):
        name = model or default_name
        if name not in recognizers:
            raise ServingError(
                400,
                "unknown_model",
                f"Model {name!r} is not served; choose one of {list(recognizers)} (GET /v1/models).",
            )
        return name, recognizers[name]

    async def read_upload(file: UploadFile):
        """The upload's spooled file after type and size checks; its bytes are read by the worker (``_read``)."""
        check_content_type(file.content_type)
        size = file.size
        if size is None:  # not reported by this Starlette: measure the spooled file
            size = file.file.seek(0, 2)
        check_size(int(size), config.max_upload_bytes)
        return file.file

    @router.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(static_dir / "index.html"))

    @router.get("/healthz", tags=["service"], responses=error_responses(500))
    async def healthz() -> dict:
        """Liveness: the models are loaded; how many requests are queued or running."""
        return {
            "status": "ok",
            "models": list(recognizers),
            "pending": pool.pending,
            "workers": pool.workers,
            "max_pending": pool.max_pending,
        }

    @router.get("/v1/models", tags=["models"], responses=error_responses(500))
    async def models() -> dict:
        """The served models (the first is the default), their labels and input sizes, whether each can
        ``explain`` (attention maps), and the webcam ``smoothing`` constants (ferkit.inference.tracking's)."""
        return {
            "default": default_name,
            "explain_methods": list(METHODS),
            "smoothing": smoothing_constants(),
            "models": [_model_entry(n, r, n == default_name) for n, r in recognizers.items()],
        }

    upload_errors = error_responses(400, 408, 413, 415, 422, 500, 503)

    @router.post("/v1/predict", tags=["predict"], responses=upload_errors)
    async def predict(
        file: UploadFile = File(..., description="JPEG, PNG or WebP image"),
        model: str | None = Form(None, description="model name from GET /v1/models"),
        top_k: int = Form(3, ge=1, le=8, description="how many top emotions to list per face"),
    ) -> dict:
        """Every face in the image: box, label, score, all probabilities, top-k, plus timings in ms.

        An image without a detectable face is a 200 with ``faces: []``.
        """
        t0 = time.perf_counter()
        name, rec = get_recognizer(model)
        data = await read_upload(file)
        (frame, decode_s, infer_s), queue_s = await pool.run(_predict_job, rec, data, config.max_pixels)
        return {
            "model": name,
            "labels": list(rec.labels),
            "frame_size": list(frame.frame_size),
            "image_size": list(frame.frame_size),  # deprecated alias of frame_size, kept for one release
            "faces": [f.to_dict(precision=None, top_k=top_k) for f in frame.faces],
            "timings_ms": {
                "queue": queue_s * 1e3,
                "decode": decode_s * 1e3,
                "inference": infer_s * 1e3,
                "total": (time.perf_counter() - t0) * 1e3,
            },
        }

    @router.post("/v1/explain", tags=["predict"], responses=upload_errors)
    async def explain(
        file: UploadFile = File(..., description="JPEG, PNG or WebP image"),
        model: str | None = Form(None, description="model name from GET /v1/models"),
        method: str = Form("auto", description="auto | cbam | gradcam"),
    ) -> dict:
        """Where the model looked, per face: CBAM spatial attention or Grad-CAM, as PNG data URLs.

        ``heatmap`` is grey (0-255 = attention 0-1) at face-crop size; ``overlay`` is the crop with the map blended in.
        An image without a detectable face is a 200 with ``faces: []``. Needs a model whose ``explain`` is true in
        GET /v1/models (a torch checkpoint on a server with torch installed: ``pip install 'ferkit[train]'``).
        """
        t0 = time.perf_counter()
        if method not in METHODS:
            raise ServingError(400, "unknown_method", f"Method {method!r} is unknown; choose one of {list(METHODS)}.")
        name, rec = get_recognizer(model)
        data = await read_upload(file)
        (faces, frame_size), queue_s = await pool.run(_explain_job, rec, data, config.max_pixels, method)
        return {
            "model": name,
            "method": method,
            "frame_size": list(frame_size),
            "image_size": list(frame_size),  # deprecated alias of frame_size, kept for one release
            "faces": [_explained_face(f) for f in faces],
            "timings_ms": {"queue": queue_s * 1e3, "total": (time.perf_counter() - t0) * 1e3},
        }

    return router
