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
    #: A photo's pixels, from its header before decoding (a larger one, or a decompression bomb, is
    #: answered 422 ``frame_too_large``): 64 MP phone photos pass.
    max_photo_pixels: int = Field(8192 * 8192, gt=0)
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
    #: Slowest accepted upload, as an average since the request began: 32 KiB/s (256 kbit/s) is below
    #: a poor mobile uplink, yet it bounds how long one client can hold a slot (100 MiB in under an hour).
    upload_min_kib_s: float = Field(32, gt=0)
    #: Seconds an upload may take before the rate applies (connection set-up, a client that is slow to start).
    upload_grace_s: float = Field(10, gt=0)
    #: Seconds from the end of an upload to its answer, waiting in the queue included; past it the work
    #: stops (504). 600 lets the longest accepted clip (20 min) through a trained model on two CPU cores
    #: (about twice real time; the default model is ~28x), and stays under the proxy's and gunicorn's 900 s.
    deadline_s: float = Field(600, gt=0)
    #: Gunicorn worker processes (read by start.sh); with ``concurrency`` it sizes each prediction's threads.
    workers: int = Field(1, gt=0)
    #: Threads each prediction may use in torch, OpenCV and the video decoder; unset: the cores this
    #: process may use (its CPU affinity and container quota) divided by ``workers × concurrency``.
    threads: int | None = Field(None, gt=0)
    #: Video frames decoded per request (20 min at 60 fps): with ``max_pixels`` it bounds the decoding
    #: work any file can ask for, whatever frame rate it claims.
    max_frames: int = Field(72_000, gt=0)
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

    @property
    def upload_min_bytes_s(self) -> float:
        return self.upload_min_kib_s * 1024


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
