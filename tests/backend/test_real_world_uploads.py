"""POST /infer with real-world-format files that our own writer did not make (tests/media_corpus.py,
written by PyAV directly): each is answered right (the face found upright, the voice in the right
segment) or refused with its own code, and the service answers a normal upload afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mmer import media
from tests import media_corpus as corpus
from tests.backend.conftest import upload

HAPPY = "Actor_14/03-01-03-02-01-01-14.flac"


def post(client: TestClient, path: Path) -> Any:
    response = client.post("/infer?sample_frames=8", files=upload(path, content_type="application/octet-stream"))
    return response


def still_healthy(client: TestClient, clips: dict[str, Path]) -> None:
    assert client.get("/health").status_code == 200
    assert client.post("/infer?sample_frames=4", files=upload(clips["astronaut"])).status_code == 200


MAKERS: dict[str, Callable[[Path], Path]] = {
    "rotated-270.mp4": lambda p: corpus.rotated_mp4(p, 270, width=180, height=320, frames=15),
    "rotated-90.mp4": lambda p: corpus.rotated_mp4(p, 90, width=180, height=320, frames=15),
    "recording-vp8.webm": lambda p: corpus.vfr_webm(p, "vp8", frames=30, face=True),
    "recording-vp9.webm": lambda p: corpus.vfr_webm(p, "vp9", frames=30, face=True),
    "broadcast.ts": lambda p: corpus.mpegts(p, frames=30, face=True),
    "camcorder.m2ts": lambda p: corpus.m2ts(p, frames=30, face=True),
    "wide.mov": lambda p: corpus.mov_leading_atom(p, "wide", face=True),
    "skip.mov": lambda p: corpus.mov_leading_atom(p, "skip", payload=b"x" * 8, face=True),
    "streams.mkv": lambda p: corpus.default_streams_mkv(p, face=True),
    "extra-stream.mp4": lambda p: corpus.undecodable_stream_mp4(p, face=True),
    "10bit.mp4": lambda p: corpus.h264_10bit(p, face=True),
    "444.mp4": lambda p: corpus.h264_444(p, face=True),
    "hevc.mp4": lambda p: corpus.hevc(p, face=True),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_real_world_files_are_read_from_the_face_on_screen(client: TestClient, clips: dict[str, Path],
                                                           tmp_path: Path, name: str) -> None:
    """A smiling face in each: found (so the file was read upright, from the right stream) and
    read as happy. Before, rotation gave no face, the leading QuickTime atoms and M2TS were 415,
    and the undecodable stream was a 500."""
    path = MAKERS[name](tmp_path / name)
    response = post(client, path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["experts"]["face"]["used"], body["modalities"]["detail"]
    assert body["emotion"] == "HAP"
    still_healthy(client, clips)


def test_a_voice_that_starts_late_is_heard_in_its_own_seconds(client: TestClient, clips: dict[str, Path],
                                                              shared_data: Path, tmp_path: Path) -> None:
    """The sound track starts 2 s after the picture (its own start time, as an editor writes it):
    the first two seconds have no speech, the voice is in the segments after."""
    voice = media.decode_audio(shared_data / "ravdess-speech-16k" / HAPPY, corpus.AUDIO_RATE)
    seconds = 2.0 + len(voice) / corpus.AUDIO_RATE + 0.5
    path = corpus.late_audio(tmp_path / "late.mkv", offset=2.0, seconds=seconds, face=True, sound=voice)
    body = post(client, path).json()
    timeline = body["timeline"]
    assert [s["speech_s"] for s in timeline[:2]] == [0.0, 0.0]
    assert all(s["voice"] is None for s in timeline[:2])
    assert any(s["voice"] is not None for s in timeline[2:])
    assert body["experts"]["voice"]["used"]
    still_healthy(client, clips)


def test_a_resolution_switch_past_the_pixel_limit_is_refused(client: TestClient, clips: dict[str, Path],
                                                             tmp_path: Path) -> None:
    path = corpus.resolution_switch_ts(tmp_path / "switch.ts", small=(320, 180), large=(7680, 4320))
    response = post(client, path)
    assert response.status_code == 422 and response.json()["code"] == "frame_too_large"
    assert "7680×4320" in response.json()["detail"]
    still_healthy(client, clips)


def test_a_long_file_without_a_duration_is_refused_as_too_long(client: TestClient, clips: dict[str, Path],
                                                               tmp_path: Path) -> None:
    path = corpus.long_live_mkv(tmp_path / "two-hours.mkv", seconds=7200)
    response = post(client, path)
    assert response.status_code == 422 and response.json()["code"] == "too_long"
    still_healthy(client, clips)
