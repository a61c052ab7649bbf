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
