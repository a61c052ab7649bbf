"""One error body everywhere, ``{"detail": "...", "code": "..."}``, so clients branch on ``code``.

Bad input must come back as a 4xx with a sentence the user can act on; a 500 means a bug here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mmer_api.schemas import ErrorResponse

log = logging.getLogger(__name__)

#: The ``code`` of errors that Starlette raises itself (unknown path, wrong method, …).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "upload_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "busy",
    504: "timeout",
}
#: Where a request field lives, dropped from the readable location ("query.sample_frames" → "sample_frames").
_SOURCES = {"query", "body", "path", "header", "cookie"}


class ApiError(Exception):
    """An expected failure with the status, machine code and user-facing sentence to answer with."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers) if headers else None


def error_response(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(detail=detail, code=code).model_dump()
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def describe_validation(errors: Sequence[Mapping[str, Any]]) -> str:
    """Pydantic's error list as one line: ``sample_frames: Input should be less than or equal to 256``."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if len(loc) > 1 and loc[0] in _SOURCES:
            loc = loc[1:]
        where = ".".join(loc)
        parts.append(f"{where}: {err.get('msg', 'invalid value')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.detail, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", describe_validation(exc.errors()))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else code.replace("_", " ")
    return error_response(exc.status_code, code, detail, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
