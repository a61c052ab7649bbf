from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mmer.batch import FAILURES_FILE, SkipItem, Task, run_batch
from mmer.fsutil import atomic_path


def write_upper(output: Path, text: str) -> None:
    """A task: writes its text in capitals, fails on 'bad', skips 'silent'."""
    if text == "bad":
        raise ValueError(f"cannot process {text!r}")
    if text == "silent":
        raise SkipItem("no audio stream")
    with atomic_path(output) as tmp:
        tmp.write_text(text.upper())


def _tasks(out: Path, texts: list[str]) -> list[Task]:
    return [Task(f"clip{i}", out / f"clip{i}.txt", (t,)) for i, t in enumerate(texts)]


def test_a_failing_item_does_not_stop_the_batch_and_is_listed(tmp_path: Path) -> None:
    report = run_batch(_tasks(tmp_path, ["a", "bad", "c", "silent"]), write_upper, out_dir=tmp_path)

    assert report.done == ["clip0", "clip2"]
    assert report.failed == [("clip1", "cannot process 'bad'")]
    assert report.skipped == [("clip3", "no audio stream")]
    assert not report.ok
    assert (tmp_path / "clip2.txt").read_text() == "C"
    with open(tmp_path / FAILURES_FILE) as fh:
        assert list(csv.reader(fh)) == [["clip_id", "error"], ["clip1", "cannot process 'bad'"]]


def test_rerun_resumes_and_clears_the_failure_list_once_fixed(tmp_path: Path) -> None:
    run_batch(_tasks(tmp_path, ["a", "bad"]), write_upper, out_dir=tmp_path)
    (tmp_path / "clip0.txt").write_text("kept")  # proves clip0 is not redone

    report = run_batch(_tasks(tmp_path, ["a", "b"]), write_upper, out_dir=tmp_path)

    assert report.already_done == ["clip0"] and report.done == ["clip1"] and report.ok
    assert (tmp_path / "clip0.txt").read_text() == "kept"
    assert not (tmp_path / FAILURES_FILE).exists()


def test_overwrite_redoes_everything(tmp_path: Path) -> None:
    run_batch(_tasks(tmp_path, ["a"]), write_upper, out_dir=tmp_path)
    (tmp_path / "clip0.txt").write_text("old")
    run_batch(_tasks(tmp_path, ["a"]), write_upper, out_dir=tmp_path, overwrite=True)
    assert (tmp_path / "clip0.txt").read_text() == "A"


def test_partial_files_of_an_interrupted_run_are_removed_and_redone(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "clip0.txt") as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    # a hard kill leaves its temp file behind; simulate one
    stale = tmp_path / ".clip1.partial-abc.txt"
    stale.write_text("half")

    report = run_batch(_tasks(tmp_path, ["a", "b"]), write_upper, out_dir=tmp_path)

    assert report.done == ["clip0", "clip1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip0.txt", "clip1.txt"]


def test_parallel_workers_give_the_same_outputs(tmp_path: Path) -> None:
    texts = ["a", "b", "bad", "d", "e"]
    report = run_batch(_tasks(tmp_path, texts), write_upper, out_dir=tmp_path, workers=2)

    assert sorted(report.done) == ["clip0", "clip1", "clip3", "clip4"]
    assert report.failed == [("clip2", "cannot process 'bad'")]
    assert (tmp_path / "clip4.txt").read_text() == "E"
