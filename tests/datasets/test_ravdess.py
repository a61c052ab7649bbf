"""RAVDESS file names → records, on real (tiny) files: scanning only reads names."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmer.datasets import (
    BAD_NAME,
    DROPPED_EMOTION,
    EXCLUDED,
    NON_VIDEO,
    UNKNOWN_CODE,
    ClipRecord,
    SkippedFile,
    scan,
)
from mmer.datasets.ravdess import RavdessName, parse_name
from mmer.labels import RAVDESS_EMOTIONS, label_id
from tests.helpers import touch


def one(root: Path, name: str, **options: bool) -> tuple[ClipRecord | None, SkippedFile | None]:
    """Scan a folder holding ``name`` plus one other valid clip (so the scan never comes back empty)."""
    touch(root, name)
    touch(root, "other/01-01-03-01-01-02-24.mp4")
    records, skipped = scan("ravdess", root, **options)
    return ({r.clip_id: r for r in records}.get(Path(name).stem),
            {Path(s.path).name: s for s in skipped}.get(Path(name).name))


@pytest.mark.parametrize("code", [c for c, (_, abbr) in RAVDESS_EMOTIONS.items() if abbr is not None])
def test_every_kept_emotion_code_maps_through_the_labels_table(tmp_path: Path, code: str) -> None:
    record, skipped = one(tmp_path, f"01-01-{code}-01-01-01-05.mp4")
    source, abbr = RAVDESS_EMOTIONS[code]
    assert skipped is None
    assert (record.label, record.label_id, record.source_emotion) == (abbr, label_id(abbr), source)


def test_calm_and_neutral_are_both_neu(tmp_path: Path) -> None:
    touch(tmp_path, "01-01-01-01-01-01-01.mp4")
    touch(tmp_path, "01-01-02-02-01-01-01.mp4")
    records, _ = scan("ravdess", tmp_path)
    assert [(r.label, r.source_emotion) for r in records] == [("NEU", "neutral"), ("NEU", "calm")]


@pytest.mark.parametrize("code", [c for c, (_, abbr) in RAVDESS_EMOTIONS.items() if abbr is None])
def test_surprised_is_dropped_and_reported(tmp_path: Path, code: str) -> None:
    record, skipped = one(tmp_path, f"01-01-{code}-02-01-01-05.mp4")
    assert record is None
    assert skipped.reason == DROPPED_EMOTION and "surprised" in skipped.detail


def test_all_seven_fields_are_parsed(tmp_path: Path) -> None:
    assert parse_name("02-02-05-02-01-02-12") == RavdessName(
        modality="02", vocal_channel="02", emotion="05", intensity="02", statement="01", repetition="02",
        actor="12")
    record, _ = one(tmp_path, "01-01-05-02-02-01-12.mp4")
    assert record.actor == "ravdess_12" and record.intensity == "strong"
    assert record.extra == {"modality": "audio-video", "vocal_channel": "speech", "statement": "02",
                            "repetition": "01", "gender": "female"}
    assert record.dataset == "ravdess" and record.clip_id == "01-01-05-02-02-01-12"
    assert record.path == tmp_path / "01-01-05-02-02-01-12.mp4"


@pytest.mark.parametrize(("actor", "gender"), [("01", "male"), ("02", "female"), ("23", "male"), ("24", "female")])
def test_odd_actors_are_male_even_female(tmp_path: Path, actor: str, gender: str) -> None:
    record, _ = one(tmp_path, f"01-01-04-01-01-01-{actor}.mp4")
    assert record.extra["gender"] == gender and record.actor == f"ravdess_{actor}"


@pytest.mark.parametrize(("name", "field"), [
    ("04-01-03-01-01-01-01", "modality 04"),
    ("01-03-03-01-01-01-01", "vocal_channel 03"),
    ("01-01-09-01-01-01-01", "emotion 09"),
    ("01-01-00-01-01-01-01", "emotion 00"),
    ("01-01-03-03-01-01-01", "intensity 03"),
    ("01-01-03-01-03-01-01", "statement 03"),
    ("01-01-03-01-01-03-01", "repetition 03"),
    ("01-01-03-01-01-01-25", "actor 25"),
    ("01-01-03-01-01-01-00", "actor 00"),
    ("01-01-01-02-01-01-01", "neutral has normal intensity only"),
])
def test_well_formed_names_with_an_unknown_code(tmp_path: Path, name: str, field: str) -> None:
    record, skipped = one(tmp_path, f"{name}.mp4")
    assert record is None
    assert skipped.reason == UNKNOWN_CODE and field in skipped.detail


@pytest.mark.parametrize("name", [
    "01-01-03-01-01-01",  # six fields
    "01-01-03-01-01-01-01-01",  # eight fields
    "01-01-xx-01-01-01-01",
    "1-1-03-01-01-01-01",
    "01-01-003-01-01-01-01",
    "01_01_03_01_01_01_01",
    "01-01-03-01-01-01-01 (copy)",
    "1001_DFA_ANG_XX",  # a CREMA-D name in a RAVDESS folder
    "clip",
])
def test_names_off_the_convention_are_bad_names(tmp_path: Path, name: str) -> None:
    record, skipped = one(tmp_path, f"{name}.mp4")
    assert record is None and skipped.reason == BAD_NAME and "MM-VV-EE-II-SS-RR-AA" in skipped.detail


def test_audio_only_wav_files_are_non_video(tmp_path: Path) -> None:
    _, skipped = one(tmp_path, "03-01-03-01-01-01-01.wav")
    assert skipped.reason == NON_VIDEO and ".wav" in skipped.detail


@pytest.mark.parametrize(("name", "options", "taken"), [
    ("01-02-03-01-01-01-01.mp4", {}, False),
    ("01-02-03-01-01-01-01.mp4", {"include_song": True}, True),
    ("01-02-03-01-01-01-01.mp4", {"include_video_only": True}, False),
    ("02-01-03-01-01-01-01.mp4", {}, False),
    ("02-01-03-01-01-01-01.mp4", {"include_video_only": True}, True),
    ("02-01-03-01-01-01-01.mp4", {"include_song": True}, False),
    ("02-02-03-01-01-01-01.mp4", {"include_video_only": True}, False),
    ("02-02-03-01-01-01-01.mp4", {"include_video_only": True, "include_song": True}, True),
    ("03-01-03-01-01-01-01.mp4", {"include_video_only": True, "include_song": True}, False),
])
def test_song_and_video_only_are_excluded_unless_asked_for(tmp_path: Path, name: str, options: dict[str, bool],
                                                           taken: bool) -> None:
    record, skipped = one(tmp_path, name, **options)
    if taken:
        assert skipped is None and record is not None
        assert record.extra["modality"] in ("audio-video", "video-only")
    else:
        assert record is None and skipped.reason == EXCLUDED


def test_included_song_and_video_only_clips_say_so(tmp_path: Path) -> None:
    record, _ = one(tmp_path, "02-02-04-02-01-01-03.mp4", include_song=True, include_video_only=True)
    assert (record.extra["modality"], record.extra["vocal_channel"]) == ("video-only", "song")


def official_names(actor: int) -> list[str]:
    """Every full-AV speech name one RAVDESS actor has in the real dataset (60)."""
    names = []
    for emotion in RAVDESS_EMOTIONS:
        for intensity in (["01"] if emotion == "01" else ["01", "02"]):
            for statement in ("01", "02"):
                for rep in ("01", "02"):
                    names.append(f"01-01-{emotion}-{intensity}-{statement}-{rep}-{actor:02d}.mp4")
    return names


@pytest.mark.parametrize("layout", [
    "Actor_{a:02d}/{name}",
    "Video_Speech_Actor_{a:02d}/Actor_{a:02d}/{name}",
    "{name}",
])
def test_official_nested_and_flattened_layouts_give_the_same_clips(tmp_path: Path, layout: str) -> None:
    for a in (1, 2):
        for name in official_names(a):
            touch(tmp_path, layout.format(a=a, name=name))
    records, skipped = scan("ravdess", tmp_path)
    assert len(official_names(1)) == 60
    assert len(records) == 2 * 52 and len(skipped) == 2 * 8  # surprised: 8 per actor
    assert {s.reason for s in skipped} == {DROPPED_EMOTION}
    assert sorted(r.clip_id for r in records) == sorted(
        Path(n).stem for a in (1, 2) for n in official_names(a) if n.split("-")[2] != "08")
    assert all(r.path.is_file() and r.path.is_absolute() for r in records)


def test_scan_order_is_sorted_and_repeatable(tmp_path: Path) -> None:
    names = official_names(3)[::-1]
    for name in names:  # created in reverse order
        touch(tmp_path / "Actor_03", name)
    first, _ = scan("ravdess", tmp_path)
    again, _ = scan("ravdess", tmp_path)
    ids = [r.clip_id for r in first]
    assert ids == sorted(ids) and ids == [r.clip_id for r in again]


def test_video_extensions_are_case_insensitive(tmp_path: Path) -> None:
    record, skipped = one(tmp_path, "01-01-06-01-01-01-01.MP4")
    assert skipped is None and record.label == "FEA"
