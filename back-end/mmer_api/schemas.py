"""Response bodies, declared so that /docs shows exactly the JSON the service sends.

``Prediction`` mirrors ``mmer.predictor.Prediction.to_dict()`` field for field; the service validates
every answer against it, so a drift between the library and the API fails loudly in the tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmer.labels import CLASSES

Scores = dict[str, float]
_SCORES_DOC = f"Probability of each class ({', '.join(CLASSES)}); they sum to 1."


class _Out(BaseModel):
    # Extra fields the pipeline may add later pass through to the client (the API only ever grows).
    model_config = ConfigDict(extra="allow")


class ExpertInfo(_Out):
    name: str = Field(description="The expert's model.")
    data: str | None = Field(default=None, description="What it was trained on.")
    calibrated: bool = Field(description="Whether its probabilities are temperature-calibrated.")
    temperature: float = Field(description="The temperature its answers are divided by (log space); the voice's "
                               "is that of a familiar voice, see `calibration`.")
    calibration: dict[str, Any] | None = Field(
        default=None, description="The voice only: its temperature per window, T = temperature · exp(slope · "
        "(unfamiliarity − reference)), growing with how far the voice lies from what it was trained on.")
    figures: dict[str, Any] = Field(description="Headline figures from its model card (e.g. UAR).")
    model_card: str = Field(description="Where its model card is, in the repository.")


class FusionRule(_Out):
    rule: str = Field(description="How the experts are combined: `log-linear pooling`.")
    weights: dict[str, float] = Field(description="Each expert's weight in the pool.")


class ModelInfo(_Out):
    name: str = Field(description="Model name.")
    kind: Literal["default", "checkpoint"] = Field(
        description="`default`: the embedded face + voice model; `checkpoint`: a trained multimodal model.")
    source: str = Field(description="Where the weights came from: `builtin`, or the checkpoint folder's name "
                        "(never a path on the server).")
    modalities: list[str] = Field(description="Modalities the model takes, e.g. `[\"video\", \"audio\"]`.")
    calibrated: bool = Field(description="Whether the probabilities are temperature-calibrated.")
    temperature: float = Field(description="Served probabilities are softmax(logits / temperature).")
    experts: dict[str, ExpertInfo] | None = Field(
        default=None, description="The default model's experts (`face`, `voice`); absent for a checkpoint.")
    fusion: FusionRule | None = Field(default=None, description="How the default model pools its experts.")


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
    face: Scores | None = Field(default=None, description="The face expert's scores in this segment (default "
                                "model; null where no face was found).")
    voice: Scores | None = Field(default=None, description="The voice expert's scores for the speech in this "
                                 "segment (default model; null where nobody spoke).")
    speech_s: float | None = Field(default=None, description="Seconds of speech the voice activity detector found.")
    dominant: str | None = Field(default=None, description="The expert that pulled the answer hardest (`face` or "
                                 "`voice`).")
    agree: bool | None = Field(default=None, description="Whether both experts' top classes in this segment are "
                               "its answer (default model); null where only one expert, or none, could read it.")


class ExpertAnswer(_Out):
    scores: Scores | None = Field(description="What this expert said over the clip; null if it had nothing to read.")
    used: bool = Field(description="Whether it contributed to the answer.")
    detail: str = Field(description="What it found, or why it is missing (no face, no speech, no sound).")
    weight: float = Field(description="Its weight in the pool.")


class Fusion(FusionRule):
    dominant: str | None = Field(description="The expert that pulled the pooled answer hardest towards its top class.")
    agree: bool | None = Field(description="Whether both experts' top classes are the pooled answer; null with one.")


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
    experts: dict[str, ExpertAnswer] | None = Field(
        default=None, description="The default model: what the face and the voice expert each said (absent for a "
        "checkpoint).")
    fusion: Fusion | None = Field(default=None, description="The default model: how the experts were pooled.")


class EmotionClass(BaseModel):
    abbr: str = Field(examples=["HAP"])
    name: str = Field(examples=["Happy"])


class Limits(BaseModel):
    max_upload_mb: float = Field(description="Largest accepted upload, in MiB.")
    max_duration_s: float = Field(description="Longest accepted clip, in seconds.")
    min_duration_s: float = Field(description="Shortest accepted clip, in seconds.")
    max_pixels: int = Field(description="Largest accepted frame (width × height).")
    max_photo_pixels: int = Field(description="Largest accepted photo (width × height), checked from its header "
                                  "before it is decoded.")
    max_sample_frames: int = Field(description="Largest accepted `sample_frames`.")
    default_sample_frames: int


class ServiceInfo(BaseModel):
    name: str = Field(examples=["mmer"])
    version: str
    model: ModelInfo
    classes: list[EmotionClass] = Field(description="The six classes, in the model's order.")
    modalities: list[str] = Field(description="Modalities the served model takes.")
    photos: bool = Field(description="Whether the served model reads photos (JPEG, PNG, WebP, BMP, GIF, TIFF): "
                         "the default model does, with its face expert; a trained checkpoint does not.")
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
