"""A waveform → what the voice network reads. One function, used by training and by serving.

The spectrogram is normalised within the piece of speech itself (each mel band's mean over the
stretch is subtracted): that removes what is constant over an utterance, chiefly the microphone,
room and the speaker's vocal tract, and keeps how the voice moves. It needs nothing but the
upload, so serving reproduces exactly what the model was trained and measured on; normalising
by a speaker's other recordings, which an upload does not have, would not be reproducible.
"""

from __future__ import annotations

import numpy as np

from mmer.errors import InvalidValue
from mmer.features.audio_stats import HOP, N_MELS, SAMPLE_RATE, log_mel, mel_filterbank

FRAME_RATE = SAMPLE_RATE / HOP  # 100 frames a second
NORMALISATIONS = ("utterance", "none")

_FILTERS = mel_filterbank()


def voice_frames(wave: np.ndarray, normalisation: str = "utterance") -> np.ndarray:
    """(T, N_MELS) float32 network input for one stretch of speech (mono, 16 kHz)."""
    if normalisation not in NORMALISATIONS:
        raise InvalidValue(f"unknown normalisation {normalisation!r}; choose one of {', '.join(NORMALISATIONS)}")
    x = log_mel(wave, _FILTERS)
    if normalisation == "utterance":
        x = x - x.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def frames_to_seconds(n: int) -> float:
    return n / FRAME_RATE


__all__ = ["FRAME_RATE", "N_MELS", "NORMALISATIONS", "SAMPLE_RATE", "frames_to_seconds", "voice_frames"]
