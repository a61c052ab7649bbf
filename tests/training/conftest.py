"""Planted-signal feature caches and one finished training run, shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmer.training.config import TrainConfig
from mmer.training.sample_features import make_sample_features

#: Small enough for a few seconds per run on a 2-core CPU, large enough that chance is far from success.
SMALL = {"video_frames": 8, "video_dim": 32, "audio_dim": 16, "clips_per_class": 8}
#: Class signal strength (noise standard deviations): clear, yet below the spread between actors' offsets.
SIGNAL = 1.5
MODEL = {"dim": 32, "heads": 2, "batch_size": 16, "learning_rate": 1e-3}


def small_config(features: Path, out: Path, **overrides) -> TrainConfig:
    settings = {"epochs": 15, "patience": 6, "run_id": "run", **MODEL, **overrides}
    return TrainConfig(manifest=str(features / "manifest.csv"), features=str(features), out=str(out), **settings)


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both modalities carry the class: 6 RAVDESS-like actors × 6 classes × 8 clips."""
    root = tmp_path_factory.mktemp("planted")
    make_sample_features(root, signal={"video": SIGNAL, "audio": SIGNAL}, **SMALL)
    return root


@pytest.fixture(scope="session")
def video_only_signal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the video features carry the class; the audio features are actor offsets and noise."""
    root = tmp_path_factory.mktemp("video_only")
    make_sample_features(root, signal={"video": SIGNAL, "audio": 0.0}, **SMALL)
    return root


@pytest.fixture(scope="session")
def finished_run(planted: Path, tmp_path_factory: pytest.TempPathFactory):
    """One complete run with attention saved, shared by the tests that only read its outputs."""
    from mmer.training.trainer import train

    return train(small_config(planted, tmp_path_factory.mktemp("runs"), save_attention=True))
