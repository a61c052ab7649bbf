"""An audio feature set that needs no download: log-mel, pitch, energy and rhythm statistics.

For users with no access to a model hub, this still gives the fusion model a voice modality
that carries emotion: arousal shows in loudness, pitch level and range and speaking rate,
valence partly in spectral shape. Pure numpy, deterministic, about a millisecond per second of
audio on a laptop CPU.
"""

from __future__ import annotations

import numpy as np

from mmer.features.base import AudioBackbone

SAMPLE_RATE = 16_000
N_FFT = 512  # 32 ms
HOP = 160  # 10 ms
N_MELS = 64
F_MIN, F_MAX = 60.0, 7_600.0
PITCH_MIN, PITCH_MAX = 60.0, 500.0
_PITCH_WINDOW = 640  # 40 ms: two periods of the lowest pitch
_EPS = 1e-8


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the HTK mel scale."""

    def to_mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def _frames(wave: np.ndarray, size: int, hop: int) -> np.ndarray:
    if wave.size < size:
        wave = np.pad(wave, (0, size - wave.size))
    count = 1 + (wave.size - size) // hop
    return np.lib.stride_tricks.sliding_window_view(wave, size)[::hop][:count]


def _stats(x: np.ndarray) -> np.ndarray:
    """mean and std over time (axis 0), zeros for an empty input."""
    if x.shape[0] == 0:
        return np.zeros(2 * x.shape[1], np.float32)
    return np.concatenate([x.mean(0), x.std(0)])


def pitch_track(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame f0 (Hz) by normalised autocorrelation, and whether each frame is voiced."""
    frames = _frames(wave, _PITCH_WINDOW, HOP).astype(np.float64)
    frames = frames - frames.mean(1, keepdims=True)
    spectrum = np.fft.rfft(frames * np.hanning(_PITCH_WINDOW), n=2 * _PITCH_WINDOW)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[:, :_PITCH_WINDOW]
    acf /= acf[:, :1] + _EPS
    lo, hi = int(sample_rate / PITCH_MAX), int(sample_rate / PITCH_MIN)
    lag = lo + np.argmax(acf[:, lo:hi], axis=1)
    strength = acf[np.arange(len(lag)), lag]
    energy = np.sqrt((frames**2).mean(1))
    voiced = (strength > 0.45) & (energy > 0.1 * (energy.max() + _EPS))
    return sample_rate / lag, voiced


def _rhythm(envelope: np.ndarray, frame_rate: float) -> float:
    """The strongest modulation frequency (Hz) of the loudness envelope within 1-10 Hz: syllable rate."""
    if envelope.size < 16:
        return 0.0
    centred = envelope - envelope.mean()
    spectrum = np.abs(np.fft.rfft(centred * np.hanning(centred.size)))
    freqs = np.fft.rfftfreq(centred.size, 1.0 / frame_rate)
    band = (freqs >= 1.0) & (freqs <= 10.0)
    return float(freqs[band][np.argmax(spectrum[band])]) if band.any() else 0.0


def _mel_power_of(frames: np.ndarray, filters: np.ndarray) -> np.ndarray:
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return power @ filters.T


def _log_mel_of(frames: np.ndarray, filters: np.ndarray) -> np.ndarray:
    return np.log(_mel_power_of(frames, filters) + 1e-6)


def mel_power(wave: np.ndarray, filters: np.ndarray | None = None) -> np.ndarray:
    """(T, N_MELS) mel power spectrogram (no log), 10 ms hop, the frames of :func:`log_mel`."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    filters = mel_filterbank() if filters is None else filters
    frames = _frames(wave, N_FFT, HOP) * np.hanning(N_FFT).astype(np.float32)
    return _mel_power_of(frames, filters)


def log_mel(wave: np.ndarray, filters: np.ndarray | None = None) -> np.ndarray:
    """(T, N_MELS) float32 log-mel spectrogram, 10 ms hop, with an absolute floor (1e-6): the
    ``logmel`` statistics' input, and the first voice expert's."""
    return np.log(mel_power(wave, filters) + 1e-6).astype(np.float32)


def logmel_stats(wave: np.ndarray, filters: np.ndarray | None = None) -> np.ndarray:
    """The fixed-length description of one clip (see :data:`LogMelStatsBackbone.dim`)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    filters = mel_filterbank() if filters is None else filters
    frames = _frames(wave, N_FFT, HOP) * np.hanning(N_FFT).astype(np.float32)
    logmel = _log_mel_of(frames, filters)
    delta = np.diff(logmel, axis=0, prepend=logmel[:1])

    rms = np.sqrt((frames**2).mean(1))
    loud = 20 * np.log10(rms + 1e-5)
    zcr = (np.abs(np.diff(np.signbit(_frames(wave, N_FFT, HOP)), axis=1)).mean(1))

    f0, voiced = pitch_track(wave)
    log_f0 = np.log(f0[voiced]) if voiced.any() else np.zeros(0)
    if log_f0.size >= 2:
        times = np.flatnonzero(voiced) * HOP / SAMPLE_RATE
        slope = float(np.polyfit(times, log_f0, 1)[0])
        pitch = [log_f0.mean(), log_f0.std(), *np.percentile(log_f0, [10, 90]), slope]
    else:
        pitch = [0.0] * 5
    extra = [
        *pitch, voiced.mean(),
        loud.mean(), loud.std(), loud.max(), np.percentile(loud, 90) - np.percentile(loud, 10),
        zcr.mean(), zcr.std(),
        _rhythm(rms, SAMPLE_RATE / HOP),
    ]
    out = np.concatenate([_stats(logmel), _stats(delta), np.asarray(extra)]).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


class LogMelStatsBackbone(AudioBackbone):
    """Offline audio features: log-mel and delta mean/std (4 × 64), pitch (5), voicing (1),
    loudness (4), zero-crossing rate (2) and syllable rate (1): 269 values per clip."""

    name = "logmel"
    source = "builtin"
    dim = 4 * N_MELS + 13
    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._filters = mel_filterbank()

    def embed(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [logmel_stats(w, self._filters) for w in waves]

    def config(self) -> dict:
        return {**super().config(), "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "version": 1}
