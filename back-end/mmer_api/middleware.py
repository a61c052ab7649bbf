"""Pure-ASGI middleware whose settings are looked up per request (they are read at startup, after import).

Everything that can be decided from a request's headers is decided here, before its body is read:
its size, its key, whether there is room for it; and how slowly its body may arrive.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import anyio
from starlette._utils import get_route_path
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mmer_api.deps import API_KEY_HEADER, api_key_matches, unauthorized
from mmer_api.errors import ApiError, error_response
from mmer_api.inference import InferenceService
from mmer_api.settings import Settings
from mmer_api.upload import too_large

log = logging.getLogger(__name__)

#: Room for the multipart envelope (boundaries, part headers) around a file at exactly the limit.
MULTIPART_SLACK = 16 * 1024
#: The routes that take an upload (as the router sees them, below any root path).
UPLOAD_PATHS = frozenset({"/infer", "/infer/predict"})


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
        await _answer(too_large(limit), scope, receive, send, close=True)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class UploadGateMiddleware:
    """Check the key and take an admission slot for an upload before a byte of its body is read;
    then hold the body to a minimum average rate.

    A POST to an upload route without the key gets 401, and one that finds every slot taken gets 503
    with ``Retry-After``, from the headers alone: the body (up to the size limit) is never parsed or
    spooled. The slot is held for the whole request, upload and prediction, and freed however it ends
    (answer, error, client gone). After ``upload_grace_s`` the body must have arrived at an average of
    at least ``upload_min_kib_s`` since the request began; a client below that (one byte a second, or
    nothing at all) gets 408 and loses its slot.
    """

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings],
                 service: Callable[[], InferenceService]) -> None:
        self.app = app
        self.settings = settings
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The router's own reading of the path (below any root path): the gate sees what routing sees.
        if scope["type"] != "http" or scope["method"] != "POST" or get_route_path(scope) not in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        settings = self.settings()
        headers = Headers(scope=scope)
        # A chunked body has no end we know of: after an early answer, stop reading rather than drain it.
        # A declared one is bounded (UploadLimitMiddleware), and the server discards what is left of it
        # while keeping the connection, so that a browser or proxy still mid-upload reads the answer.
        unbounded = "content-length" not in headers
        if not api_key_matches(settings.api_key, headers.get(API_KEY_HEADER)):
            log.info("refused %s %s: no valid %s", scope["method"], scope["path"], API_KEY_HEADER)
            await _answer(unauthorized(), scope, receive, send, close=unbounded)
            return
        service = self.service()
        if not service.try_admit():
            log.info("refused %s %s: every slot is taken", scope["method"], scope["path"])
            await _answer(service.busy(), scope, receive, send, close=unbounded)
            return
        guard = _RateGuard(receive, settings)
        try:
            await self.app(scope, guard.receive, _closing_early(send, guard) if unbounded else send)
        finally:
            service.release()


class _RateGuard:
    """``receive`` with a deadline on each wait for the body: by ``t`` seconds into the request at least
    ``rate × t`` bytes must have come, once ``t`` is past the grace period. After the body, untouched."""

    def __init__(self, receive: Receive, settings: Settings) -> None:
        self._receive = receive
        self.rate = settings.upload_min_bytes_s
        self.kib_s = settings.upload_min_kib_s
        self.grace = settings.upload_grace_s
        self.started = anyio.current_time()
        self.received = 0
        self.done = False

    async def receive(self) -> Message:
        if self.done:
            return await self._receive()
        # The average stays at the rate until ``received / rate`` seconds in: wait until then, not longer.
        remaining = self.started + max(self.grace, self.received / self.rate) - anyio.current_time()
        message: Message | None = None
        if remaining > 0:
            with anyio.move_on_after(remaining):
                message = await self._receive()
        if message is None:
            log.info("upload too slow: %d bytes in %.1f s", self.received, anyio.current_time() - self.started)
            raise ApiError(408, "upload_timeout", f"The upload was too slow: after the first {self.grace:g} s it "
                           f"must average at least {self.kib_s:g} KiB/s.", headers={"Connection": "close"})
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        else:
            self.done = True
        return message


def _closing_early(send: Send, guard: _RateGuard) -> Send:
    """``send`` that adds ``Connection: close`` to an answer given before a chunked body has ended."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start" and not guard.done:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return closing


async def _answer(error: ApiError, scope: Scope, receive: Receive, send: Send, *, close: bool) -> None:
    headers = {**(error.headers or {}), **({"Connection": "close"} if close else {})}
    await error_response(error.status, error.code, error.detail, headers=headers)(scope, receive, send)


class _JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware with its refusals of a preflight in the service's error body."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("latin-1")  # "Disallowed CORS origin, method"
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
        return error_response(response.status_code, "cors_refused",
                              f"{reason}: this origin, method or header is not allowed to call the service.",
                              headers=headers)


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
            self._cors = _JSONCORSMiddleware(
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

    Only a plain path prefix is taken (``/api``, ``/mmer/v1``: segments of letters, digits and ``-._~``);
    anything else is ignored, because the prefix is written into the /docs page.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            prefix = safe_prefix(Headers(scope=scope).get("x-forwarded-prefix"))
            if prefix:
                scope = {**scope, "root_path": prefix}
        await self.app(scope, receive, send)


_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")


def safe_prefix(value: str | None) -> str | None:
    """``value`` without its trailing slash if it is a plain path prefix, else None."""
    prefix = (value or "").strip().rstrip("/")
    if len(prefix) > 200 or not _PREFIX.fullmatch(prefix):
        return None
    if any(segment.strip(".") == "" for segment in prefix.split("/")[1:]):
        return None  # "/.." and friends
    return prefix
