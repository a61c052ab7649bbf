"""Where in a waveform someone speaks: Silero VAD v6, whose weights ship inside the MIT-licensed
``silero-vad`` wheel on PyPI (nothing is downloaded).

The voice expert scores speech only: without this, silence, music or room noise would be read
as a (usually "Neutral") emotion. Training uses the same function to trim each clip to its
speech, so the model sees at training what it is given when serving.

The network is re-built here as a plain ``nn.Module`` with the weights of the wheel's TorchScript
model (the same probabilities to 1e-6, checked in the tests). The packaged model reads 32 ms per
call, and with two threads on a busy CPU took seconds per clip; here the convolutional front end
reads every chunk in one batch and the LSTM is stepped in NumPy, so a minute of audio takes well
under a second. Turning probabilities into stretches of speech is the package's own
``get_speech_timestamps_from_probs``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmer.errors import UserError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
CHUNK = 512  # samples the model scores at a time (32 ms)
CONTEXT = 64  # samples of the previous chunk each chunk also sees
#: Silero's own defaults, except a shorter minimum speech (a short "no!" still counts) and a
#: little more padding so that word onsets are not clipped.
THRESHOLD = 0.5
MIN_SPEECH_MS = 200
MIN_SILENCE_MS = 150
SPEECH_PAD_MS = 60
WEIGHTS = "silero_vad.jit"
#: 32 ms chunks whose features are computed together (about a minute of sound).
FEATURE_BATCH = 2048

_lock = threading.Lock()
_model: SileroVad | None = None


class VadUnavailable(UserError, RuntimeError):
    """The ``silero-vad`` package is missing or its weights cannot be read; one line saying what to do."""


@dataclass(frozen=True)
class Speech:
    """One stretch of speech, in seconds from the start of the waveform given."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class SileroVad(nn.Module):
    """Silero VAD v6 (16 kHz): a learnt STFT, four 1-D convolutions, an LSTM and a sigmoid, per 32 ms chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, 256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.final_conv = nn.Conv1d(128, 1, 1)

    def forward(self, wave: Tensor) -> Tensor:
        """(n,) float32 at 16 kHz → (ceil(n / 512),) speech probabilities, one per 32 ms chunk."""
        pad = (-wave.numel()) % CHUNK
        wave = F.pad(wave.reshape(-1), (CONTEXT, pad))
        chunks = wave.unfold(0, CHUNK + CONTEXT, CHUNK)  # (n_chunks, 576): each chunk with its context
        # Each chunk's features depend on that chunk alone: computed a batch at a time, so memory
        # stays flat however long the sound (all at once, 10 minutes cost ~300 MB of activations).
        features = torch.cat([self._features(chunks[i:i + FEATURE_BATCH])
                              for i in range(0, len(chunks), FEATURE_BATCH)])
        h = self._recur(features)  # the chunks in time order, one sequence
        return torch.sigmoid(self.final_conv(torch.relu(h).T[None]))[0, 0]

    def _features(self, chunks: Tensor) -> Tensor:
        """(k, 576) chunks with context → (k, 128) features for the LSTM."""
        x = F.pad(chunks[:, None], (0, 64), mode="reflect")
        x = self.stft_conv(x)
        x = torch.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = torch.relu(conv(x))
        return x[:, :, 0]

    def _recur(self, x: Tensor) -> Tensor:
        """The LSTM over (steps, 128) inputs, stepped in NumPy: thousands of tiny steps, where
        torch's per-op threading costs far more than the arithmetic on a busy CPU."""
        w_hh = self.lstm.weight_hh_l0.detach().numpy().T
        gates_in = (x @ self.lstm.weight_ih_l0.T + self.lstm.bias_ih_l0 + self.lstm.bias_hh_l0).detach().numpy()
        h = np.zeros(w_hh.shape[0], np.float32)
        c = np.zeros_like(h)
        out = np.empty((len(gates_in), len(h)), np.float32)
        n = len(h)
        for t, g_in in enumerate(gates_in):
            g = g_in + h @ w_hh
            i, f = _sigmoid(g[:n]), _sigmoid(g[n:2 * n])
            c = f * c + i * np.tanh(g[2 * n:3 * n])
            h = _sigmoid(g[3 * n:]) * np.tanh(c)
            out[t] = h
        return torch.from_numpy(out)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@contextlib.contextmanager
