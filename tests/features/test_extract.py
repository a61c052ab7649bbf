from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmer.features.audio_stats import LogMelStatsBackbone
from mmer.features.cache import FeatureCache
from mmer.features.extract import extract_audio_features, extract_video_features
from tests.helpers import MeanColour


@pytest.fixture
def features_root(tmp_path: Path) -> Path:
    return tmp_path / "features"


def test_video_features_are_the_backbones_output_on_the_crops_mmer_crop_writes(prepared_ravdess: dict[str, Path],
                                                                              features_root: Path) -> None:
    """Features come from the clips and their boxes; `mmer crop`'s lossless clips hold the very same pixels."""
    from mmer import media

    backbone = MeanColour(num_frames=4)
    report = extract_video_features(prepared_ravdess["manifest"], prepared_ravdess["boxes"], features_root, backbone,
                                    face_size=64, batch_size=5)

    assert report.ok and len(report.done) == 18
    assert backbone.calls == [5, 5, 5, 3]
    cache = FeatureCache(features_root, "video")
    for clip_id in report.done[:3]:
        stored = cache.read(clip_id)
        assert stored.dtype == np.float16 and stored.shape == (4, 3)
        frames = media.sample_frames(prepared_ravdess["faces"] / f"{clip_id}.mkv", 4).frames
        np.testing.assert_allclose(stored, frames.reshape(4, -1, 3).mean(1) / 255.0, atol=1e-3)
    meta = json.loads((features_root / "video_features" / "features.json").read_text())
    assert meta["backbone"] == "meancolour" and meta["dim"] == 3 and meta["config"]["num_frames"] == 4
    faces = meta["config"]["faces"]
    assert faces["detector"] == "mtcnn" and faces["every"] == 1 and faces["face_size"] == 64
    assert {"max_gap", "smooth_window", "face_margin", "detector_options"} <= set(faces)
    assert json.loads((features_root / "features.json").read_text())["video"]["config_hash"] == meta["config_hash"]
    assert set(cache.seconds()) == set(report.done) and all(1.0 < s < 3.0 for s in cache.seconds().values())


def test_rerun_resumes_and_a_settings_change_reextracts(prepared_ravdess: dict[str, Path],
                                                        features_root: Path) -> None:
    args = (prepared_ravdess["manifest"], prepared_ravdess["boxes"], features_root)
    extract_video_features(*args, MeanColour(num_frames=4), face_size=32)

    again = extract_video_features(*args, MeanColour(num_frames=4), face_size=32)
    assert again.done == [] and len(again.already_done) == 18

    changed = extract_video_features(*args, MeanColour(num_frames=6), face_size=32)
    assert len(changed.done) == 18
    assert FeatureCache(features_root, "video").read(changed.done[0]).shape == (6, 3)
    regeometry = extract_video_features(*args, MeanColour(num_frames=6), face_size=32, face_margin=0.5)
    assert len(regeometry.done) == 18
    aligned = extract_video_features(*args, MeanColour(num_frames=6), face_size=32, face_margin=0.5, align=True)
    assert len(aligned.done) == 18
    meta = json.loads((features_root / "video_features" / "features.json").read_text())
    assert meta["config"]["faces"]["align"] is True


def test_aligning_box_files_without_landmarks_says_so(prepared_ravdess: dict[str, Path], tmp_path: Path,
                                                      features_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Box files of a detector without landmarks (or from before they were kept) are cut unaligned,
    with a warning naming the file; those with landmarks (MTCNN's) say nothing."""
    boxes = tmp_path / "boxes"
    shutil.copytree(prepared_ravdess["boxes"], boxes)
    files = sorted(boxes.glob("*.json"))
    assert all(any(f.get("landmarks") for f in json.loads(p.read_text())["frames"]) for p in files)
    data = json.loads(files[0].read_text())
    for frame in data["frames"]:
        frame.pop("landmarks", None)
    files[0].write_text(json.dumps(data))
    with caplog.at_level("WARNING", logger="mmer.features.extract"):
        report = extract_video_features(prepared_ravdess["manifest"], boxes, features_root, MeanColour(),
                                        face_size=32, align=True)
    assert report.ok
    assert f"{files[0].name} has no face landmarks" in caplog.text
    assert not any(p.name in caplog.text for p in files[1:])


def test_a_missing_or_broken_box_file_fails_alone(prepared_ravdess: dict[str, Path], tmp_path: Path,
                                                  features_root: Path) -> None:
    boxes = tmp_path / "boxes"
    shutil.copytree(prepared_ravdess["boxes"], boxes)
    files = sorted(boxes.glob("*.json"))
    files[0].unlink()
    files[1].write_bytes(b"\x00" * 100)

    report = extract_video_features(prepared_ravdess["manifest"], boxes, features_root, MeanColour(), face_size=32,
                                    batch_size=4)

    failed = dict(report.failed)
    assert set(failed) == {files[0].stem, files[1].stem}
    assert "no face boxes" in failed[files[0].stem]
    assert len(report.done) == 16
    assert (features_root / "video_features" / "failures.csv").is_file()


def test_box_files_made_two_ways_are_refused(prepared_ravdess: dict[str, Path], tmp_path: Path,
                                             features_root: Path) -> None:
    boxes = tmp_path / "boxes"
    shutil.copytree(prepared_ravdess["boxes"], boxes)
    first = sorted(boxes.glob("*.json"))[0]
    data = json.loads(first.read_text())
    first.write_text(json.dumps({**data, "every": 3}))

    with pytest.raises(ValueError, match="2 different ways.*mmer faces --overwrite"):
        extract_video_features(prepared_ravdess["manifest"], boxes, features_root, MeanColour())


def test_a_batch_the_model_rejects_is_retried_clip_by_clip(prepared_ravdess: dict[str, Path],
                                                           features_root: Path) -> None:
    from mmer import media

    brightness = {p.stem: media.sample_frames(p, 4).frames.mean() for p in prepared_ravdess["faces"].glob("*.mkv")}
    darkest = sorted(brightness, key=brightness.get)[:2]
    threshold = (brightness[darkest[1]] + sorted(brightness.values())[2]) / 2
    backbone = MeanColour(fail_below=threshold)

    report = extract_video_features(prepared_ravdess["manifest"], prepared_ravdess["boxes"], features_root, backbone,
                                    face_size=64, batch_size=6)

    assert sorted(report.failed) == sorted((cid, "too dark") for cid in darkest)
    assert len(report.done) == 16


def test_audio_features_with_the_offline_backbone(prepared_ravdess: dict[str, Path], features_root: Path) -> None:
    report = extract_audio_features(prepared_ravdess["manifest"], prepared_ravdess["audio"], features_root,
                                    LogMelStatsBackbone(), batch_size=4)
    assert report.ok and len(report.done) == 18
    vector = FeatureCache(features_root, "audio").read(report.done[0])
    assert vector.shape == (LogMelStatsBackbone.dim,) and vector.dtype == np.float16


def test_missing_input_folders_are_user_errors(prepared_ravdess: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="mmer faces"):
        extract_video_features(prepared_ravdess["manifest"], tmp_path / "nope", tmp_path, MeanColour())
    with pytest.raises(FileNotFoundError, match="mmer audio"):
        extract_audio_features(prepared_ravdess["manifest"], tmp_path / "nope", tmp_path, LogMelStatsBackbone())
