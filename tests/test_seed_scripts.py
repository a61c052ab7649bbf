"""The seed-named scripts in preprocessing/ run as scripts and use their dataset's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmer import media

REPO = Path(__file__).resolve().parents[1]


def script(name: str, *args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "preprocessing" / name), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cremad_scripts_build_the_manifest_then_audio_as_320k_mp3(sample_cremad: Path, tmp_path: Path) -> None:
    done = script("cremad_video_to_audio_converter.py", "--root", sample_cremad, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    work = tmp_path / "data" / "cremad"
    assert (work / "manifest.csv").is_file()
    mp3s = sorted((work / "extracted_audio").glob("*.mp3"))
    assert len(mp3s) == 12
    assert media.probe(mp3s[0]).sample_rate == media.MP3_SAMPLE_RATE


@pytest.mark.slow
def test_ravdess_scripts_chain_boxes_then_crops(sample_ravdess: Path, tmp_path: Path) -> None:
    for name in ("ravdess_extract_bboxes.py", "ravdess_bbox_converter.py"):
        done = script(name, "--root", sample_ravdess, "--work", tmp_path / "w", "--workers", 2, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "w" / "extracted_faces_videos").glob("*.mkv"))) == 18


def test_a_missing_dataset_folder_is_one_clear_line(tmp_path: Path) -> None:
    done = script("ravdess_extract_bboxes.py", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "data/ravdess/videos" in done.stderr