def _keep_threads() -> Iterator[None]:
    """Importing ``silero_vad`` (or its data folder) calls ``torch.set_num_threads(1)`` for the
    whole process; put the thread count back so every other model keeps its speed."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def weights_path() -> Path:
    try:
        with _keep_threads():
            return Path(str(resources.files("silero_vad.data").joinpath(WEIGHTS)))
    except ModuleNotFoundError as exc:
        raise VadUnavailable("the silero-vad package is not installed (pip install silero-vad)") from exc


#: The packaged TorchScript model's parameter names → :class:`SileroVad`'s.
_RENAME = {"stft.forward_basis_buffer": "stft_conv.weight",
           **{f"encoder.{i}.reparam_conv.{p}": f"conv{i + 1}.{p}" for i in range(4) for p in ("weight", "bias")},
           **{f"decoder.rnn.{p}": f"lstm.{p}_l0" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
           "decoder.decoder.2.weight": "final_conv.weight", "decoder.decoder.2.bias": "final_conv.bias"}


def _load() -> SileroVad:
    """The model, loaded once per process (inference only: safe to share between threads).

    The weights are read out of the wheel's TorchScript file, the package's default model (its
    ``silero_vad_16k.safetensors`` holds different, older weights). ``silero_vad`` itself is not
    imported for this (see :func:`_keep_threads`).
    """
    global _model
    with _lock:
        if _model is None:
            path = weights_path()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
                    scripted = torch.jit.load(str(path), map_location="cpu")
                state = {_RENAME[k[len("_model."):]]: v for k, v in scripted.state_dict().items()
                         if k.startswith("_model.")}
                model = SileroVad()
                model.load_state_dict(state, strict=True)
            except Exception as exc:  # noqa: BLE001 - unreadable weights all mean "no VAD": say so
                raise VadUnavailable(f"cannot read the Silero VAD weights {path}: {exc}") from exc
            _model = model.eval()
            log.debug("silero VAD loaded from %s", path)
        return _model


def load() -> None:
    """Load the VAD now (the service calls this at start-up, so a missing package fails early)."""
    _load()


def speech_probabilities(wave: np.ndarray) -> np.ndarray:
    """Per-32-ms-chunk speech probability of ``wave`` (mono float32, 16 kHz)."""
    model = _load()
    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))).numpy()


def speech_regions(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> list[Speech]:
    """The stretches of ``wave`` (mono float32, 16 kHz) that hold speech, in time order."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"the VAD reads {SAMPLE_RATE} Hz audio, got {sample_rate}")
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size < SAMPLE_RATE * MIN_SPEECH_MS // 1000:
        return []
    probs = speech_probabilities(wave)
    with _keep_threads():
        from silero_vad.utils_vad import get_speech_timestamps_from_probs

    stamps = get_speech_timestamps_from_probs(
        probs.tolist(), sampling_rate=SAMPLE_RATE, threshold=THRESHOLD, min_speech_duration_ms=MIN_SPEECH_MS,
        min_silence_duration_ms=MIN_SILENCE_MS, speech_pad_ms=SPEECH_PAD_MS, audio_length_samples=wave.size)
    return [Speech(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def speech_span(regions: Sequence[Speech]) -> Speech | None:
    """From the first word to the last: what the voice model reads (pauses inside kept, as in speech)."""
    if not regions:
        return None
    return Speech(regions[0].start, regions[-1].end)


def speech_seconds(regions: Sequence[Speech], start: float = 0.0, end: float = float("inf")) -> float:
    """Seconds of speech inside ``[start, end)``."""
    return float(sum(max(0.0, min(r.end, end) - max(r.start, start)) for r in regions))
