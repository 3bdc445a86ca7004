"""ASGI middleware refusing request bodies over a byte limit before they are parsed or spooled.

Content-Length is checked up front; chunked bodies are counted as they arrive. Written by hand because
Starlette has no body-size limit of its own (uvicorn has none either).
"""

from __future__ import annotations

import json


class _BodyTooLarge(Exception):
    pass


def _error_body(status: int, code: str, message: str) -> bytes:
    return json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()


class BodyLimitMiddleware:
    """Answer 413 JSON when a request body exceeds ``max_body`` bytes."""

    def __init__(self, app, max_body: int):
        self.app = app
        self.max_body = max_body

    async def _reply(self, send, status: int, code: str, message: str) -> None:
        body = _error_body(status, code, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        too_big = (f"The request body is larger than the limit of {self.max_body} bytes "
                   f"({self.max_body / 2**20:.1f} MiB); send a smaller image.")
        if length is not None:
            if not length.isdigit():
                return await self._reply(send, 400, "bad_content_length", f"Content-Length {length!r} is not a number.")
            if int(length) > self.max_body:
                return await self._reply(send, 413, "upload_too_large", too_big)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._reply(send, 413, "upload_too_large", too_big)
