"""Manifests on disk: scanning whole folders, the skipped report, paths, round trips and errors."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from mmer.datasets import (
    CORE_COLUMNS,
    SKIP_REASONS,
    ClipRecord,
    DatasetError,
    build_manifest,
    read_manifest,
    scan,
    write_manifest,
)
from mmer.datasets.cremad import EXTRA_COLUMNS as CREMAD_EXTRAS
from mmer.datasets.ravdess import EXTRA_COLUMNS as RAVDESS_EXTRAS
from mmer.fsutil import PARTIAL_MARK
from mmer.labels import RAVDESS_EMOTIONS
from tests.helpers import touch


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


def ravdess_tree(root: Path, actors: range = range(1, 25), song: bool = False) -> None:
    """Every full-AV speech name of the real dataset (60 per actor), optionally the song names too."""
    for a in actors:
        for emotion in RAVDESS_EMOTIONS:
            for intensity in (["01"] if emotion == "01" else ["01", "02"]):
                for statement in ("01", "02"):
                    for rep in ("01", "02"):
                        for channel in (["01", "02"] if song else ["01"]):
                            touch(root, f"Actor_{a:02d}/01-{channel}-{emotion}-{intensity}-{statement}-{rep}-"
                                        f"{a:02d}.mp4")


# One file per skip reason, plus two good clips (two actors), under a RAVDESS root.
MIXED = {
    "Actor_01/01-01-03-01-01-01-01.mp4": None,
    "Actor_02/01-01-04-02-01-01-02.mp4": None,
    "Actor_01/03-01-03-01-01-01-01.wav": "non_video",
    "Actor_01/._01-01-03-01-01-01-01.mp4": "non_video",
    ".DS_Store": "non_video",
    "README.txt": "non_video",
    "Actor_01/01-01-03-01-01-01.mp4": "bad_name",
    "Actor_01/01-01-09-01-01-01-01.mp4": "unknown_code",
    "Actor_01/01-01-08-01-01-01-01.mp4": "dropped_emotion",
    "Actor_01/01-02-03-01-01-01-01.mp4": "excluded",
    "Actor_01/02-01-03-01-01-01-01.mp4": "excluded",
    "Actor_01/01-01-03-01-01-01-01.webm": "duplicate",  # .mp4 sorts first
    "copy/01-01-04-02-01-01-02.mkv": "duplicate",
}


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    root = tmp_path / "RAVDESS"
    for rel in MIXED:
        touch(root, rel)
    return root


def test_every_file_not_taken_is_reported_with_its_reason(mixed: Path) -> None:
    records, skipped = scan("ravdess", mixed)
    assert sorted(r.path.relative_to(mixed).as_posix() for r in records) == sorted(
        rel for rel, reason in MIXED.items() if reason is None)
    assert sorted((s.path.relative_to(mixed).as_posix(), s.reason) for s in skipped) == sorted(
        (rel, reason) for rel, reason in MIXED.items() if reason is not None)
    assert {s.reason for s in skipped} == set(SKIP_REASONS)
    assert all(s.detail for s in skipped)


def test_the_skipped_report_sits_next_to_the_manifest(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "work" / "ravdess_manifest.csv"
    summary = build_manifest("ravdess", mixed, out)
    report = tmp_path / "work" / "ravdess_manifest.skipped.csv"
    assert summary.skipped_report == report and summary.manifest == out
    assert header(report) == ["path", "reason", "detail"]
    got = {(r["path"], r["reason"]) for r in rows(report)}
    assert got == {(f"../RAVDESS/{rel}", reason) for rel, reason in MIXED.items() if reason is not None}
    details = {r["path"].removeprefix("../RAVDESS/"): r["detail"] for r in rows(report)}
    assert "AppleDouble" in details["Actor_01/._01-01-03-01-01-01-01.mp4"]
    assert "emotion 09" in details["Actor_01/01-01-09-01-01-01-01.mp4"]
    assert "song" in details["Actor_01/01-02-03-01-01-01-01.mp4"]
    assert "Actor_01/01-01-03-01-01-01-01.mp4" in details["Actor_01/01-01-03-01-01-01-01.webm"]
    assert "Actor_02/01-01-04-02-01-01-02.mp4" in details["copy/01-01-04-02-01-01-02.mkv"]
    assert summary.skipped == {"non_video": 4, "bad_name": 1, "unknown_code": 1, "dropped_emotion": 1,
                               "excluded": 2, "duplicate": 2}


def test_nothing_skipped_still_writes_a_report_header(tmp_path: Path) -> None:
    touch(tmp_path / "data", "1001_DFA_ANG_XX.flv")
    build_manifest("cremad", tmp_path / "data", tmp_path / "m.csv")
    assert (tmp_path / "m.skipped.csv").read_text() == "path,reason,detail\n"


def test_full_ravdess_speech_set_summary(tmp_path: Path) -> None:
    ravdess_tree(tmp_path / "data", song=True)
    summary = build_manifest("ravdess", tmp_path / "data", tmp_path / "manifest.csv")
    assert (summary.clips, summary.actors) == (24 * 52, 24)
    assert summary.labels == {"NEU": 288, "HAP": 192, "SAD": 192, "ANG": 192, "FEA": 192, "DIS": 192}
    # Surprised is reported as dropped even when it is also outside the chosen set (here: song).
    assert summary.skipped == {"dropped_emotion": 2 * 192, "excluded": 1248}
    assert summary.split_actors == {"train": 16, "val": 4, "test": 4}
    assert summary.split_clips == {s: 52 * n for s, n in summary.split_actors.items()}
    assert summary.one_line()== (
        "ravdess: 1248 clips from 24 actors (NEU 288, HAP 192, SAD 192, ANG 192, FEA 192, DIS 192); "
        "skipped 1632 (dropped_emotion 384, excluded 1248); actors/clips train 16/832, val 4/208, test 4/208")
    assert len(rows(tmp_path / "manifest.csv")) == 1248
    with_song = build_manifest("ravdess", tmp_path / "data", tmp_path / "song.csv", include_song=True)
    assert with_song.clips == 2 * 1248 and with_song.skipped == {"dropped_emotion": 384}


def test_columns_are_core_then_the_dataset_extras(tmp_path: Path) -> None:
    touch(tmp_path / "r", "Actor_01/01-01-03-01-01-01-01.mp4")
    touch(tmp_path / "c", "1001_DFA_ANG_XX.flv")
    build_manifest("ravdess", tmp_path / "r", tmp_path / "r.csv")
    build_manifest("cremad", tmp_path / "c", tmp_path / "c.csv")
    assert header(tmp_path / "r.csv") == [*CORE_COLUMNS, *RAVDESS_EXTRAS]
    assert header(tmp_path / "c.csv") == [*CORE_COLUMNS, *CREMAD_EXTRAS]
    assert CORE_COLUMNS[:9] == ("clip_id", "dataset", "path", "actor", "label", "label_id", "source_emotion",
                                "intensity", "split")
    assert rows(tmp_path / "c.csv") == [{
        "clip_id": "1001_DFA_ANG_XX", "dataset": "cremad", "path": "c/1001_DFA_ANG_XX.flv", "actor": "cremad_1001",
        "label": "ANG", "label_id": "3", "source_emotion": "anger", "intensity": "unspecified", "split": "train",
        "sentence": "DFA", "level": "XX"}]


def test_splits_in_the_manifest_are_actor_disjoint_and_seeded(tmp_path: Path) -> None:
    ravdess_tree(tmp_path / "data", actors=range(1, 11))
    first = build_manifest("ravdess", tmp_path / "data", tmp_path / "a.csv", seed=5)
    again = build_manifest("ravdess", tmp_path / "data", tmp_path / "b.csv", seed=5)
    assert first.split_actors == {"train": 6, "val": 2, "test": 2}
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    split_of: dict[str, set[str]] = {}
    for row in rows(tmp_path / "a.csv"):
        split_of.setdefault(row["actor"], set()).add(row["split"])
    assert len(split_of) == 10 and all(len(s) == 1 for s in split_of.values())
    assert again.split_actors == first.split_actors
    build_manifest("ravdess", tmp_path / "data", tmp_path / "c.csv", seed=6)
    assert (tmp_path / "c.csv").read_text() != (tmp_path / "a.csv").read_text()


def test_paths_still_resolve_after_moving_the_folder(tmp_path: Path) -> None:
    ravdess_tree(tmp_path / "project" / "data", actors=range(1, 3))
    build_manifest("ravdess", tmp_path / "project" / "data", tmp_path / "project" / "work" / "manifest.csv")
    build_manifest("ravdess", tmp_path / "project" / "data", tmp_path / "project" / "data" / "inside.csv")
    assert rows(tmp_path / "project" / "work" / "manifest.csv")[0]["path"].startswith("../data/Actor_0")
    assert rows(tmp_path / "project" / "data" / "inside.csv")[0]["path"].startswith("Actor_0")
    shutil.move(tmp_path / "project", tmp_path / "moved")
    for manifest in (tmp_path / "moved" / "work" / "manifest.csv", tmp_path / "moved" / "data" / "inside.csv"):
        records = read_manifest(manifest)
        assert len(records) == 104
        for r in records:
            assert r.resolved_path.is_file() and r.resolved_path.is_absolute()
            assert r.resolved_path.resolve().is_relative_to((tmp_path / "moved" / "data").resolve())


def test_read_manifest_round_trips_build_manifest(tmp_path: Path) -> None:
    touch(tmp_path / "data", "Actor_07/01-02-05-02-01-02-07.mp4")
    touch(tmp_path / "data", "Actor_08/02-01-07-01-02-01-08.avi")
    touch(tmp_path / "data", "Actor_09/01-01-02-02-01-01-09.webm")
    build_manifest("ravdess", tmp_path / "data", tmp_path / "m.csv", include_song=True, include_video_only=True)
    scanned, _ = scan("ravdess", tmp_path / "data", include_song=True, include_video_only=True)
    read = read_manifest(tmp_path / "m.csv")
    assert sorted(r.split for r in read) == ["test", "train", "val"]
    assert [(r.clip_id, r.label, r.extra) for r in read] == [(r.clip_id, r.label, r.extra) for r in scanned]
    assert [r.path for r in read] == [r.path for r in scanned]
    write_manifest(read, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "m.csv").read_text()
    assert read_manifest(tmp_path / "again.csv") == read


def test_both_datasets_concatenate_without_clashing_ids(tmp_path: Path) -> None:
    touch(tmp_path / "ravdess", "Actor_12/01-01-03-01-01-01-12.mp4")
    touch(tmp_path / "cremad", "1012_DFA_HAP_HI.flv")
    ravdess_records, _ = scan("ravdess", tmp_path / "ravdess")
    cremad_records, _ = scan("cremad", tmp_path / "cremad")
    both = ravdess_records + cremad_records
    assert [r.actor for r in both] == ["ravdess_12", "cremad_1012"]
    write_manifest(both, tmp_path / "both.csv")
    assert header(tmp_path / "both.csv") == [*CORE_COLUMNS, *RAVDESS_EXTRAS, *CREMAD_EXTRAS]
    read = read_manifest(tmp_path / "both.csv")
    assert read == both  # the other dataset's empty columns do not leak into extra
    assert len({r.clip_id for r in read}) == 2


def test_clip_ids_are_unique_in_a_manifest(tmp_path: Path) -> None:
    ravdess_tree(tmp_path / "a", actors=range(1, 4))
    ravdess_tree(tmp_path / "b", actors=range(1, 4))  # the same clips twice, e.g. a second download
    records, skipped = scan("ravdess", tmp_path)
    assert len(records) == 3 * 52 == len({r.clip_id for r in records})
    assert all(r.path.is_relative_to(tmp_path / "a") for r in records)
    assert sum(s.reason == "duplicate" for s in skipped) == 3 * 52


def test_resolved_path_of_a_relative_record_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    record = ClipRecord("x", "cremad", Path("x.flv"), "cremad_1001", "ANG", 3, "anger", "low")
    assert record.resolved_path == tmp_path / "x.flv"


def test_no_partial_files_are_left_behind(mixed: Path, tmp_path: Path) -> None:
    build_manifest("ravdess", mixed, tmp_path / "out" / "m.csv")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.csv", "m.skipped.csv"]
    assert not list(tmp_path.rglob(f"*{PARTIAL_MARK}*"))


# --- errors -------------------------------------------------------------------------------------


def test_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'iemocap'; expected one of ravdess, cremad"):
        scan("iemocap", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        build_manifest("iemocap", tmp_path, tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        build_manifest("ravdess", tmp_path / "nowhere", tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_root_that_is_a_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a directory"):
        scan("cremad", touch(tmp_path, "1001_DFA_ANG_XX.flv"))


def test_empty_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no files under"):
        scan("ravdess", tmp_path)


def test_root_without_any_accepted_clip_says_why(tmp_path: Path) -> None:
    touch(tmp_path, "Actor_01/03-01-03-01-01-01-01.wav")
    touch(tmp_path, "Actor_01/03-01-04-01-01-01-01.wav")
    touch(tmp_path, "1001_DFA_ANG_XX.flv")
    with pytest.raises(DatasetError, match=r"no ravdess clip accepted .* 3 files skipped "
                                           r"\(bad_name 1, non_video 2\); e.g. 1001_DFA_ANG_XX.flv: bad_name"):
        scan("ravdess", tmp_path)


def test_read_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        read_manifest(tmp_path / "missing.csv")
    with pytest.raises(DatasetError, match="is a directory"):
        read_manifest(tmp_path)


def test_read_manifest_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("clip_id,path,label\nx,x.mp4,HAP\n")
    with pytest.raises(DatasetError, match="lacks the column.s. dataset, actor, label_id, source_emotion, "
                                           "intensity, split"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DatasetError, match="lacks the column"):
        read_manifest(tmp_path / "empty.csv")


def good_row(**changes: str) -> str:
    row = {"clip_id": "1001_DFA_ANG_XX", "dataset": "cremad", "path": "1001_DFA_ANG_XX.flv",
           "actor": "cremad_1001", "label": "ANG", "label_id": "3", "source_emotion": "anger",
           "intensity": "unspecified", "split": "train", **changes}
    return ",".join(row.values())


@pytest.mark.parametrize(("line", "message"), [
    (good_row(label="SUR"), "m.csv:2: unknown label 'SUR'"),
    (good_row(label_id="4"), "m.csv:2: label_id '4' does not match label ANG"),
    (good_row(split="dev"), "m.csv:2: unknown split 'dev'"),
    (good_row(path=""), "m.csv:2: empty clip_id or path"),
    (good_row() + ",extra", "m.csv:2: wrong number of fields"),
    (good_row() + "\n" + good_row(), "lists clip_id 1001_DFA_ANG_XX twice"),
])
def test_read_manifest_rejects_bad_rows(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(",".join(CORE_COLUMNS) + "\n" + line + "\n")
    with pytest.raises(DatasetError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_read_manifest_accepts_a_good_row(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text(",".join(CORE_COLUMNS) + "\n" + good_row() + "\n")
    (record,) = read_manifest(tmp_path / "m.csv")
    assert record.path == tmp_path / "1001_DFA_ANG_XX.flv" and record.label_id == 3 and record.extra == {}


def test_merged_manifests_keep_paths_splits_and_refuse_duplicates(sample_ravdess: Path, sample_cremad: Path,
                                                                   tmp_path: Path) -> None:
    from mmer.datasets import merge_manifests

    build_manifest("ravdess", sample_ravdess, tmp_path / "a" / "ravdess.csv")
    build_manifest("cremad", sample_cremad, tmp_path / "b" / "cremad.csv")
    merged = tmp_path / "c" / "both.csv"
    merge_manifests([tmp_path / "a" / "ravdess.csv", tmp_path / "b" / "cremad.csv"], merged)
    records = read_manifest(merged)
    originals = read_manifest(tmp_path / "a" / "ravdess.csv") + read_manifest(tmp_path / "b" / "cremad.csv")
    assert [(r.clip_id, r.resolved_path.resolve(), r.split, r.actor) for r in records] == \
        [(r.clip_id, r.resolved_path.resolve(), r.split, r.actor) for r in originals]
    assert all(r.resolved_path.is_file() for r in records)
    with pytest.raises(DatasetError, match="is in both"):
        merge_manifests([tmp_path / "a" / "ravdess.csv", tmp_path / "a" / "ravdess.csv"], tmp_path / "d.csv")
    assert not (tmp_path / "d.csv").exists()
