"""Request dependencies: the settings and the model service built at startup, and the API-key check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from mmer_api.errors import ApiError
from mmer_api.inference import InferenceService
from mmer_api.settings import Settings

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False,
    description="Needed only when the service runs with `MMER_API_KEY` set.",
)


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_service(request: Request) -> InferenceService:
    return request.app.state.service


def api_key_matches(expected: str | None, given: str | None) -> bool:
    """The one rule for the key, shared by this dependency and the upload gate (which decides before the
    body is read): open when no key is configured, else the header must match, compared in constant time."""
    if expected is None:
        return True
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", f"A valid {API_KEY_HEADER} header is required.")


def require_api_key(settings: Annotated[Settings, Depends(get_app_settings)],
                    key: Annotated[str | None, Security(_api_key_header)] = None) -> None:
    """Guards GET / and documents the key in OpenAPI; the upload routes are already checked by the gate."""
    if not api_key_matches(settings.api_key, key):
        raise unauthorized()


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServiceDep = Annotated[InferenceService, Depends(get_service)]
