"""Pairing features by clip_id, reporting what is missing, and train-only statistics."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mmer.datasets import DatasetError, read_manifest, write_manifest
from mmer.features.cache import FeatureCache
from mmer.training.data import ABSENT_DIM, feature_statistics, load_features
from mmer.training.sample_features import make_sample_features

SMALL = {"actors": {"ravdess": 2, "cremad": 2}, "clips_per_class": 2, "video_frames": 4, "video_dim": 6,
         "audio_dim": 5}


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    make_sample_features(tmp_path, **SMALL)
    return tmp_path


def test_modalities_are_paired_by_clip_id_not_by_order(cache: Path) -> None:
    manifest = cache / "manifest.csv"
    records = read_manifest(manifest)
    write_manifest(list(reversed(records)), manifest)  # any order of rows gives the same pairs
    # A feature file that sorts first but belongs to no listed clip must not shift the pairing.
    stray = FeatureCache(cache, "audio")
    stray.write("aaa-not-in-manifest", np.zeros(5), stray.meta()["config_hash"])
    features, report = load_features(manifest, cache)
    assert features.clip_ids == [r.clip_id for r in reversed(records)]
    video, audio = FeatureCache(cache, "video"), FeatureCache(cache, "audio")
    for i, clip_id in enumerate(features.clip_ids):
        assert np.array_equal(features.video[i].numpy(), video.read(clip_id))
        assert np.array_equal(features.audio[i, 0].numpy(), audio.read(clip_id))
    assert report.counts()["unlisted_audio"] == 1
    labels = {r.clip_id: r.label_id for r in records}
    assert features.labels.tolist() == [labels[c] for c in features.clip_ids]


def test_missing_modalities_are_kept_marked_absent_and_reported(cache: Path, tmp_path: Path) -> None:
    ids = [r.clip_id for r in read_manifest(cache / "manifest.csv")]
    FeatureCache(cache, "audio").path(ids[0]).unlink()
    FeatureCache(cache, "video").path(ids[1]).unlink()
    FeatureCache(cache, "video").path(ids[2]).unlink()
    FeatureCache(cache, "audio").path(ids[2]).unlink()
    features, report = load_features(cache / "manifest.csv", cache)
    assert ids[2] not in features.clip_ids and len(features) == len(ids) - 1
    first, second = features.clip_ids.index(ids[0]), features.clip_ids.index(ids[1])
    assert features.audio_lengths[first] == 0 and features.video_lengths[first] == 4
    assert features.video_lengths[second] == 0 and features.audio_lengths[second] == 1
    assert torch.count_nonzero(features.video[second]) == 0  # absent means zeros, never a neighbour's features
    assert sorted(report.missing) == sorted([(ids[0], "audio"), (ids[1], "video"), (ids[2], "both")])
    report.write(tmp_path / "missing.csv")
    with open(tmp_path / "missing.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3


def test_features_made_with_other_settings_count_as_missing(cache: Path) -> None:
    ids = [r.clip_id for r in read_manifest(cache / "manifest.csv")]
    audio = FeatureCache(cache, "audio")
    with open(audio.index_path, "a") as fh:  # the clip was re-written by another backbone config
        fh.write(json.dumps({"clip_id": ids[0], "config_hash": "someotherhash", "shape": [5]}) + "\n")
    features, report = load_features(cache / "manifest.csv", cache)
    assert (ids[0], "audio") in report.missing
    assert features.audio_lengths[features.clip_ids.index(ids[0])] == 0


def test_dataset_filter_and_errors(cache: Path, tmp_path: Path) -> None:
    features, _ = load_features(cache / "manifest.csv", cache, dataset="cremad")
    assert set(features.datasets) == {"cremad"} and len(features) == 2 * 6 * 2
    shutil.rmtree(cache / "audio_features")
    with pytest.raises(FileNotFoundError, match="extract-audio"):  # asked for (a checkpoint's), but not there
        load_features(cache / "manifest.csv", cache, modalities=("video", "audio"))
    shutil.rmtree(cache / "video_features")
    with pytest.raises(FileNotFoundError, match="extract-video` and/or `mmer extract-audio"):
        load_features(cache / "manifest.csv", cache)


def test_a_feature_file_of_the_wrong_width_is_an_error(cache: Path) -> None:
    ids = [r.clip_id for r in read_manifest(cache / "manifest.csv")]
    video = FeatureCache(cache, "video")
    np.save(video.path(ids[0]), np.zeros((4, 7), dtype=np.float16))
    with pytest.raises(DatasetError, match="does not match"):
        load_features(cache / "manifest.csv", cache)


def test_a_manifest_with_no_features_is_an_error(cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    make_sample_features(other, actors={"ravdess": 1}, clips_per_class=1, video_dim=6, audio_dim=5, seed=3)
    for modality in ("video", "audio"):
        for path in (other / f"{modality}_features").glob("*.npy"):
            path.unlink()
    with pytest.raises(DatasetError, match="none of the"):
        load_features(other / "manifest.csv", other)


def test_statistics_use_valid_steps_of_present_clips_only(cache: Path) -> None:
    features, _ = load_features(cache / "manifest.csv", cache)
    subset = features.subset([0, 1, 2])
    subset.video_lengths = torch.tensor([4, 2, 0])
    mean, std = feature_statistics(subset, "video")
    rows = torch.cat([subset.video[0, :4], subset.video[1, :2]]).double()
    assert torch.allclose(mean, rows.mean(0).float(), atol=1e-6)
    assert torch.allclose(std, rows.std(0, unbiased=False).float(), atol=1e-6)


def test_without_a_modality_leaves_out_clips_that_had_only_it(cache: Path) -> None:
    features, _ = load_features(cache / "manifest.csv", cache)
    features.audio_lengths[0] = 0
    no_video = features.without("video")
    assert len(no_video) == len(features) - 1
    assert int(no_video.video_lengths.sum()) == 0
    assert int(features.video_lengths.sum()) > 0  # the original is untouched
    with pytest.raises(ValueError, match="video or audio"):
        features.without("face")


# --- one modality ----------------------------------------------------------------------------------


def test_a_root_with_audio_features_only_gives_an_audio_only_set(tmp_path: Path) -> None:
    make_sample_features(tmp_path, **SMALL, modalities=("audio",))
    assert not (tmp_path / "video_features").exists()
    features, report = load_features(tmp_path / "manifest.csv", tmp_path)
    assert features.modalities == ("audio",)
    assert len(features) == len(read_manifest(tmp_path / "manifest.csv")) == report.used
    assert int(features.video_lengths.sum()) == 0 and features.video_dim == ABSENT_DIM
    assert torch.count_nonzero(features.video) == 0
    assert bool((features.audio_lengths == 1).all()) and features.audio_dim == SMALL["audio_dim"]
    assert report.missing == [] and report.counts()["missing_video"] == 0  # absent by design, not missing
    assert features.subset([0, 1]).modalities == ("audio",)
    mean, std = feature_statistics(features, "video")
    assert torch.equal(mean, torch.zeros(ABSENT_DIM)) and torch.equal(std, torch.ones(ABSENT_DIM))
    with pytest.raises(ValueError, match="audio only"):
        features.without("audio")
    assert len(features.without("video")) == len(features)


def test_a_modality_no_manifest_clip_has_is_not_used(cache: Path, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Audio features of audio-only clips extracted into a root that also holds other clips' video
    features: a voice-only set, not an audio-video one whose every clip lacks its video."""
    records = read_manifest(cache / "manifest.csv")
    voice = [dataclasses.replace(r, clip_id=f"voice-{r.clip_id}") for r in records[:12]]
    audio = FeatureCache(cache, "audio")
    for r in voice:
        audio.write(r.clip_id, np.ones(SMALL["audio_dim"]), audio.meta()["config_hash"])
    write_manifest(voice, tmp_path / "voice.csv")
    with caplog.at_level("WARNING"):
        features, report = load_features(tmp_path / "voice.csv", cache)
    assert features.modalities == ("audio",) and report.missing == [] and len(features) == 12
    assert "no manifest clip has video features" in caplog.text
    # Asked for explicitly (as a checkpoint that uses both would), video is read and found missing.
    both, report = load_features(tmp_path / "voice.csv", cache, modalities=("video", "audio"))
    assert both.modalities == ("video", "audio") and report.counts()["missing_video"] == 12
