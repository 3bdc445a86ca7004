"""One error type for the REST API, rendered as ``{"error": {"status", "code", "message"}}`` JSON, and that body
as a pydantic model for the OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServingError(Exception):
    """A request the server refuses: ``status`` is the HTTP code (4xx, or 503 when overloaded)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_dict(self) -> dict:
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}


class ErrorDetail(BaseModel):
    status: int = Field(description="the HTTP status, repeated")
    code: str = Field(description="a stable machine-readable reason, e.g. not_an_image, unknown_model, overloaded")
    message: str = Field(description="what was wrong and how to fix it")


class ErrorBody(BaseModel):
    """The body of every refusal (4xx, 503) and of an unexpected 500."""

    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    400: "bad input: not an image, damaged or empty; unknown model or method; explain unavailable",
    408: "the upload stalled (read_timeout)",
    413: "upload or image too large (upload_too_large, too_many_pixels)",
    415: "not multipart/form-data, or an unsupported image type (unsupported_media_type)",
    422: "invalid form fields (invalid_request), or an image too small (image_too_small)",
    500: "an unexpected server error (internal_error); the server keeps serving",
    503: "too many requests queued (overloaded); retry after the Retry-After seconds",
}


def error_responses(*statuses: int) -> dict:
    """FastAPI ``responses=`` declaring the ``ErrorBody`` JSON for each of ``statuses``."""
    return {s: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[s]} for s in statuses}
