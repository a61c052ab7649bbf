"""Synthetic RAVDESS/CREMA-D look-alikes: real face, voice-like sound, real file names.

The datasets cannot ship with the project, yet every stage from manifest to trained model
needs clips to run on. These clips use a real photograph (scikit-image's astronaut) so face
detectors find a face, and both the picture's motion/brightness and the voice's pitch,
loudness and rhythm depend on the emotion, so a model can learn from either modality.
Each actor gets its own voice pitch and background, so actor-independent splits matter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mmer.errors import InvalidValue
from mmer.labels import CLASSES
from mmer.media import VideoWriter

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Style:
    """How one emotion looks and sounds in the synthetic clips."""

    f0: float  # voice pitch, Hz
    glide: float  # pitch change over the clip, fraction of f0
    loudness: float  # peak amplitude
    syllables: float  # syllables per second
    brightness: float  # multiplier on the face picture
    motion: float  # head movement amplitude, pixels
    motion_hz: float  # head movement frequency
    zoom: float  # extra face scale


STYLES: dict[str, Style] = {
    "NEU": Style(f0=120, glide=0.00, loudness=0.30, syllables=3.0, brightness=1.00, motion=2, motion_hz=0.5,
                 zoom=1.00),
    "HAP": Style(f0=230, glide=0.25, loudness=0.45, syllables=4.5, brightness=1.25, motion=6, motion_hz=2.0,
                 zoom=1.05),
    "SAD": Style(f0=100, glide=-0.20, loudness=0.18, syllables=2.0, brightness=0.70, motion=3, motion_hz=0.3,
                 zoom=0.92),
    "ANG": Style(f0=180, glide=0.05, loudness=0.70, syllables=5.5, brightness=0.95, motion=10, motion_hz=4.0,
                 zoom=1.12),
    "FEA": Style(f0=280, glide=0.35, loudness=0.35, syllables=6.0, brightness=0.85, motion=5, motion_hz=6.0,
                 zoom=0.96),
    "DIS": Style(f0=140, glide=-0.10, loudness=0.40, syllables=2.5, brightness=0.80, motion=4, motion_hz=1.0,
                 zoom=1.08),
}

# Naming: which dataset codes can express each of our classes.
_RAVDESS_CODES = {"NEU": ["01", "02"], "HAP": ["03"], "SAD": ["04"], "ANG": ["05"], "FEA": ["06"], "DIS": ["07"]}
_CREMAD_SENTENCES = ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"]
_CREMAD_LEVELS = ["LO", "MD", "HI", "XX"]
DATASETS = ("ravdess", "cremad")


def _face_picture() -> np.ndarray:
    """Head and shoulders from scikit-image's astronaut photograph (RGB)."""
    from skimage import data

    return data.astronaut()[20:260, 120:330]


def ravdess_names(actor: int, n: int) -> Iterator[tuple[str, str]]:
    """(class, relative path) for ``n`` clips per class of one RAVDESS actor."""
    for abbr in CLASSES:
        combos = []
        for code in _RAVDESS_CODES[abbr]:
            intensities = ["01"] if code == "01" else ["01", "02"]
            combos += [(code, i, s, r) for i in intensities for s in ("01", "02") for r in ("01", "02")]
        if n > len(combos):
            raise InvalidValue(f"RAVDESS names allow at most {len(combos)} clips per class per actor for {abbr}")
        # Interleave codes (neutral/calm) so small n still covers both.
        combos.sort(key=lambda c: (c[2], c[3], c[1], c[0]))
        for code, intensity, statement, rep in combos[:n]:
            yield abbr, f"Actor_{actor:02d}/01-01-{code}-{intensity}-{statement}-{rep}-{actor:02d}.mp4"


def cremad_names(actor: int, n: int) -> Iterator[tuple[str, str]]:
    """(class, file name) for ``n`` clips per class of one CREMA-D actor."""
    for abbr in CLASSES:
        levels = ["XX"] if abbr == "NEU" else _CREMAD_LEVELS
        combos = [(s, lv) for lv in levels for s in _CREMAD_SENTENCES]
        if n > len(combos):
            raise InvalidValue(f"CREMA-D names allow at most {len(combos)} clips per class per actor for {abbr}")
        for sentence, level in combos[:n]:
            yield abbr, f"{actor}_{sentence}_{abbr}_{level}.flv"


