from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmer.features.audio_stats import LogMelStatsBackbone
from mmer.features.cache import FeatureCache
from mmer.features.extract import extract_audio_features, extract_video_features
from mmer.features.validate import validate_features
from tests.helpers import MeanColour


@pytest.fixture
def cache_root(prepared_ravdess: dict[str, Path], tmp_path: Path) -> Path:
    root = tmp_path / "features"
    extract_video_features(prepared_ravdess["manifest"], prepared_ravdess["boxes"], root, MeanColour(), face_size=32)
    extract_audio_features(prepared_ravdess["manifest"], prepared_ravdess["audio"], root, LogMelStatsBackbone())
    return root


def test_a_complete_cache_passes_with_counts_per_class(cache_root: Path, prepared_ravdess: dict[str, Path]) -> None:
    report = validate_features(cache_root, prepared_ravdess["manifest"])
    assert report.ok, report.text()
    text = report.text()
    assert "video: 18 clips" in text and "audio: 18 clips" in text
    assert "video per class: NEU 3, HAP 3, SAD 3, ANG 3, FEA 3, DIS 3" in text


def test_every_kind_of_problem_is_listed(cache_root: Path, prepared_ravdess: dict[str, Path]) -> None:
    video, audio = FeatureCache(cache_root, "video"), FeatureCache(cache_root, "audio")
    ids = video.clip_ids()
    audio.path(ids[0]).unlink()  # missing modality
    np.save(video.path(ids[1]), np.zeros((4, 5), np.float16))  # wrong shape
    np.save(video.path(ids[2]), np.zeros((4, 3), np.float32))  # wrong dtype
    np.save(video.path(ids[3]), np.full((4, 3), np.nan, np.float16))  # NaN
    with open(audio.index_path, "a") as fh:  # made with other settings
        fh.write(json.dumps({"clip_id": ids[4], "config_hash": "0ld", "shape": [269]}) + "\n")

    report = validate_features(cache_root, prepared_ravdess["manifest"])

    assert not report.ok
    problems = "\n".join(report.problems)
    assert f"clips with video but no audio features: {ids[0]}" in problems
    assert f"{ids[1]} (4, 5)" in problems
    assert f"{ids[2]} (float32)" in problems
    assert f"NaN or inf values: {ids[3]}" in problems
    assert "stale" in problems and ids[4] in problems
    assert f"audio: manifest clips without features: {ids[0]}" in problems


def test_a_hand_edited_config_is_reported(cache_root: Path) -> None:
    meta_path = FeatureCache(cache_root, "video").meta_path
    meta = json.loads(meta_path.read_text())
    meta["config"]["num_frames"] = 99
    meta_path.write_text(json.dumps(meta))
    assert any("does not match its config" in p for p in validate_features(cache_root).problems)


def test_an_empty_or_missing_root(tmp_path: Path) -> None:
    assert "neither video_features" in validate_features(tmp_path).problems[0]
    with pytest.raises(FileNotFoundError):
        validate_features(tmp_path / "nope")
