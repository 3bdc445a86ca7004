"""Every refusal as ``{"error": {"status", "code", "message"}}`` JSON: the app's exception handlers."""

from ferkit.serving.config import ServerConfig
from ferkit.serving.errors import ServingError


def install_error_handlers(app, config: ServerConfig, max_body: int) -> None:
    """JSON for ServingError, request validation (415/422), Starlette's HTTP errors (413/408/...) and anything
    unforeseen (500, no stack trace)."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(ServingError)
    async def _serving_error(request: Request, exc: ServingError):
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        ctype = request.headers.get("content-type", "")
        if request.method == "POST" and not ctype.startswith("multipart/form-data"):
            err = ServingError(
                415,
                "unsupported_media_type",
                f"Request content type {ctype or 'none'!r} is not multipart/form-data; send the "
                "image as a multipart 'file' field (curl -F file=@photo.jpg).",
            )
        else:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
            err = ServingError(
                422,
                "invalid_request",
                f"Invalid request ({problems}); send the image in a multipart field named 'file'.",
            )
        return JSONResponse(err.to_dict(), status_code=err.status)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        headers = getattr(exc, "headers", None)
        if exc.status_code == 413:
            err = ServingError(
                413,
                "upload_too_large",
                f"The request body is over the limit of {max_body} bytes "
                f"({max_body / 2**20:.1f} MiB); send a smaller image.",
            )
        elif exc.status_code == 408:
            err = ServingError(
                408,
                "read_timeout",
                f"{exc.detail} The upload stalled; the server waits at most "
                f"{config.read_timeout:g} s per chunk (--read-timeout). Retry on a steadier link.",
            )
            headers = {"Connection": "close"}  # the rest of the body is not read
        else:
            err = ServingError(exc.status_code, "http_error", f"{exc.detail} ({request.method} {request.url.path}).")
        return JSONResponse(err.to_dict(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        # Anything unforeseen: JSON without the stack trace (uvicorn still logs it) instead of text/plain.
        err = ServingError(
            500,
            "internal_error",
            f"The server failed on {request.method} {request.url.path} "
            f"({type(exc).__name__}); it keeps serving. Report this with the input that caused it.",
        )
        return JSONResponse(err.to_dict(), status_code=500)
