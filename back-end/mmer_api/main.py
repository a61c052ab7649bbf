"""The app factory. ``app`` below is what ``uvicorn mmer_api.main:app`` and gunicorn's UvicornWorker serve.

Importing this module is cheap: settings are read and the model is loaded once per process, at
startup, by the lifespan; a request never loads anything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import mmer
from mmer.predictor import Predictor
from mmer_api.errors import install_error_handlers
from mmer_api.inference import InferenceService
from mmer_api.middleware import (
    ForwardedPrefixMiddleware,
    SettingsCORSMiddleware,
    UploadGateMiddleware,
    UploadLimitMiddleware,
)
from mmer_api.routers import infer, info
from mmer_api.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Multimodal emotion recognition: upload a video, get what the face (and, with a trained multimodal
model, the voice) expresses as six probabilities (NEU HAP SAD ANG FEA DIS), overall and per second.

Every error is `{"detail": "...", "code": "..."}`.
"""


def _settings_of(app: FastAPI) -> Settings:
    """The settings given to :func:`create_app`, else the environment's, read once."""
    settings: Settings | None = getattr(app.state, "settings", None)
    if settings is None:
        settings = app.state.settings = get_settings()
    return settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = _settings_of(app)
    if not logging.getLogger().handlers:  # uvicorn only configures its own loggers
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app.state.service = InferenceService(settings, predictor=getattr(app.state, "predictor", None))
    except Exception as exc:
        # One readable line (e.g. "run `mmer weights fetch`") rather than only a traceback.
        log.error("cannot start: %s", exc)
        raise
    yield


def create_app(settings: Settings | None = None, *, predictor: Predictor | None = None) -> FastAPI:
    """The app; ``settings`` and ``predictor`` replace the environment's and the loaded model (tests)."""
    app = FastAPI(title="mmer", version=mmer.__version__, description=DESCRIPTION, lifespan=lifespan)
    if settings is not None:
        app.state.settings = settings
    if predictor is not None:
        app.state.predictor = predictor
    install_error_handlers(app)
    # Last added runs first: CORS wraps the size check and the gate so that a browser can read their
    # refusals too; the size check comes before the key and the slot, all before the body is read.
    app.add_middleware(UploadGateMiddleware, settings=lambda: _settings_of(app), service=lambda: app.state.service)
    app.add_middleware(UploadLimitMiddleware, limit=lambda: _settings_of(app).max_upload_bytes)
    app.add_middleware(SettingsCORSMiddleware, settings=lambda: _settings_of(app))
    app.add_middleware(ForwardedPrefixMiddleware)
    app.include_router(info.router)
    app.include_router(infer.router)
    return app


app = create_app()
