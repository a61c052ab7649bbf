"""CREMA-D file names → records, on real (tiny) files: scanning only reads names."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mmer.datasets import BAD_NAME, DUPLICATE, UNKNOWN_CODE, VIDEO_EXTENSIONS, ClipRecord, SkippedFile, scan
from mmer.datasets.cremad import LEVELS, SENTENCES
from mmer.labels import CREMAD_EMOTIONS, label_id


def touch(root: Path, rel: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded")
    return path


def one(root: Path, name: str) -> tuple[ClipRecord | None, SkippedFile | None]:
    """Scan a folder holding ``name`` plus one other valid clip (so the scan never comes back empty)."""
    touch(root, name)
    touch(root, "other/1091_WSI_SAD_HI.flv")
    records, skipped = scan("cremad", root)
    return ({r.clip_id: r for r in records}.get(Path(name).stem),
            {s.path.name: s for s in skipped}.get(Path(name).name))


def test_the_tables_match_the_published_dataset() -> None:
    assert set(SENTENCES) == {"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"}
    assert LEVELS == {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}


@pytest.mark.parametrize("code", sorted(CREMAD_EMOTIONS))
def test_every_emotion_code_maps_through_the_labels_table(tmp_path: Path, code: str) -> None:
    record, skipped = one(tmp_path, f"1001_IEO_{code}_HI.flv")
    source, abbr = CREMAD_EMOTIONS[code]
    assert skipped is None
    assert (record.label, record.label_id, record.source_emotion) == (abbr, label_id(abbr), source)


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_every_level_becomes_an_intensity(tmp_path: Path, level: str) -> None:
    record, _ = one(tmp_path, f"1042_TIE_HAP_{level}.flv")
    assert record.intensity == LEVELS[level] and record.extra["level"] == level


@pytest.mark.parametrize("sentence", sorted(SENTENCES))
def test_every_sentence_is_accepted_and_kept(tmp_path: Path, sentence: str) -> None:
    record, _ = one(tmp_path, f"1007_{sentence}_DIS_LO.flv")
    assert record.extra == {"sentence": sentence, "level": "LO"}


@pytest.mark.parametrize("ext", sorted(VIDEO_EXTENSIONS) + [".FLV", ".Mp4"])
def test_every_video_extension_is_accepted(tmp_path: Path, ext: str) -> None:
    record, skipped = one(tmp_path, f"1001_DFA_ANG_XX{ext}")
    assert skipped is None and record.path.suffix == ext


def test_record_fields(tmp_path: Path) -> None:
    record, _ = one(tmp_path, "AudioWAV_not/1012_ITS_FEA_MD.flv")
    assert (record.clip_id, record.dataset, record.actor) == ("1012_ITS_FEA_MD", "cremad", "cremad_1012")
    assert record.path == tmp_path / "AudioWAV_not" / "1012_ITS_FEA_MD.flv"
    assert record.split == ""


@pytest.mark.parametrize(("name", "field"), [
    ("1001_DFA_XYZ_HI", "emotion XYZ"),
    ("1001_DFA_ang_HI", "emotion ang"),  # codes are upper case as published
    ("1001_ABC_ANG_HI", "sentence ABC"),
    ("1001_DFA_ANG_ZZ", "level ZZ"),
    ("1000_DFA_ANG_HI", "actor 1000"),
    ("1092_DFA_ANG_HI", "actor 1092"),
    ("01001_DFA_ANG_HI", "actor 01001"),
    ("12_DFA_ANG_HI", "actor 12"),
])
def test_well_formed_names_with_an_unknown_code(tmp_path: Path, name: str, field: str) -> None:
    record, skipped = one(tmp_path, f"{name}.flv")
    assert record is None
    assert skipped.reason == UNKNOWN_CODE and field in skipped.detail


def test_all_unknown_codes_are_named(tmp_path: Path) -> None:
    _, skipped = one(tmp_path, "1001_ABC_XYZ_ZZ.flv")
    assert all(part in skipped.detail for part in ("sentence ABC", "emotion XYZ", "level ZZ"))


@pytest.mark.parametrize("name", [
    "1001_DFA_ANG",
    "1001_DFA_ANG_XX_1",
    "abcd_DFA_ANG_XX",
    "1001__ANG_XX",
    "1001-DFA-ANG-XX",
    "1001_DFA_ANG_X1",
    "01-01-03-01-01-01-01",  # a RAVDESS name in a CREMA-D folder
])
def test_names_off_the_convention_are_bad_names(tmp_path: Path, name: str) -> None:
    record, skipped = one(tmp_path, f"{name}.flv")
    assert record is None
    assert skipped.reason == BAD_NAME and "ActorID_Sentence_Emotion_Level" in skipped.detail


def test_same_clip_in_two_formats_keeps_the_first_in_sorted_order(tmp_path: Path) -> None:
    touch(tmp_path, "1001_DFA_ANG_XX.mp4")
    touch(tmp_path, "1001_DFA_ANG_XX.flv")
    touch(tmp_path, "VideoFlash/1001_DFA_ANG_XX.flv")
    records, skipped = scan("cremad", tmp_path)
    assert [r.path.name for r in records] == ["1001_DFA_ANG_XX.flv"]
    assert records[0].path.parent == tmp_path
    assert sorted((s.path.relative_to(tmp_path).as_posix(), s.reason) for s in skipped) == [
        ("1001_DFA_ANG_XX.mp4", DUPLICATE), ("VideoFlash/1001_DFA_ANG_XX.flv", DUPLICATE)]
    assert all("1001_DFA_ANG_XX.flv" in s.detail for s in skipped)


def test_ravdess_options_are_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    touch(tmp_path, "1001_DFA_ANG_XX.flv")
    with caplog.at_level(logging.WARNING, logger="mmer.datasets"):
        records, _ = scan("cremad", tmp_path, include_song=True)
    assert len(records) == 1 and "RAVDESS only" in caplog.text
