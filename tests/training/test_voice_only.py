"""A voice-only model: a feature root holding audio features only trains, checkpoints, evaluates and
loads as a model that uses audio alone, and its checkpoint says so for the service to read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmer import cli
from mmer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mmer.model import FusionConfig, MultimodalEmotionModel
from mmer.training.data import ABSENT_DIM, MISSING_FILE
from mmer.training.evaluate import evaluate_checkpoint
from mmer.training.sample_features import make_sample_features
from mmer.training.trainer import RunResult, train
from tests.training.conftest import SIGNAL, SMALL, small_config


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Planted-signal audio features of 6 actors, and no video_features/ folder at all. One 16-d vector
    per clip carries less than the two modalities together, so its signal is planted stronger."""
    root = tmp_path_factory.mktemp("voice")
    make_sample_features(root, signal={"audio": 2 * SIGNAL}, modalities=("audio",), **SMALL)
    return root


@pytest.fixture(scope="module")
def voice_run(voice: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return train(small_config(voice, tmp_path_factory.mktemp("runs")))


def test_voice_only_features_train_a_model_that_records_it_uses_audio_only(voice_run: RunResult) -> None:
    assert voice_run.metrics["test"]["uar"] >= 0.9, voice_run.metrics["test"]
    assert voice_run.metrics["modalities"] == ["audio"]
    run_dir = voice_run.run_dir
    assert not (run_dir / MISSING_FILE).exists()  # video is absent by design, not missing per clip
    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert config["format_version"] == 2
    assert config["model"]["modalities"] == ["audio"]
    assert config["backbones"]["video"] is None
    assert config["backbones"]["audio"]["backbone"] == "synthetic"
    assert config["backbones"]["audio"]["dim"] == SMALL["audio_dim"]
    assert config["model"]["fusion"]["video_dim"] == ABSENT_DIM
    assert config["preprocessing"] == {"sample_rate": 16_000}  # no frames, no face crops to reproduce
    run_config = json.loads((run_dir / "config.json").read_text())
    assert run_config["backbones"]["video"] is None and run_config["modalities"] == ["audio"]


def test_a_voice_only_checkpoint_answers_from_audio_alone(voice_run: RunResult) -> None:
    checkpoint = load_checkpoint(voice_run.run_dir)
    assert checkpoint.modalities == ("audio",) and checkpoint.backbones["video"] is None
    torch.manual_seed(0)
    audio = torch.randn(3, 1, SMALL["audio_dim"])
    probs = checkpoint.probabilities(None, audio)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    absent = torch.zeros(3, dtype=torch.long)
    # The stand-in video input is never read: any content of length 0 gives the same answer.
    junk = checkpoint.probabilities(100 * torch.randn(3, 1, ABSENT_DIM), audio, absent, None)
    torch.testing.assert_close(probs, junk)


def test_evaluate_a_voice_only_checkpoint(voice_run: RunResult, voice: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    result = evaluate_checkpoint(voice_run.run_dir, voice, voice / "manifest.csv", tmp_path / "eval", split="test")
    assert result["modalities"] == ["audio"]
    assert result["metrics"]["confusion"] == voice_run.metrics["test"]["confusion"]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["modalities"] == ["audio"]
    with pytest.raises(ValueError, match="audio only"):
        evaluate_checkpoint(voice_run.run_dir, voice, voice / "manifest.csv", tmp_path / "e2", drop="audio")

    assert cli.main(["evaluate", str(voice_run.run_dir), "--features", str(voice), "--manifest",
                     str(voice / "manifest.csv"), "--split", "test", "-o", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "audio-only model" in out and "UAR" in out and "ECE" in out
    cli._print_run(voice_run.run_dir, voice_run.metrics)
    assert "audio-only model" in capsys.readouterr().out


def test_a_model_that_uses_video_refuses_a_root_without_video(voice: Path, tmp_path: Path) -> None:
    model = MultimodalEmotionModel(FusionConfig(video_dim=4, audio_dim=SMALL["audio_dim"], dim=8, heads=2))
    identity = {"backbone": "synthetic", "dim": SMALL["audio_dim"]}
    save_checkpoint(tmp_path / "model", model, {"backbones": {"video": {"backbone": "synthetic", "dim": 4},
                                                              "audio": identity}})
    with pytest.raises(CheckpointError, match="holds no video features"):
        evaluate_checkpoint(tmp_path / "model", voice, voice / "manifest.csv", tmp_path / "eval")
