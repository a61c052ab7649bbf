"""The voice expert: speech in an upload → six calibrated probabilities per window of speech.

Its weights ship inside the package (``mmer/assets/voice-ravdess/``, made by ``mmer train-voice``),
so it works offline. It reads only what the VAD calls speech: silence, music and noise are not
scored, so they never turn into "Neutral". A window's speech is read exactly as a training clip
was: from its first word to its last, normalised within itself (:mod:`mmer.voice.features`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mmer.budget import Budget
from mmer.features.base import BackboneUnavailable
from mmer.labels import CLASSES
from mmer.training.metrics import softmax
from mmer.voice import vad
from mmer.voice.calibration import Calibration
from mmer.voice.features import SAMPLE_RATE, voice_frames
from mmer.voice.model import EncoderHead, VoiceNetConfig, build_voice_model

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_DIR = ASSETS / "voice-ravdess"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT = "mmer-voice-expert"
FORMAT_VERSION = 1

#: Voice windows: about a training clip's length (RAVDESS speech spans 1.5-4 s).
WINDOW_S = 3.0
#: An upload up to this long is read in one piece: a training clip was one sentence of 2.9-5.3 s, and
#: cutting a 5 s voice memo into 3 s + 2 s would split its one sentence.
WHOLE_S = 6.0
#: A window with less speech than this is not scored (a cough, a click, one syllable).
MIN_SPEECH_S = 0.4
#: Windows scored between two checks of a request's budget (a long upload's cancellation waits at most this many).
SCORE_BATCH = 16


@dataclass(frozen=True)
class VoiceWindow:
    """What the voice expert said about ``[start, end)``; ``probs`` is None where nobody spoke."""

    start: float
    end: float
    speech_s: float
    probs: np.ndarray | None


def sha256(path: Path) -> str:
    """The weights file's sha256 (the one file hash mmer has, in :mod:`mmer.weights`)."""
    from mmer.weights import _sha256

    return _sha256(path)


def speech_readings(model: torch.nn.Module, speech: Sequence[np.ndarray], normalisation: str,
                    encoder: torch.nn.Module | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 6) logits of ``model`` for stretches of speech, each read alone (no padding against the
    others): how the service reads a window, and how the recipe's cross-validation reads a test clip;
    and (N,) how unfamiliar each stretch is (:meth:`EncoderHead.unfamiliarity`; None where the model
    cannot say). An encoder head reads the pretrained encoder's statistics of each stretch
    (``encoder``, default the one ``mmer weights fetch`` converted); a spectrogram network its log-mel
    frames (``normalisation``)."""
    out = np.zeros((len(speech), len(CLASSES)), np.float32)
    model.eval()
    if isinstance(model, EncoderHead):
        from mmer.voice.encoder import encoder_statistics, load_encoder

        if not len(speech):
            return out, (np.zeros(0, np.float32) if model.config.subspace else None)
        stats = torch.from_numpy(encoder_statistics(encoder if encoder is not None else load_encoder(), list(speech)))
        with torch.inference_mode():
            out[:] = model(stats).numpy()
            distance = model.unfamiliarity(stats)
        return out, (None if distance is None else distance.numpy())
    with torch.inference_mode():
        for i, wave in enumerate(speech):
            x = torch.from_numpy(voice_frames(wave, normalisation))[None]
            out[i] = model(x, torch.tensor([x.shape[1]]))[0].numpy()
    return out, None


def calibrated(logits: np.ndarray, unfamiliarity: np.ndarray | None, calibration: Calibration) -> np.ndarray:
    """(N, 6) probabilities: each row's softmax at its own temperature (:mod:`mmer.voice.calibration`)."""
    temps = calibration.temperatures(unfamiliarity, len(logits))
    return softmax(np.asarray(logits, np.float64) / temps[:, None])


def window_edges(duration: float, window_s: float = WINDOW_S) -> list[float]:
    """Windows of ``window_s`` over ``[0, duration]``; one window for an upload up to
    :data:`WHOLE_S` (two windows' worth at the default), and a last remainder under half a window
    joined to the window before."""
    if duration <= max(WHOLE_S, 1.5 * window_s):
        return [0.0, duration]
    edges = list(np.arange(0.0, duration, window_s)) + [duration]
    if duration - edges[-2] < window_s / 2:
        del edges[-2]
    return [float(e) for e in edges]


