"""The service's configuration: every knob is an ``MMER_…`` environment variable, read in this one place.

Defaults work on a laptop with no GPU and no network (the embedded face model on the CPU).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "MMER_"
#: Upload limits are in MiB: ``max_upload_mb=100`` accepts 100 × 2**20 bytes.
MIB = 1024 * 1024


class SettingsError(ValueError):
    """The environment holds an unusable value; the message names the variable and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    #: A training-run or checkpoint directory; unset → the embedded default face model.
    model: str | None = None
    #: "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", …
    device: str = Field("auto", min_length=1)
    max_upload_mb: float = Field(100, gt=0)
    max_duration_s: float = Field(1200, gt=0)
    min_duration_s: float = Field(0.3, gt=0)
    max_pixels: int = Field(3840 * 2160, gt=0)
    max_sample_frames: int = Field(256, gt=0)
    #: Inferences running at once (each one is CPU/GPU heavy; more than the cores only adds latency).
    concurrency: int = Field(1, gt=0)
    #: Requests allowed to wait beyond those running; the next one gets 503 + Retry-After.
    queue_size: int = Field(4, ge=0)
    #: Browser origins allowed to call the API (JSON list or comma-separated).
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:5173", "http://localhost:8080"]
    #: When set, POST /infer, POST /infer/predict and GET / need header ``X-API-Key`` equal to it.
    api_key: str | None = Field(None, repr=False)
    retry_after_s: int = Field(5, gt=0)
    #: Where per-request upload folders are made (default: the system temp folder).
    tmp_dir: str | None = None

    @field_validator("model", "api_key", "tmp_dir", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `MMER_API_KEY=` in a compose file means "no key", not "the empty key".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError(f"min_duration_s ({self.min_duration_s}) must be below max_duration_s "
                             f"({self.max_duration_s})")
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MIB)


def describe_errors(exc: ValidationError) -> str:
    """One line naming each bad variable, e.g. ``MMER_CONCURRENCY: Input should be greater than 0 (got '0')``."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ()))
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        got = f" (got {err['input']!r})" if field and "input" in err else ""
        parts.append(f"{name}: {err['msg']}{got}")
    return "; ".join(parts)


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment, read afresh (the app reads them once, at startup)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(f"invalid configuration: {describe_errors(exc)}") from None
