"""Response bodies, declared so that /docs shows exactly the JSON the service sends.

``Prediction`` mirrors ``mmer.pipeline.Prediction.to_dict()`` field for field; the service validates
every answer against it, so a drift between the library and the API fails loudly in the tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mmer.labels import CLASSES

Scores = dict[str, float]
_SCORES_DOC = f"Probability of each class ({', '.join(CLASSES)}); they sum to 1."


class _Out(BaseModel):
    # Extra fields the pipeline may add later pass through to the client (the API only ever grows).
    model_config = ConfigDict(extra="allow")


class ModelInfo(_Out):
    name: str = Field(description="Model name.")
    kind: Literal["default", "checkpoint"] = Field(
        description="`default`: the embedded face model; `checkpoint`: a trained multimodal model.")
    source: str = Field(description="Where the weights came from (file or directory).")
    modalities: list[str] = Field(description="Modalities the model takes, e.g. `[\"video\", \"audio\"]`.")
    calibrated: bool = Field(description="Whether the probabilities are temperature-calibrated.")
    temperature: float = Field(description="Served probabilities are softmax(logits / temperature).")


class Modalities(_Out):
    model: list[str] = Field(description="Modalities the model takes.")
    used: list[str] = Field(description="Modalities that contributed to this answer.")
    missing: list[str] = Field(description="Modalities the model takes but this clip lacked.")
    available: dict[str, bool] = Field(description="Whether the clip holds a usable video / audio signal.")
    detail: dict[str, str] = Field(description="A sentence per modality saying what was found.")


class Segment(_Out):
    start: float = Field(description="Seconds from the start of the clip.")
    end: float
    emotion: str | None = Field(description="Top class of this segment; null where nothing could be scored.")
    confidence: float | None
    scores: Scores | None = Field(description=_SCORES_DOC)


class Timing(_Out):
    decode: float
    faces: float
    model: float
    total: float


class Prediction(_Out):
    emotion: str = Field(description=f"Top class, one of {', '.join(CLASSES)}.", examples=["HAP"])
    label: str = Field(description="Full name of the top class.", examples=["Happy"])
    confidence: float = Field(description="Probability of the top class.")
    scores: Scores = Field(description=_SCORES_DOC)
    modalities: Modalities
    timeline: list[Segment] = Field(description="Scores per segment of the clip, in time order.")
    model: ModelInfo
    duration_s: float = Field(description="Length of the clip in seconds.")
    timing_ms: Timing = Field(description="Milliseconds spent per stage.")
    sample_frames: int = Field(description="Frames the model was asked to look at.")
    frames_analysed: int = Field(description="Frames actually decoded and analysed.")


class EmotionClass(BaseModel):
    abbr: str = Field(examples=["HAP"])
    name: str = Field(examples=["Happy"])


class Limits(BaseModel):
    max_upload_mb: float = Field(description="Largest accepted upload, in MiB.")
    max_duration_s: float = Field(description="Longest accepted clip, in seconds.")
    min_duration_s: float = Field(description="Shortest accepted clip, in seconds.")
    max_pixels: int = Field(description="Largest accepted frame (width × height).")
    max_sample_frames: int = Field(description="Largest accepted `sample_frames`.")
    default_sample_frames: int


class ServiceInfo(BaseModel):
    name: str = Field(examples=["mmer"])
    version: str
    model: ModelInfo
    classes: list[EmotionClass] = Field(description="The six classes, in the model's order.")
    modalities: list[str] = Field(description="Modalities the served model takes.")
    limits: Limits
    auth: bool = Field(description="Whether POST /infer and GET / need the `X-API-Key` header.")


class Message(BaseModel):
    message: str = Field(examples=["pong"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorResponse(BaseModel):
    """Every error the service sends has this body."""

    detail: str = Field(description="A sentence for the user.")
    code: str = Field(description="A stable machine-readable reason, e.g. `too_large`, `busy`.")
