"""``--modality``: indexing audio-only clips (RAVDESS modality 03, CREMA-D AudioWAV) beside, or instead
of, videos, with a report of every file not taken that stays complete and says why."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from mmer import cli
from mmer.datasets import (
    AUDIO_ONLY,
    AUDIO_VIDEO,
    CORE_COLUMNS,
    VIDEO_ONLY,
    build_manifest,
    chosen_modalities,
    merge_manifests,
    read_manifest,
    scan,
)
from mmer.datasets.ravdess import EXTRA_COLUMNS as RAVDESS_EXTRAS
from mmer.labels import RAVDESS_EMOTIONS
from tests.helpers import touch


def speech_names(actor: int, modality: str = "03", ext: str = ".wav") -> list[str]:
    """Every speech name one RAVDESS actor has for a modality (60: 4 neutral + 8 × 7 other emotions)."""
    return [f"{modality}-01-{emotion}-{intensity}-{statement}-{rep}-{actor:02d}{ext}"
            for emotion in RAVDESS_EMOTIONS for intensity in (["01"] if emotion == "01" else ["01", "02"])
            for statement in ("01", "02") for rep in ("01", "02")]


def test_modality_choices() -> None:
    assert chosen_modalities() == {AUDIO_VIDEO}
    assert chosen_modalities("audio-only") == {AUDIO_ONLY}
    assert chosen_modalities("all") == {AUDIO_VIDEO, VIDEO_ONLY, AUDIO_ONLY}
    assert chosen_modalities("audio-video", include_video_only=True) == {AUDIO_VIDEO, VIDEO_ONLY}
    with pytest.raises(ValueError, match="modality must be one of audio-video, audio-only, video-only, all"):
        chosen_modalities("audio")  # the CLI's short spelling is the CLI's, not the library's


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".WAV", ".Flac", ".MP3"])
def test_audio_only_clips_are_taken_from_every_sound_container(tmp_path: Path, ext: str) -> None:
    touch(tmp_path, f"Actor_07/03-01-05-02-02-01-07{ext}")
    (record,), skipped = scan("ravdess", tmp_path, modality="audio-only")
    assert skipped == []
    assert (record.clip_id, record.actor, record.label, record.source_emotion, record.intensity) == (
        "03-01-05-02-02-01-07", "ravdess_07", "ANG", "angry", "strong")
    assert record.extra == {"modality": "audio-only", "vocal_channel": "speech", "statement": "02",
                            "repetition": "01", "gender": "male"}


# Under an audio-only scan: each file and the reason it is not taken (None: taken).
AUDIO_SCAN = {
    "Actor_01/03-01-03-01-01-01-01.wav": None,
    "Actor_02/03-01-04-02-01-01-02.flac": None,
    "Actor_01/03-01-08-01-01-01-01.wav": "dropped_emotion",  # surprised, as in every modality
    "Actor_01/01-01-08-01-01-01-01.mp4": "dropped_emotion",  # a surprised video is still "dropped", first
    "Actor_01/01-01-03-01-01-01-01.mp4": "excluded",  # a video when only audio is asked for
    "Actor_01/02-01-03-01-01-01-01.mp4": "excluded",
    "Actor_01/01-01-04-01-01-01-01.wav": "excluded",  # a sound file named as an audio-video clip
    "Actor_01/03-01-05-01-01-01-01.mp4": "excluded",  # an audio-only name on a video container
    "Actor_01/03-02-03-01-01-01-01.wav": "excluded",  # song
    "Actor_01/03-01-03-01-01-01.wav": "bad_name",
    "Actor_01/03-01-09-01-01-01-01.flac": "unknown_code",
    "Actor_01/._03-01-03-01-01-01-01.wav": "non_video",  # AppleDouble sidecar
    "Actor_01/notes.txt": "non_video",
    "copy/03-01-03-01-01-01-01.mp3": "duplicate",
}


def test_an_audio_only_scan_reports_every_file_it_does_not_take(tmp_path: Path) -> None:
    for rel in AUDIO_SCAN:
        touch(tmp_path, rel)
    records, skipped = scan("ravdess", tmp_path, modality="audio-only")
    assert sorted(r.path.relative_to(tmp_path).as_posix() for r in records) == sorted(
        rel for rel, reason in AUDIO_SCAN.items() if reason is None)
    assert sorted((s.path.relative_to(tmp_path).as_posix(), s.reason) for s in skipped) == sorted(
        (rel, reason) for rel, reason in AUDIO_SCAN.items() if reason is not None)
    detail = {s.path.relative_to(tmp_path).as_posix(): s.detail for s in skipped}
    assert "audio-video (modality 01) is not among the modalities asked for (audio-only)" in \
        detail["Actor_01/01-01-03-01-01-01-01.mp4"]
    assert "--modality video-only or all" in detail["Actor_01/02-01-03-01-01-01-01.mp4"]
    assert "is a sound file" in detail["Actor_01/01-01-04-01-01-01-01.wav"]
    assert "is a video container" in detail["Actor_01/03-01-05-01-01-01-01.mp4"]
    assert "song" in detail["Actor_01/03-02-03-01-01-01-01.wav"]
    assert ".flac" in detail["Actor_01/notes.txt"] and ".mp4" not in detail["Actor_01/notes.txt"]


def test_the_default_scan_is_unchanged_and_points_at_the_option(tmp_path: Path) -> None:
    touch(tmp_path, "Actor_01/01-01-03-01-01-01-01.mp4")
    touch(tmp_path, "Actor_01/03-01-03-01-01-01-01.flac")
    (record,), (skipped,) = scan("ravdess", tmp_path)
    assert record.extra["modality"] == "audio-video"
    assert skipped.reason == "non_video" and "--modality audio-only" in skipped.detail


def test_all_takes_every_modality_and_still_honours_include_song(tmp_path: Path) -> None:
    for name in ("01-01-03-01-01-01-01.mp4", "02-01-03-01-01-01-01.avi", "03-01-03-01-01-01-01.wav",
                 "03-02-03-01-01-01-01.wav"):
        touch(tmp_path, name)
    records, skipped = scan("ravdess", tmp_path, modality="all")
    assert [r.extra["modality"] for r in records] == ["audio-video", "video-only", "audio-only"]
    assert [s.reason for s in skipped] == ["excluded"]
    records, skipped = scan("ravdess", tmp_path, modality="all", include_song=True)
    assert len(records) == 4 and skipped == []


def test_a_full_audio_only_speech_tree(tmp_path: Path) -> None:
    """The layout of ../shared/data/ravdess-speech-16k: 24 actors × 60 FLAC files."""
    for actor in range(1, 25):
        for name in speech_names(actor, ext=".flac"):
            touch(tmp_path / "data", f"Actor_{actor:02d}/{name}")
    summary = build_manifest("ravdess", tmp_path / "data", tmp_path / "voice.csv", modality="audio-only")
    assert (summary.clips, summary.actors) == (1248, 24)
    assert summary.skipped == {"dropped_emotion": 192}
    assert summary.labels == {"NEU": 288, "HAP": 192, "SAD": 192, "ANG": 192, "FEA": 192, "DIS": 192}
    assert summary.split_actors == {"train": 16, "val": 4, "test": 4}
    with open(tmp_path / "voice.csv", newline="") as fh:
        assert next(csv.reader(fh)) == [*CORE_COLUMNS, *RAVDESS_EXTRAS]
    records = read_manifest(tmp_path / "voice.csv")
    assert {r.extra["modality"] for r in records} == {"audio-only"}
    assert all(r.resolved_path.suffix == ".flac" and r.resolved_path.is_file() for r in records)
    # Each actor lands in one split only, with all of their clips.
    split_of = {}
    for r in records:
        assert split_of.setdefault(r.actor, r.split) == r.split
    assert Counter(r.actor for r in records) == {f"ravdess_{a:02d}": 52 for a in range(1, 25)}
    # The same take as a video and as a sound file are two clips (the modality is in the name).
    for name in speech_names(1, modality="01", ext=".mp4"):
        touch(tmp_path / "data", f"Actor_01/{name}")
    both = build_manifest("ravdess", tmp_path / "data", tmp_path / "all.csv", modality="all")
    assert both.clips == 1248 + 52 and both.skipped == {"dropped_emotion": 192 + 8}


def test_cremad_sound_files_are_audio_only_clips(tmp_path: Path) -> None:
    touch(tmp_path, "AudioWAV/1001_DFA_ANG_XX.wav")
    touch(tmp_path, "AudioWAV/1002_IEO_HAP_HI.wav")
    touch(tmp_path, "VideoFlash/1001_DFA_ANG_XX.flv")
    records, skipped = scan("cremad", tmp_path, modality="audio-only")
    assert [(r.clip_id, r.extra) for r in records] == [
        ("1001_DFA_ANG_XX", {"sentence": "DFA", "level": "XX", "modality": "audio-only"}),
        ("1002_IEO_HAP_HI", {"sentence": "IEO", "level": "HI", "modality": "audio-only"})]
    assert [(s.path.name, s.reason) for s in skipped] == [("1001_DFA_ANG_XX.flv", "excluded")]
    assert "AudioWAV" in skipped[0].detail
    # The default is unchanged: the videos, and the sound files reported as not videos.
    records, skipped = scan("cremad", tmp_path)
    assert [r.path.name for r in records] == ["1001_DFA_ANG_XX.flv"] and "modality" not in records[0].extra
    assert [s.reason for s in skipped] == ["non_video", "non_video"]
    for modality in ("all", "video-only"):
        with pytest.raises(ValueError, match="share their names"):
            scan("cremad", tmp_path, modality=modality)


def test_audio_only_manifests_merge_with_video_ones(tmp_path: Path) -> None:
    touch(tmp_path / "ravdess", "Actor_01/03-01-03-01-01-01-01.flac")
    touch(tmp_path / "ravdess", "Actor_02/03-01-04-01-01-01-02.flac")
    touch(tmp_path / "ravdess", "Actor_01/01-01-03-01-01-01-01.mp4")
    touch(tmp_path / "cremad", "AudioWAV/1001_DFA_ANG_XX.wav")
    touch(tmp_path / "cremad", "AudioWAV/1002_DFA_SAD_XX.wav")
    build_manifest("ravdess", tmp_path / "ravdess", tmp_path / "a" / "ravdess-voice.csv", modality="audio-only")
    build_manifest("ravdess", tmp_path / "ravdess", tmp_path / "a" / "ravdess-av.csv")
    build_manifest("cremad", tmp_path / "cremad", tmp_path / "b" / "cremad-voice.csv", modality="audio-only")
    merged = merge_manifests([tmp_path / "a" / "ravdess-voice.csv", tmp_path / "b" / "cremad-voice.csv",
                              tmp_path / "a" / "ravdess-av.csv"], tmp_path / "c" / "all.csv")
    assert [r.clip_id for r in merged] == ["03-01-03-01-01-01-01", "03-01-04-01-01-01-02", "1001_DFA_ANG_XX",
                                           "1002_DFA_SAD_XX", "01-01-03-01-01-01-01"]
    read = read_manifest(tmp_path / "c" / "all.csv")
    assert [r.extra.get("modality") for r in read] == ["audio-only"] * 4 + ["audio-video"]
    assert all(r.resolved_path.is_file() for r in read)


def test_the_manifest_command_takes_modality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in speech_names(3, ext=".wav") + speech_names(4, ext=".wav"):
        touch(tmp_path / "data", name)
    for spelling in ("audio", "audio-only", "AUDIO"):
        assert cli.main(["manifest", "ravdess", str(tmp_path / "data"), "--modality", spelling, "-o",
                         str(tmp_path / "m.csv"), "--val-fraction", "0.5", "--test-fraction", "0"]) == 0
        assert capsys.readouterr().out.startswith("ravdess: 104 clips from 2 actors")
    assert cli.main(["manifest", "ravdess", str(tmp_path / "data"), "-o", str(tmp_path / "n.csv")]) == 2
    assert "--modality audio-only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["manifest", "ravdess", str(tmp_path / "data"), "--modality", "face"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'face'" in capsys.readouterr().err


# --- the real corpus (skips where ../shared/data is absent) -------------------------------------------


@pytest.fixture(scope="module")
def ravdess_speech(request: pytest.FixtureRequest) -> Path:
    root = request.getfixturevalue("shared_data") / "ravdess-speech-16k"
    if not root.is_dir():
        pytest.skip(f"RAVDESS speech audio not found at {root}")
    return root


def test_the_real_ravdess_speech_audio(ravdess_speech: Path, tmp_path: Path) -> None:
    summary = build_manifest("ravdess", ravdess_speech, tmp_path / "voice.csv", modality="audio-only")
    assert (summary.clips, summary.actors) == (1248, 24)
    assert summary.skipped == {"dropped_emotion": 192}
    assert summary.labels == {"NEU": 288, "HAP": 192, "SAD": 192, "ANG": 192, "FEA": 192, "DIS": 192}
    assert summary.split_actors == {"train": 16, "val": 4, "test": 4}
    assert summary.split_clips == {"train": 832, "val": 208, "test": 208}
    records = read_manifest(tmp_path / "voice.csv")
    actors_in = {s: {r.actor for r in records if r.split == s} for s in ("train", "val", "test")}
    assert not (actors_in["train"] & actors_in["val"] or actors_in["train"] & actors_in["test"]
                or actors_in["val"] & actors_in["test"])
    # The split hashes actor ids only, so it is the one a RAVDESS audio-video manifest gets at this seed:
    # a voice model and a face+voice model are tested on the same four actors (two men, two women here).
    assert sorted(actors_in["test"]) == ["ravdess_02", "ravdess_03", "ravdess_04", "ravdess_09"]
    assert sorted(actors_in["val"]) == ["ravdess_13", "ravdess_17", "ravdess_22", "ravdess_24"]
    assert all(r.resolved_path.is_file() for r in records)
    with pytest.raises(Exception, match="--modality audio-only"):  # the default (videos) finds none here
        scan("ravdess", ravdess_speech)
