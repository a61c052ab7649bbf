"""The service under test: the real app (lifespan, model, middleware) behind its HTTP test client,
and clips written by the project's own writer with contents the tests can predict."""

from __future__ import annotations

import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from mmer import media
from mmer_api.main import create_app
from mmer_api.settings import ENV_PREFIX, Settings
from tests.helpers import tone

FPS = 15


def astronaut(width: int = 320, height: int = 240) -> np.ndarray:
    """scikit-image's astronaut (a real, smiling face), letterboxed into ``width`` × ``height``."""
    from skimage import data

    picture = data.astronaut()
    side = min(width, height)
    face = cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA)
    frame = np.zeros((height, width, 3), np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    frame[top:top + side, left:left + side] = face
    return frame


def write_clip(path: Path, picture: np.ndarray, seconds: float, *, sound: bool = True, fps: int = FPS) -> Path:
    frames = [picture] * max(1, round(seconds * fps))
    media.write_video(path, frames, fps, audio=tone(seconds) if sound else None)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every clip the API tests send, written once per session (all small: ≤ 3 s, ≤ 320 px, 15 fps)."""
    root = tmp_path_factory.mktemp("api-clips")
    face = astronaut()
    grey = np.full((240, 320, 3), 128, np.uint8)
    paths = {
        "astronaut": write_clip(root / "astronaut.mp4", face, 3.0),
        "silent": write_clip(root / "silent.mp4", face, 2.0, sound=False),
        "no_face": write_clip(root / "grey.mp4", grey, 2.0),
        "one_frame": write_clip(root / "one_frame.mp4", face, 1 / FPS, sound=False),
        "large_frame": write_clip(root / "large.mp4", astronaut(640, 480), 0.4, sound=False),
    }
    # Noise does not compress: a valid video of a few hundred kB, for the size limits.
    rng = np.random.default_rng(0)
    noisy = [np.clip(face + rng.normal(0, 25, face.shape), 0, 255).astype(np.uint8) for _ in range(FPS)]
    paths["noisy"] = root / "noisy.mp4"
    media.write_video(paths["noisy"], noisy, FPS, audio=tone(1.0))
    whole = paths["astronaut"].read_bytes()
    paths["truncated"] = root / "truncated.mp4"
    paths["truncated"].write_bytes(whole[: len(whole) // 2])
    paths["text"] = root / "notes.mp4"
    paths["text"].write_text("These are meeting notes, not a video.\n" * 20)
    paths["empty_wav"] = root / "empty.wav"
    # A header and no samples (the project's writer writes nothing at all for zero samples).
    with wave.open(str(paths["empty_wav"]), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(media.AUDIO_SAMPLE_RATE)
    return paths


def upload(path: Path, name: str | None = None, content_type: str = "video/mp4") -> dict[str, Any]:
    """The multipart ``files=`` argument for one video."""
    return {"file": (name or path.name, path.read_bytes(), content_type)}


@pytest.fixture
def service_env(fer_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment holding the converted face-model weights and no other MMER_ setting."""
    for field in Settings.model_fields:
        monkeypatch.delenv(f"{ENV_PREFIX}{field.upper()}", raising=False)
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    return fer_cache


@pytest.fixture
def make_client(service_env: Path) -> Iterator[Callable[..., TestClient]]:
    """``make_client(**settings)`` → a started TestClient (lifespan run, model loaded); closed after the test."""
    opened: list[TestClient] = []

    def make(*, raise_server_exceptions: bool = True, **settings: Any) -> TestClient:
        client = TestClient(create_app(Settings(**settings)), raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """The service with its defaults: the embedded face model."""
    return make_client()
