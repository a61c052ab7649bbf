"""TurEV-DB's word list: speakers and labels from the layout, its errors, and the real corpus's counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmer.datasets import DatasetError
from mmer.datasets.turev import load_turev
from mmer.labels import CLASSES


def _layout(root: Path, names: dict[str, list[str]]) -> Path:
    for emotion in ("Angry", "Calm", "Happy", "Sad"):
        (root / emotion).mkdir(parents=True, exist_ok=True)
        for name in names.get(emotion, []):
            (root / emotion / name).write_bytes(b"")
    return root


def test_speakers_and_labels_come_from_the_layout(tmp_path: Path) -> None:
    _layout(tmp_path / "turev-speech-16k", {"Calm": ["1234_ab_ev.flac", "notes.txt"],
                                             "Angry": ["1157_kz_acik.flac"], "Sad": [".1157_x.flac"]})
    words = load_turev(tmp_path)  # the parent folder is accepted
    assert [(w.clip_id, w.speaker, CLASSES[w.label_id]) for w in words] == [
        ("turev_1157_kz_acik", "turev_1157", "ANG"), ("turev_1234_ab_ev", "turev_1234", "NEU")]


def test_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no TurEV-DB folders"):
        load_turev(tmp_path)
    _layout(tmp_path, {})
    with pytest.raises(DatasetError, match="no TurEV-DB sound files"):
        load_turev(tmp_path)
    (tmp_path / "Happy" / "nospeaker.flac").write_bytes(b"")
    with pytest.raises(DatasetError, match="starts with its speaker"):
        load_turev(tmp_path)


def test_the_real_corpus_has_the_readme_counts(shared_data: Path) -> None:
    words = load_turev(shared_data)
    counts = {c: sum(CLASSES[w.label_id] == c for w in words) for c in ("ANG", "NEU", "HAP", "SAD")}
    assert counts == {"ANG": 487, "NEU": 408, "HAP": 357, "SAD": 483}
    assert len({w.speaker for w in words}) == 6
