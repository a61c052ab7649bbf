"""Pure-ASGI middleware whose settings are looked up per request (they are read at startup, after import)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response
from app.settings import MIB, Settings

log = logging.getLogger(__name__)

#: Room for the multipart envelope (boundaries, part headers) around a file at exactly the limit.
MULTIPART_SLACK = 16 * 1024


class UploadLimitMiddleware:
    """Refuse an oversized request body with 413 before it is read or spooled to disk.

    A declared ``Content-Length`` over the limit is refused without reading a byte; a chunked body
    is counted as it arrives and cut off once it passes the limit. The exact per-file limit is
    checked again while the upload is copied (see :mod:`app.inference`).
    """

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        allowed = limit + MULTIPART_SLACK
        declared = _content_length(scope)
        if declared is not None:
            if declared > allowed:
                log.info("refused %s %s: Content-Length %d over the limit", scope["method"], scope["path"], declared)
                await self._reject(scope, receive, send, limit)
                return
            await self.app(scope, receive, send)  # the server never passes more than it declared
            return

        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    # Look like a client that went away: the app stops parsing; we answer below.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app says about the cut-off body, the answer is 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if exceeded and not started:
            await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(413, "too_large", f"The file is larger than the {limit / MIB:g} MB limit.",
                                  headers={"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class SettingsCORSMiddleware:
    """Starlette's CORS middleware, built on the first request from the settings the lifespan read."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings
        self._cors: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if self._cors is None:
            self._cors = CORSMiddleware(
                self.app,
                allow_origins=self.settings().cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["*"],
                expose_headers=["Retry-After"],
            )
        await self._cors(scope, receive, send)


class ForwardedPrefixMiddleware:
    """Honour ``X-Forwarded-Prefix`` from the reverse proxy that serves the API under ``/api``.

    nginx (and the page's dev/preview server) strip the prefix before forwarding, so routing is
    unchanged; the prefix becomes the ASGI ``root_path``, so the links the app writes for the
    browser, above all /docs loading its ``openapi.json``, point back through the proxy.
    Requests straight to the API carry no such header and are untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            prefix = Headers(scope=scope).get("x-forwarded-prefix", "").strip().rstrip("/")
            if prefix.startswith("/") and "//" not in prefix and not scope.get("root_path"):
                scope = {**scope, "root_path": prefix}
        await self.app(scope, receive, send)
