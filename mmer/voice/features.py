"""A waveform → what the voice network reads. One function, used by training and by serving.

The spectrogram is normalised within the piece of speech itself (each mel band's mean over the
stretch is subtracted): that removes what is constant over an utterance, chiefly the microphone,
room and the speaker's vocal tract, and keeps how the voice moves. It needs nothing but the
upload, so serving reproduces exactly what the model was trained and measured on; normalising
by a speaker's other recordings, which an upload does not have, would not be reproducible.

``"level"`` (the current recipe) also makes the log's floor relative: the mel power is floored
:data:`FLOOR_DB` below the stretch's own loudest bin instead of at a fixed 1e-6. With the band
means removed, the input is then the same whatever the recording's gain. With the fixed floor
(``"utterance"``, the first recipe), a quiet recording (RAVDESS sits near −42 dBFS) had its
quiet bands and pauses pressed onto the floor, and the same clip 20 dB quieter read differently
(held-out RAVDESS UAR 0.727 → 0.661, measured by ``benchmarks/voice_levers.py``).
"""

from __future__ import annotations

import numpy as np

from mmer.errors import InvalidValue
from mmer.features.audio_stats import HOP, N_MELS, SAMPLE_RATE, mel_filterbank, mel_power

FRAME_RATE = SAMPLE_RATE / HOP  # 100 frames a second
NORMALISATIONS = ("level", "utterance", "none")
#: How far below the stretch's loudest mel bin the log is floored ("level" normalisation).
FLOOR_DB = 80.0

_FILTERS = mel_filterbank()


def voice_frames(wave: np.ndarray, normalisation: str = "level") -> np.ndarray:
    """(T, N_MELS) float32 network input for one stretch of speech (mono, 16 kHz)."""
    if normalisation not in NORMALISATIONS:
        raise InvalidValue(f"unknown normalisation {normalisation!r}; choose one of {', '.join(NORMALISATIONS)}")
    power = mel_power(wave, _FILTERS)
    if normalisation == "level":
        floor = float(power.max(initial=0.0)) * 10 ** (-FLOOR_DB / 10) + 1e-20
        x = np.log(power + floor)
    else:
        x = np.log(power + 1e-6)
    if normalisation in ("level", "utterance"):
        x = x - x.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def frames_to_seconds(n: int) -> float:
    return n / FRAME_RATE


__all__ = ["FLOOR_DB", "FRAME_RATE", "N_MELS", "NORMALISATIONS", "SAMPLE_RATE", "frames_to_seconds", "voice_frames"]
