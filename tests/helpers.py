"""Small builders of test media whose contents the tests can predict."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mmer import media
from mmer.features.base import VideoBackbone


def index_frames(count: int, width: int = 64, height: int = 48, step: int = 6) -> list[np.ndarray]:
    """Frames whose uniform grey level encodes their index (index * step), so a test can tell which
    frame a sampler returned even after lossy encoding."""
    return [np.full((height, width, 3), (k * step) % 256, np.uint8) for k in range(count)]


def tone(seconds: float, rate: int = media.AUDIO_SAMPLE_RATE, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class MeanColour(VideoBackbone):
    """A transparent stand-in model: each frame's mean RGB. Lets the tests predict every output."""

    name = "meancolour"
    source = "test"
    dim = 3

    def __init__(self, num_frames: int = 4, fail_below: float | None = None) -> None:
        self.num_frames = num_frames
        self.fail_below = fail_below
        self.calls: list[int] = []

    def embed(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        self.calls.append(len(clips))
        if self.fail_below is not None and any(c.mean() < self.fail_below for c in clips):
            raise RuntimeError("too dark")
        return [c.reshape(c.shape[0], -1, 3).mean(1) / 255.0 for c in clips]


def copy_with_weights(src: Path, dst: Path, edit: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]) -> Path:
    """A copy of a save_pretrained checkpoint whose safetensors went through ``edit`` (e.g. a weight removed)."""
    shutil.copytree(src, dst)
    tensors = load_file(str(dst / "model.safetensors"))
    save_file(edit(tensors), str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def touch(root: Path, rel: str) -> Path:
    """An empty stand-in file at ``root / rel`` (dataset scanners read names, never contents)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded")
    return path


def face_with_voice(path: Path, voice: np.ndarray | None, seconds: float | None = None, *, offset: float = 0.0,
                    fps: int = 15, size: int = 240) -> Path:
    """A real face (scikit-image's smiling astronaut, moving a pixel a frame) for ``seconds``
    (default: the voice's length after ``offset``), with ``voice`` (16 kHz) starting at ``offset``;
    silent when ``voice`` is None."""
    import cv2
    from skimage import data

    rate = media.AUDIO_SAMPLE_RATE
    if seconds is None:
        if voice is None:
            raise ValueError("give seconds for a clip without a voice")
        seconds = len(voice) / rate + offset
    sound = None
    if voice is not None:
        sound = np.zeros(int(seconds * rate), np.float32)
        start = int(offset * rate)
        piece = voice[: len(sound) - start]
        sound[start:start + len(piece)] = piece
    picture = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    frames = [np.roll(picture, i % 5, axis=1) for i in range(int(seconds * fps))]
    media.write_video(path, frames, fps, audio=sound)
    return path
