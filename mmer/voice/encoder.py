"""A pretrained speech encoder for the voice expert: Resemblyzer's voice encoder (GE2E, a 3-layer
LSTM over 40 mel bands), whose weights ship inside the Apache-2.0 ``Resemblyzer`` wheel on PyPI
(fetched and converted once by ``mmer weights fetch``; nothing from the package is imported).

Why a speaker encoder: it was trained to tell thousands of voices apart (LibriSpeech, VoxCeleb 1
and 2: many languages, microphones and rooms), so its states describe voice quality, pitch and
effort in a way that holds across recordings, where a network trained from scratch on RAVDESS's
24 actors and two sentences learns their words and their studio (measured by
``benchmarks/voice_levers.py`` and the model card). The voice expert reads the mean and spread over
time of each LSTM layer's states (:func:`encoder_statistics`), never the speaker identity itself.

The front end is the encoder's own: power mel (not log) on 25 ms Hann windows every 10 ms, 40
Slaney-normalised bands up to 8 kHz, the waveform first raised to −30 dBFS if quieter (the
package's ``normalize_volume(increase_only=True)``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from mmer.features.base import BackboneUnavailable

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
HIDDEN = 256
LAYERS = 3
TARGET_DBFS = -30.0
#: Per stretch: (mean, std) over time of each layer's 256 states.
DIM = 2 * HIDDEN * LAYERS


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    f = np.asarray(f, np.float64)
    step = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / step, f / (200.0 / 3))


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    step = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(step * (m - 15.0)), m * 200.0 / 3)


def slaney_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles on the Slaney mel scale from 0 Hz to Nyquist, each scaled
    to unit area (``norm="slaney"``): the filters the encoder was trained with."""
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


_FILTERS = slaney_filterbank()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def raise_volume(wave: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """``wave`` raised to ``target_dbfs`` RMS if it is quieter; a louder one is left alone."""
    wave = np.asarray(wave, np.float32)
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2))) if wave.size else 0.0
    if rms <= 0.0:
        return wave
    change = target_dbfs - 20.0 * np.log10(rms)
    return wave * np.float32(10 ** (change / 20)) if change > 0 else wave


def encoder_mel(wave: np.ndarray) -> np.ndarray:
    """(T, 40) float32 power mel frames of ``wave`` (mono 16 kHz): centred frames, zero-padded at
    the ends, as ``librosa.feature.melspectrogram`` (0.10) makes them for the package."""
    wave = raise_volume(np.asarray(wave, np.float32).reshape(-1))
    wave = np.pad(wave, N_FFT // 2)
    count = 1 + (wave.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(wave, N_FFT)[::HOP][:count] * _WINDOW
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return (power @ _FILTERS.T).astype(np.float32)


class SpeakerEncoder(nn.Module):
    """Resemblyzer's network: (N, T, 40) mel frames → every layer's states, and the 256-d embedding.

    Its 3-layer LSTM is kept as three one-layer LSTMs (the same arithmetic, no dropout between
    layers), so that each layer's states can be read; :func:`mmer.weights.convert_resemblyzer`
    renames the package's ``lstm.*_l{k}`` tensors to ``layers.{k}.*_l0``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(N_MELS if k == 0 else HIDDEN, HIDDEN, batch_first=True)
                                    for k in range(LAYERS))
        self.linear = nn.Linear(HIDDEN, HIDDEN)

    def layer_states(self, mels: Tensor) -> list[Tensor]:
        """[(N, T, 256)] per layer."""
        out, x = [], mels
        for layer in self.layers:
            x, _ = layer(x)
            out.append(x)
        return out

    def forward(self, mels: Tensor) -> Tensor:
        """(N, 256) L2-normalised speaker embedding (the package's ``VoiceEncoder.forward``)."""
        last = self.layer_states(mels)[-1][:, -1]
        embed = torch.relu(self.linear(last))
        return embed / embed.norm(dim=1, keepdim=True).clamp_min(1e-12)


_lock = threading.Lock()
_loaded: dict[Path, SpeakerEncoder] = {}


def load_encoder(path: Path | None = None) -> SpeakerEncoder:
    """The converted encoder weights (``mmer weights fetch``), loaded once per process."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from mmer.paths import default_resemblyzer_path

    path = Path(path) if path is not None else default_resemblyzer_path()
    with _lock:
        if path not in _loaded:
            if not path.is_file():
                raise BackboneUnavailable(f"the voice expert's speech encoder is not in {path}: run `mmer weights "
                                          "fetch` (it converts the Resemblyzer wheel's weights from PyPI once)")
            model = SpeakerEncoder()
            try:
                model.load_state_dict(load_file(str(path), device="cpu"), strict=True)
            except (OSError, RuntimeError, SafetensorError) as exc:
                raise BackboneUnavailable(f"cannot load the speech encoder {path}: {str(exc).splitlines()[0]}") from exc
            _loaded[path] = model.eval()
            log.debug("speech encoder loaded from %s", path)
        return _loaded[path]


def encoder_statistics(encoder: SpeakerEncoder, speech: list[np.ndarray]) -> np.ndarray:
    """(N, :data:`DIM`) for stretches of speech, each read alone: per layer, the mean and the
    standard deviation over time of its states."""
    out = np.zeros((len(speech), DIM), np.float32)
    with torch.inference_mode():
        for i, wave in enumerate(speech):
            mels = torch.from_numpy(encoder_mel(wave))[None]
            parts = []
            for states in encoder.layer_states(mels):
                parts += [states[0].mean(0), states[0].std(0, unbiased=states.shape[1] > 1)]
            out[i] = torch.cat(parts).numpy()
    return out