def voice(style: Style, seconds: float, pitch_scale: float, rng: np.random.Generator) -> np.ndarray:
    """A voice-like signal: harmonic source with an intonation glide, syllable envelope, breath noise."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = style.f0 * pitch_scale * (1 + style.glide * t / seconds) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    source = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 9))
    envelope = np.clip(np.sin(np.pi * style.syllables * t + rng.uniform(0, np.pi)), 0, None) ** 0.6
    fade = np.minimum(1, np.minimum(t, seconds - t) / 0.05)
    signal = source * envelope * fade + 0.02 * rng.standard_normal(t.size)
    return (style.loudness * signal / np.max(np.abs(signal))).astype(np.float32)


def frames(style: Style, seconds: float, fps: int, size: tuple[int, int], background: tuple[int, int, int],
           rng: np.random.Generator, *, face: bool = True) -> Iterator[np.ndarray]:
    """The face picture moving, scaling and lit according to ``style`` over a plain background
    (only the background, with the same sensor noise, when ``face`` is False)."""
    width, height = size
    picture = _face_picture().astype(np.float32)
    base_scale = 0.75 * height / picture.shape[0]
    phase = rng.uniform(0, 2 * np.pi)
    for i in range(int(round(seconds * fps))):
        t = i / fps
        wave = np.sin(2 * np.pi * style.motion_hz * t + phase)
        scale = base_scale * (style.zoom + 0.03 * wave)
        fh, fw = int(picture.shape[0] * scale), int(picture.shape[1] * scale)
        patch = cv2.resize(picture, (fw, fh), interpolation=cv2.INTER_AREA) * style.brightness
        canvas = np.empty((height, width, 3), np.float32)
        canvas[:] = background
        x = int((width - fw) / 2 + style.motion * wave)
        y = int(height - fh + style.motion * 0.5 * np.cos(2 * np.pi * style.motion_hz * t + phase))
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + fw, width), min(y + fh, height)
        if face:
            canvas[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
        canvas += rng.normal(0, 2.0, canvas.shape)  # sensor noise: no two frames identical
        yield np.clip(canvas, 0, 255).astype(np.uint8)


def write_sample_clip(
    path: Path,
    *,
    emotion: str = "HAP",
    seconds: float = 3.0,
    size: tuple[int, int] = (640, 480),
    fps: int = 25,
    audio: bool = True,
    face: bool = True,
    seed: int = 0,
) -> Path:
    """One clip to try the service or page with: the face (or, with ``face=False``, only the backdrop)
    styled as ``emotion``, with the voice-like sound unless ``audio=False``. The file appears only when complete."""
    if emotion not in STYLES:
        raise InvalidValue(f"unknown emotion {emotion!r}; expected one of {', '.join(CLASSES)}")
    if seconds <= 0 or fps <= 0 or min(size) < 16:
        raise InvalidValue("seconds and fps must be positive and the frame at least 16×16")
    rng = np.random.default_rng(seed)
    style = STYLES[emotion]
    background = (90, 110, 130)
    with VideoWriter(path, fps, size[0], size[1], audio_rate=SAMPLE_RATE if audio else None) as writer:
        for image in frames(style, seconds, fps, size, background, rng, face=face):
            writer.write(image)
        if audio:
            writer.write_audio(voice(style, seconds, 1.0, rng))
    return path


def make_sample_data(
    out: Path,
    dataset: str,
    *,
    clips_per_class: int = 2,
    actors: int = 4,
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> list[Path]:
    """Write clips named as ``dataset`` names its files; returns their paths. Existing files are kept."""
    if dataset not in DATASETS:
        raise InvalidValue(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if clips_per_class < 1 or actors < 1:
        raise InvalidValue("--clips-per-class and --actors must be at least 1")
    if dataset == "ravdess" and actors > 24:
        raise InvalidValue("RAVDESS has 24 actors")
    if dataset == "cremad" and actors > 91:
        raise InvalidValue("CREMA-D has 91 actors")
    if seconds <= 0 or fps <= 0:
        raise InvalidValue("--seconds and --fps must be positive")
    rng = np.random.default_rng(seed)
    written: list[Path] = []
    for a in range(actors):
        actor = a + 1 if dataset == "ravdess" else 1001 + a
        names = ravdess_names(actor, clips_per_class) if dataset == "ravdess" else cremad_names(actor,
                                                                                               clips_per_class)
        pitch_scale = rng.uniform(0.85, 1.2)
        background = tuple(int(v) for v in rng.integers(40, 200, size=3))
        for abbr, rel in list(names):
            path = out / rel
            clip_rng = np.random.default_rng(rng.integers(2**32))
            if path.exists():
                written.append(path)
                continue
            style = STYLES[abbr]
            with VideoWriter(path, fps, size[0], size[1], audio_rate=SAMPLE_RATE) as writer:
                for image in frames(style, seconds, fps, size, background, clip_rng):
                    writer.write(image)
                writer.write_audio(voice(style, seconds, pitch_scale, clip_rng))
            written.append(path)
    log.info("wrote %d %s clips to %s", len(written), dataset, out)
    return written
