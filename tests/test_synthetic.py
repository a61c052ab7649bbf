from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mmer import media
from mmer.synthetic import STYLES, cremad_names, make_sample_data, ravdess_names, voice

RAVDESS_NAME = re.compile(r"Actor_(\d\d)/01-01-0[1-7]-0[12]-0[12]-0[12]-(\d\d)\.mp4")
CREMAD_NAME = re.compile(r"(\d{4})_[A-Z]{3}_(NEU|HAP|SAD|ANG|FEA|DIS)_(LO|MD|HI|XX)\.flv")


def test_ravdess_tree_has_real_names_one_folder_per_actor(sample_ravdess: Path) -> None:
    files = sorted(p.relative_to(sample_ravdess).as_posix() for p in sample_ravdess.rglob("*.mp4"))
    assert len(files) == 3 * 6
    for rel in files:
        match = RAVDESS_NAME.fullmatch(rel)
        assert match, rel
        assert match.group(1) == match.group(2)  # folder actor == file actor


def test_cremad_names_follow_the_convention(sample_cremad: Path) -> None:
    files = sorted(p.name for p in sample_cremad.glob("*.flv"))
    assert len(files) == 2 * 6
    assert all(CREMAD_NAME.fullmatch(f) for f in files)
    assert {f.split("_")[0] for f in files} == {"1001", "1002"}


def test_clips_have_video_and_audio_of_the_asked_length(sample_ravdess: Path) -> None:
    info = media.probe(next(sample_ravdess.rglob("*.mp4")))
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(1.2, abs=0.05)


def test_name_generators_stay_unique_up_to_their_limit() -> None:
    ravdess = [rel for _, rel in ravdess_names(7, 8)]
    cremad = [rel for _, rel in cremad_names(1010, 12)]
    assert len(set(ravdess)) == len(ravdess) == 48
    assert len(set(cremad)) == len(cremad) == 72
    with pytest.raises(ValueError, match="at most"):
        list(ravdess_names(1, 9))


def test_neutral_uses_both_neutral_and_calm_codes() -> None:
    codes = {rel.split("/")[1].split("-")[2] for abbr, rel in ravdess_names(1, 2) if abbr == "NEU"}
    assert codes == {"01", "02"}


def test_voice_pitch_depends_on_the_emotion() -> None:
    rng = np.random.default_rng(0)

    def pitch(abbr: str) -> float:
        signal = voice(STYLES[abbr], 1.0, 1.0, rng)
        spectrum = np.abs(np.fft.rfft(signal))
        return float(np.argmax(spectrum[20:]) + 20)  # Hz, since the signal lasts 1 s

    assert pitch("FEA") > pitch("HAP") > pitch("NEU") > pitch("SAD")


def test_existing_clips_are_kept_and_bad_arguments_refused(tmp_path: Path) -> None:
    first = make_sample_data(tmp_path, "cremad", clips_per_class=1, actors=1, seconds=0.4, fps=10)
    stamp = first[0].stat().st_mtime_ns
    again = make_sample_data(tmp_path, "cremad", clips_per_class=1, actors=1, seconds=0.4, fps=10)
    assert again == first and first[0].stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="unknown dataset"):
        make_sample_data(tmp_path, "iemocap")
    with pytest.raises(ValueError, match="24 actors"):
        make_sample_data(tmp_path, "ravdess", actors=30)
