"""Small builders of test media whose contents the tests can predict."""

from __future__ import annotations

import numpy as np

from mmer import media


def index_frames(count: int, width: int = 64, height: int = 48, step: int = 6) -> list[np.ndarray]:
    """Frames whose uniform grey level encodes their index (index * step), so a test can tell which
    frame a sampler returned even after lossy encoding."""
    return [np.full((height, width, 3), (k * step) % 256, np.uint8) for k in range(count)]


def tone(seconds: float, rate: int = media.AUDIO_SAMPLE_RATE, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
