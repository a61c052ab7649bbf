"""Request dependencies: the settings and the model service built at startup, and the API-key check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app.errors import ApiError
from app.inference import InferenceService
from app.settings import Settings

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False,
    description="Needed only when the service runs with `MMER_API_KEY` set.",
)


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_service(request: Request) -> InferenceService:
    return request.app.state.service


def require_api_key(settings: Annotated[Settings, Depends(get_app_settings)],
                    key: Annotated[str | None, Security(_api_key_header)] = None) -> None:
    """Open when no key is configured; otherwise the header must match (compared in constant time)."""
    expected = settings.api_key
    if expected is None:
        return
    if key is None or not secrets.compare_digest(key.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", f"A valid {API_KEY_HEADER} header is required.")


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServiceDep = Annotated[InferenceService, Depends(get_service)]
