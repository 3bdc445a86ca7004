"""ASGI middleware refusing request bodies over a byte limit with a JSON 413, before they are parsed or spooled.

Content-Length is checked up front (answered here, nothing read); chunked bodies are counted as they arrive and
an HTTPException(413) is raised from ``receive``, which the app's handler renders as JSON. Written by hand because
FastAPI's ``max_body_size`` answers a too-large Content-Length in plain text and the API promises JSON errors.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body`` bytes (413 JSON; 400 when Content-Length is not a number)."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and not length.isdigit():
            return await _reply(send, 400, "bad_content_length", f"Content-Length {length.decode()!r} is not a number.")
        if length is not None and int(length) > self.max_body:
            return await _reply(send, 413, "upload_too_large",
                                f"The request body is {int(length)} bytes, over the limit of {self.max_body} bytes "
                                f"({self.max_body / 2**20:.1f} MiB); send a smaller image.")
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise HTTPException(413, f"The request body is over the limit of {self.max_body} bytes.")
            return message

        return await self.app(scope, limited_receive, send)


async def _reply(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
