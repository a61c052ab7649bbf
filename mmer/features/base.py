"""The small interface every backbone implements, so extraction and the service treat them alike.

A backbone turns one clip's face frames (video) or waveform (audio) into a feature array. The
same object runs when the feature cache is built and when the service answers a request:
``config()`` names everything that changes its output, and its hash decides whether cached
features are still valid.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from mmer.errors import UserError


class BackboneUnavailable(UserError, RuntimeError):
    """A backbone cannot be loaded here (weights not cached, hub unreachable, package missing).

    The message is one line for the user and says what to do instead.
    """


def check_frames(frames: np.ndarray, *, allow_empty: bool = False) -> np.ndarray:
    """Validate a clip of (T, H, W, 3) uint8 RGB frames for a video backbone; contiguous copy if needed."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (T, H, W, 3) RGB frames, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {frames.dtype}")
    if (frames.shape[0] == 0 and not allow_empty) or (frames.shape[0] and min(frames.shape[1:3]) < 1):
        raise ValueError(f"clip has no frames or no pixels: shape {frames.shape}")
    return np.ascontiguousarray(frames)


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable hash of a JSON-serialisable config."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class VideoBackbone(ABC):
    """Face frames → a (T', dim) float32 sequence per clip."""

    name: str
    #: Hub id or local path the weights came from ("" for a model built from a config).
    source: str
    dim: int
    #: How many frames of a clip it wants (evenly sampled with ``mmer.media.sample_frames``).
    num_frames: int

    @abstractmethod
    def embed(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """``clips[i]`` is (T, H, W, 3) uint8 RGB face crops; returns one (T', dim) float32 array each."""

    def config(self) -> dict[str, Any]:
        return {"backbone": self.name, "source": self.source, "dim": self.dim, "num_frames": self.num_frames}


class AudioBackbone(ABC):
    """A mono waveform at ``sample_rate`` → a (dim,) float32 vector per clip."""

    name: str
    source: str
    dim: int
    sample_rate: int = 16_000

    @abstractmethod
    def embed(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """``waves[i]`` is (n_i,) float32 in [-1, 1]; returns one (dim,) float32 vector each.

        A clip's vector must not depend on the other clips in the same call.
        """

    def config(self) -> dict[str, Any]:
        return {"backbone": self.name, "source": self.source, "dim": self.dim, "sample_rate": self.sample_rate}
