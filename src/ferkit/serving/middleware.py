"""ASGI middleware that refuses requests before their body is read, answering JSON like the rest of the API.

- ``RequestGuardMiddleware``: Host allow-list (a loopback server only answers to loopback names, which defeats DNS
  rebinding) and, on POST, an ``Origin`` check (a page on another site cannot post photos to the local server).
- ``AdmissionMiddleware``: at most ``max_pending`` uploads (POSTs) in flight; the next is answered 503 at once,
  before its body is read, so a burst never holds more than ``max_pending`` uploads in memory.
- ``BodyLimitMiddleware``: Content-Length over the limit is answered here; chunked bodies are counted as they
  arrive, and a body chunk that takes longer than ``read_timeout`` is an HTTPException(408) (stalled uploads).

Written by hand because FastAPI's ``max_body_size`` and Starlette's ``TrustedHostMiddleware`` answer plain text
and the API promises JSON errors.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _header(scope, name: bytes) -> str | None:
    value = dict(scope["headers"]).get(name)
    return value.decode("latin-1") if value is not None else None


def _split(url: str):
    """``urlsplit`` that answers None for unparseable text (e.g. an unclosed IPv6 bracket)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


class RequestGuardMiddleware:
    """400 unless the Host header's name is in ``allowed_hosts`` (any port; None = any host); 403 for a POST whose
    ``Origin`` is not the server's own (no Origin, as from curl, passes)."""

    def __init__(self, app, allowed_hosts: tuple[str, ...] | None = None):
        self.app = app
        self.allowed_hosts = tuple(h.lower() for h in allowed_hosts) if allowed_hosts else None
        self._names = {h.strip("[]") for h in self.allowed_hosts or ()}  # urlsplit drops IPv6 brackets

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = _header(scope, b"host") or ""
        parts = _split(f"//{host}")
        if self.allowed_hosts is not None and (parts is None or parts.hostname not in self._names):
            return await _reply(
                send,
                400,
                "bad_host",
                f"Host {host!r} is not served here; this server only answers to "
                f"{', '.join(self.allowed_hosts)} (any port). To serve other names, bind "
                "--host 0.0.0.0 deliberately.",
            )
        origin = _header(scope, b"origin")
        parts = _split(origin) if origin is not None else None
        if scope["method"] == "POST" and origin is not None and (parts is None or parts.netloc.lower() != host.lower()):
            return await _reply(
                send,
                403,
                "cross_origin",
                f"Origin {origin!r} is not this server ({host!r}); post from the server's own page "
                "or from a client that sends no Origin header (curl, scripts).",
            )
        return await self.app(scope, receive, send)


class AdmissionMiddleware:
    """Answer 503 + Retry-After before reading the body when ``max_pending`` POSTs are already in flight."""

    def __init__(self, app, max_pending: int):
        self.app = app
        self.max_pending = max_pending
        self.in_flight = 0  # one event loop, no lock needed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if self.in_flight >= self.max_pending:
            return await _reply(
                send,
                503,
                "overloaded",
                f"{self.in_flight} uploads are already being processed (limit {self.max_pending}); retry in a second.",
                [(b"retry-after", b"1")],
            )
        self.in_flight += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body`` bytes (413 JSON; 400 when Content-Length is not a number) and body
    chunks that take over ``read_timeout`` seconds to arrive (408, raised from ``receive``)."""

    def __init__(self, app, max_body: int, read_timeout: float | None = None):
        self.app = app
        self.max_body = max_body
        self.read_timeout = read_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = _header(scope, b"content-length")
        if length is not None and not length.isdigit():
            return await _reply(send, 400, "bad_content_length", f"Content-Length {length!r} is not a number.")
        if length is not None and int(length) > self.max_body:
            return await _reply(
                send,
                413,
                "upload_too_large",
                f"The request body is {int(length)} bytes, over the limit of {self.max_body} bytes "
                f"({self.max_body / 2**20:.1f} MiB); send a smaller image.",
            )
        received, body_done = 0, False

        async def limited_receive():
            nonlocal received, body_done
            if body_done:  # later calls wait for a disconnect, which may rightly take long
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout)
            except TimeoutError:
                raise HTTPException(408, f"No request body data arrived for {self.read_timeout:g} s.") from None
            received += len(message.get("body", b""))
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            if received > self.max_body:
                raise HTTPException(413, f"The request body is over the limit of {self.max_body} bytes.")
            return message

        return await self.app(scope, limited_receive, send)


async def _reply(send, status: int, code: str, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
