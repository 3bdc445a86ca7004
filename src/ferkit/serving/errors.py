"""One error type for the REST API, rendered as ``{"error": {"status", "code", "message"}}`` JSON."""

from __future__ import annotations


class ServingError(Exception):
    """A request the server refuses: ``status`` is the HTTP code (4xx, or 503 when overloaded)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_dict(self) -> dict:
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}
