"""Real RAVDESS speech audio (4 of its 24 actors) through the shell commands: manifest → audio →
extract-audio (logmel) → train → evaluate, for a voice-only model. Skips where ../shared/data is absent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mmer import cli, media
from mmer.datasets import read_manifest

ACTORS = (1, 2, 3, 4)  # two men (odd), two women (even)
CLIPS_PER_ACTOR = 52  # 60 speech files, less the 8 surprised ones


def run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture
def four_actors(shared_data: Path, tmp_path: Path) -> Path:
    """Links to four actors' FLAC files, in the corpus's own layout (nothing is copied)."""
    source = shared_data / "ravdess-speech-16k"
    if not source.is_dir():
        pytest.skip(f"RAVDESS speech audio not found at {source}")
    root = tmp_path / "ravdess"
    for actor in ACTORS:
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for path in sorted((source / folder.name).glob("*.flac")):
            (folder / path.name).symlink_to(path)
    return root


@pytest.mark.slow
def test_real_speech_audio_to_an_evaluated_voice_only_model(four_actors: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    manifest = work / "voice.csv"
    assert run("manifest", "ravdess", four_actors, "--modality", "audio", "-o", manifest) == 0
    assert capsys.readouterr().out.startswith(f"ravdess: {len(ACTORS) * CLIPS_PER_ACTOR} clips from 4 actors")
    records = read_manifest(manifest)
    assert {r.extra["modality"] for r in records} == {"audio-only"}

    assert run("audio", manifest, "-o", work / "audio", "--workers", 2) == 0
    track = work / "audio" / f"{records[0].clip_id}.wav"
    info = media.probe(track)
    assert info.has_audio and not info.has_video
    samples = media.decode_audio(track)
    assert samples.size == pytest.approx(media.decode_audio(records[0].resolved_path).size, abs=16)
    assert 2.5 < samples.size / media.AUDIO_SAMPLE_RATE < 6  # RAVDESS speech clips are 2.9-5.3 s

    assert run("extract-audio", manifest, "--audio", work / "audio", "-o", work / "features",
               "--backbone", "logmel") == 0
    assert not (work / "features" / "video_features").exists()
    assert run("validate", work / "features", "--manifest", manifest) == 0

    assert run("train", "--manifest", manifest, "--features", work / "features", "-o", work / "runs",
               "--run-id", "voice", "--epochs", 8, "--dim", 32, "--heads", 2, "--batch-size", 16,
               "--learning-rate", 1e-3, "--device", "cpu") == 0
    assert "audio-only model" in capsys.readouterr().out
    run_dir = work / "runs" / "voice"
    for name in ("config.json", "metrics.json", "history.csv", "confusion.png", "curves.png",
                 "model/model.safetensors", "model/config.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    splits = metrics["splits"]
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == [f"ravdess_{a:02d}" for a in ACTORS]
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (2, 1, 1)
    test = metrics["test"]
    assert np.asarray(test["confusion"]).shape == (6, 6)
    assert np.asarray(test["confusion"]).sum() == metrics["clips"]["test"] == CLIPS_PER_ACTOR
    assert 0 <= test["uar"] <= 1 and 0 <= test["war"] <= 1 and math.isfinite(test["calibration"]["ece_after"])
    # A reduced budget (two training actors, a few epochs): a sanity bound, far from the real result.
    assert test["uar"] > 1.5 / 6, test

    checkpoint = json.loads((run_dir / "model" / "config.json").read_text())
    assert checkpoint["backbones"]["video"] is None and checkpoint["backbones"]["audio"]["backbone"] == "logmel"
    assert checkpoint["model"]["modalities"] == ["audio"]
    # Nothing of faces: it reads no video.
    assert set(checkpoint["preprocessing"]) == {"sample_rate", "audio_tracks", "window_s"}
    assert checkpoint["preprocessing"]["sample_rate"] == 16_000
    assert 3.0 < checkpoint["preprocessing"]["window_s"] < 4.5  # RAVDESS speech: about 3.7 s a clip

    assert run("evaluate", run_dir, "--features", work / "features", "--manifest", manifest, "--split", "test",
               "--device", "cpu") == 0
    out = capsys.readouterr().out
    assert "audio-only model" in out and "UAR" in out and "ECE" in out
    evaluation = json.loads((run_dir / "evaluation" / "voice-test" / "metrics.json").read_text())
    assert evaluation["modalities"] == ["audio"]
    assert evaluation["metrics"]["confusion"] == test["confusion"]
    assert (run_dir / "evaluation" / "voice-test" / "confusion.png").is_file()

    # The same voice-only checkpoint serves an upload (MMER_MODEL): an audio file and a video with
    # sound are read from the voice; the served answer of a test clip matches its cached features'.
    from mmer.predictor import FusionPredictor, InputError

    predictor = FusionPredictor(run_dir, device="cpu")
    assert predictor.modalities == ("audio",) and predictor.video_backbone is None
    test_clip = next(r for r in records if r.actor in splits["test"])
    answer = predictor.predict(test_clip.resolved_path).to_dict()
    assert answer["modalities"]["used"] == ["audio"] and answer["modalities"]["missing"] == []
    assert answer["frames_analysed"] == 0 and answer["modalities"]["detail"]["video"] == "not used by this model"
    assert sum(answer["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    silent = tmp_path / "silent.mp4"
    media.write_video(silent, [np.zeros((64, 64, 3), np.uint8)] * 30, 15)
    with pytest.raises(InputError) as caught:
        predictor.predict(silent)
    assert caught.value.code == "no_signal" and "voice only" in str(caught.value)
