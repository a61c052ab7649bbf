"""The answer: what a prediction says (:class:`Prediction`, its HTTP body), the input errors it can
end in and the limits it is held to (its clock is :class:`mmer.timing.Clock`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmer import media
from mmer.errors import InvalidValue
from mmer.labels import CLASS_NAMES, CLASSES

log = logging.getLogger(__name__)


INPUT_ERRORS = ("not_video", "undecodable", "too_long", "too_short", "frame_too_large", "no_signal")


class InputError(InvalidValue):
    """A video this predictor cannot answer for; ``code`` is one of :data:`INPUT_ERRORS`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in INPUT_ERRORS:
            raise ValueError(f"unknown input error code {code!r}")
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """What the predictor accepts: checked from the headers before anything is decoded, and again
    on every decoded frame (:meth:`decoding`), since headers can lie (a photo's decoder writes no
    more than its header's size, so its header is checked once)."""

    max_duration_s: float = 1200.0
    min_duration_s: float = 0.3
    max_pixels: int = 3840 * 2160
    #: A photo's pixels (its header, checked before decoding). Phones write 12 to 64 MP (9248 × 6936),
    #: more than a video frame's ``max_pixels``; a photo is decoded once, then shrunk to a 1080p
    #: frame's pixels for the face road (:mod:`mmer.predictor.photo`). Its decoded RGB is at most
    #: 192 MB here, and a JPEG is decoded at a reduced scale to start with.
    max_photo_pixels: int = 8192 * 8192
    max_sample_frames: int = 256
    #: Video frames decoded per request: 20 minutes at 60 fps. With ``max_pixels`` it bounds a
    #: request's decoding work, whatever frame rate a file claims.
    max_frames: int = 72_000

    def decoding(self) -> media.DecodeLimits:
        """The limits media decoding enforces frame by frame (a second's grace past the duration:
        audio tracks often outlast their video by an encoder frame)."""
        return media.DecodeLimits(max_pixels=self.max_pixels, max_seconds=self.max_duration_s + 1,
                                  max_frames=self.max_frames)


@dataclass
class Prediction:
    """One answer; :meth:`to_dict` is the HTTP API's response body (DESIGN.md, "HTTP API")."""

    scores: dict[str, float]
    modalities: dict[str, Any]
    timeline: list[dict[str, Any]]
    model: dict[str, Any]
    duration_s: float
    timing_ms: dict[str, float]
    sample_frames: int
    frames_analysed: int
    #: What each expert of the default model said overall, and how they were pooled (None for a checkpoint).
    experts: dict[str, Any] | None = None
    fusion: dict[str, Any] | None = None

    @property
    def emotion(self) -> str:
        return max(self.scores, key=self.scores.get)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        emotion = self.emotion
        return {"emotion": emotion, "label": CLASS_NAMES[CLASSES.index(emotion)],
                "confidence": self.scores[emotion], "scores": self.scores, "modalities": self.modalities,
                "timeline": self.timeline, "model": self.model, "duration_s": self.duration_s,
                "timing_ms": self.timing_ms, "sample_frames": self.sample_frames,
                "frames_analysed": self.frames_analysed,
                **({"experts": self.experts} if self.experts is not None else {}),
                **({"fusion": self.fusion} if self.fusion is not None else {})}


def score_dict(probs: np.ndarray) -> dict[str, float]:
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum()
    return {c: round(float(p), 6) for c, p in zip(CLASSES, probs, strict=True)}


def segment(start: float, end: float, probs: np.ndarray | None, **extra: Any) -> dict[str, Any]:
    if probs is None:
        return {"start": round(start, 3), "end": round(end, 3), "emotion": None, "confidence": None, "scores": None,
                **extra}
    scores = score_dict(probs)
    emotion = max(scores, key=scores.get)  # type: ignore[arg-type]
    return {"start": round(start, 3), "end": round(end, 3), "emotion": emotion, "confidence": scores[emotion],
            "scores": scores, **extra}


def scores_or_none(probs: np.ndarray | None) -> dict[str, float] | None:
    return None if probs is None else score_dict(probs)