class VoiceExpert:
    """A loaded voice model (thread-safe: inference only, no state between calls)."""

    def __init__(self, directory: str | Path = DEFAULT_DIR, *, verify: bool = True,
                 cache_dir: Path | None = None) -> None:
        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BackboneUnavailable(f"cannot read the voice model's {config_path}: {exc}") from exc
        if config.get("format") != FORMAT or int(config.get("format_version", 0)) > FORMAT_VERSION:
            raise BackboneUnavailable(f"{config_path} is not a voice model this version of mmer can load")
        if tuple(config.get("classes", ())) != CLASSES:
            raise BackboneUnavailable(f"{config_path}: classes {config.get('classes')} are not {list(CLASSES)}")
        if verify and config.get("sha256") and sha256(weights_path) != config["sha256"]:
            raise BackboneUnavailable(f"{weights_path} does not match the sha256 in its config.json")
        self.config = config
        self.net_config = VoiceNetConfig.from_dict(config["net"])
        self.normalisation = str(config.get("normalisation", "utterance"))
        self.calibration = Calibration.from_config(config)
        self.temperature = self.calibration.temperature
        self.model = build_voice_model(self.net_config)
        try:
            self.model.load_state_dict(load_file(str(weights_path), device="cpu"), strict=True)
        except (OSError, RuntimeError, SafetensorError) as exc:
            raise BackboneUnavailable(f"cannot load the voice model's weights {weights_path}: "
                                      f"{str(exc).splitlines()[0]}") from exc
        self.model.eval()
        self.directory = directory
        self.name = str(config.get("name", directory.name))
        self.encoder = None
        if self.net_config.arch == "encoder":
            from mmer.paths import default_resemblyzer_path
            from mmer.voice.encoder import load_encoder

            # A missing `mmer weights fetch` fails now, saying what to run.
            self.encoder = load_encoder(default_resemblyzer_path(cache_dir))
        vad.load()

    def info(self) -> dict[str, Any]:
        """Identity and headline figures, for ``GET /`` and every answer."""
        return {"name": self.name, "data": self.config.get("data"), "calibrated": True,
                "temperature": self.temperature, "calibration": self.calibration.to_dict(),
                "figures": self.config.get("figures", {}),
                "model_card": "mmer/assets/" + self.directory.name + "/MODEL_CARD.md"}

    def probabilities(self, speech: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 6) calibrated probabilities: softmax of logits over each window's temperature, which
        grows with how unfamiliar its voice is (:mod:`mmer.voice.calibration`)."""
        if not len(speech):
            return np.zeros((0, len(CLASSES)))
        return calibrated(*speech_readings(self.model, speech, self.normalisation, self.encoder), self.calibration)

    def windows(self, wave: np.ndarray, duration: float | None = None, window_s: float = WINDOW_S, *,
                budget: Budget | None = None) -> tuple[list[VoiceWindow], list[vad.Speech]]:
        """Score each window of ``wave`` (mono 16 kHz, starting at 0 s) that holds speech
        (:func:`read_windows`); ``budget`` is checked between batches."""
        return read_windows(wave, self.probabilities, duration, window_s,
                            check=budget.check if budget is not None else None)


def read_windows(wave: np.ndarray, probabilities: Callable[[list[np.ndarray]], np.ndarray],
                 duration: float | None = None, window_s: float = WINDOW_S, *,
                 check: Callable[[], None] | None = None) -> tuple[list[VoiceWindow], list[vad.Speech]]:
    """How an upload is heard: the VAD over all of ``wave``, windows of ``window_s``, and in each
    window with at least :data:`MIN_SPEECH_S` of speech, the stretch from its first to its last word
    scored by ``probabilities`` (a list of waves → (N, 6)). The recipe's cross-validation reads its
    test clips through this same function, so its figures are the service's.

    Returns the windows and the VAD's speech regions (for per-segment speech seconds). ``check``
    (e.g. a request's cancellation) is called between the VAD and each batch of windows.
    """
    check = check or (lambda: None)
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    duration = len(wave) / SAMPLE_RATE if duration is None else duration
    regions = vad.speech_regions(wave)
    check()
    edges = window_edges(max(duration, len(wave) / SAMPLE_RATE), window_s)
    pending: list[tuple[float, float, float, np.ndarray | None]] = []
    for start, end in zip(edges, edges[1:], strict=False):
        inside = [vad.Speech(max(r.start, start), min(r.end, end)) for r in regions
                  if r.end > start and r.start < end]
        seconds = vad.speech_seconds(inside)
        span = vad.speech_span(inside)
        piece = None
        if span is not None and seconds >= MIN_SPEECH_S:
            piece = wave[int(span.start * SAMPLE_RATE):int(np.ceil(span.end * SAMPLE_RATE))]
        pending.append((start, end, seconds, piece))
    pieces = [p for *_, p in pending if p is not None]
    batches = [np.zeros((0, len(CLASSES)))]
    for first in range(0, len(pieces), SCORE_BATCH):
        batches.append(probabilities(pieces[first:first + SCORE_BATCH]))
        check()
    probs = np.concatenate(batches)
    out, k = [], 0
    for start, end, seconds, piece in pending:
        p = None
        if piece is not None:
            p, k = probs[k], k + 1
        out.append(VoiceWindow(start, end, seconds, p))
    return out, regions


def clip_probabilities(windows: Sequence[VoiceWindow]) -> np.ndarray | None:
    """The voice's answer over a whole upload: its scored windows averaged, each weighted by its
    seconds of speech; None when no window had speech."""
    scored = [w for w in windows if w.probs is not None]
    if not scored:
        return None
    return speech_weighted(np.stack([w.probs for w in scored]), np.array([w.speech_s for w in scored]))


def speech_weighted(probs: np.ndarray, speech_s: np.ndarray) -> np.ndarray:
    """(W, C) window probabilities → (C,): their average weighted by each window's seconds of speech
    (at least a millisecond each), the one rule for a clip's voice answer in serving and in training."""
    seconds = np.maximum(np.asarray(speech_s, dtype=np.float64), 1e-3)
    return (np.asarray(probs) * seconds[:, None]).sum(axis=0) / seconds.sum()
