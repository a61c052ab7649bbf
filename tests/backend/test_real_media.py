"""POST /infer on clips composed from real parts: a real face picture (scikit-image's astronaut)
with real RAVDESS voices muxed in, and real RAVDESS speech files as they ship or as a phone would
send them (Opus in Ogg or WebM, AAC in M4A, MP3, WAV), encoded by FFmpeg directly, not by our writer.
Skips where ../shared/data is absent."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from mmer import media
from tests.backend.conftest import upload
from tests.helpers import face_with_voice

FPS = 15
SR = media.AUDIO_SAMPLE_RATE
HAPPY = "Actor_14/03-01-03-02-01-01-14.flac"
#: Strong angry takes of the actors the shipped voice model never trained on (its card's held-out actors).
ANGRY = [f"Actor_{a:02d}/03-01-05-02-0{s}-01-{a:02d}.flac" for a in (2, 12, 14, 17) for s in (1, 2)]


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> Path:
    return shared_data / "ravdess-speech-16k"


def compose(path: Path, voice: np.ndarray | None, seconds: float, offset: float = 0.0) -> Path:
    return face_with_voice(path, voice, seconds, offset=offset, fps=FPS)


def encode(path: Path, wave: np.ndarray, fmt: str, codec: str, rate: int = 48_000) -> Path:
    """``wave`` (16 kHz) as FFmpeg itself writes ``codec`` in ``fmt``, resampled to ``rate``."""
    resampler = av.AudioResampler(format="s16" if codec.startswith("pcm") else "fltp", layout="mono", rate=rate)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(wave[None].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = SR, 0
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def top(scores: dict[str, float]) -> str:
    return max(scores, key=scores.get)


def test_face_and_voice_agreeing(client: TestClient, corpus: Path, tmp_path: Path) -> None:
    voice = media.decode_audio(corpus / HAPPY)
    clip = compose(tmp_path / "happy.mp4", voice, len(voice) / SR)
    body = client.post("/infer?sample_frames=16", files=upload(clip)).json()
    assert body["modalities"]["used"] == ["video", "audio"]
    face, heard = body["experts"]["face"], body["experts"]["voice"]
    assert top(face["scores"]) == "HAP" and face["used"] and heard["used"] and "s of speech" in heard["detail"]
    assert body["fusion"]["rule"] == "log-linear pooling" and body["fusion"]["dominant"] in ("face", "voice")
    if top(heard["scores"]) == "HAP":
        assert body["fusion"]["agree"] is True and body["emotion"] == "HAP"
        assert body["confidence"] > max(face["scores"]["HAP"], heard["scores"]["HAP"]) - 1e-6  # more sure together
    assert any(s["voice"] is not None and s["face"] is not None for s in body["timeline"])


def test_face_and_voice_disagreeing_is_said(client: TestClient, corpus: Path, tmp_path: Path) -> None:
    for name in ANGRY:
        voice = media.decode_audio(corpus / name)
        body = client.post("/infer?sample_frames=16",
                           files=upload(compose(tmp_path / "angry.mp4", voice, len(voice) / SR))).json()
        if top(body["experts"]["voice"]["scores"]) != "HAP":
            break
    else:
        pytest.fail("the voice expert heard Happy in all the unseen angry takes")
    assert top(body["experts"]["face"]["scores"]) == "HAP"
    assert body["fusion"]["agree"] is False


def test_a_silent_face_clip_is_read_from_the_face(client: TestClient, tmp_path: Path) -> None:
    body = client.post("/infer?sample_frames=8", files=upload(compose(tmp_path / "silent.mp4", None, 3.0))).json()
    assert body["modalities"]["used"] == ["video"] and body["modalities"]["missing"] == ["audio"]
    assert body["experts"]["voice"]["scores"] is None and "no sound" in body["experts"]["voice"]["detail"]
    assert body["fusion"]["dominant"] == "face" and body["fusion"]["agree"] is None
    assert body["scores"] == body["experts"]["face"]["scores"]


@pytest.mark.parametrize(("suffix", "fmt", "codec"), [
    (".ogg", "ogg", "libopus"), (".webm", "webm", "libopus"), (".m4a", "mp4", "aac"),
    (".mp3", "mp3", "libmp3lame"), (".wav", "wav", "pcm_s16le"),
])
def test_a_voice_memo_is_read_from_the_voice(client: TestClient, corpus: Path, tmp_path: Path,
                                             suffix: str, fmt: str, codec: str) -> None:
    memo = encode(tmp_path / f"memo{suffix}", media.decode_audio(corpus / ANGRY[0]), fmt, codec)
    body = client.post("/infer", files=upload(memo, name="memo.bin", content_type="application/octet-stream"))
    assert body.status_code == 200, body.text
    answer = body.json()
    assert answer["modalities"]["used"] == ["audio"] and answer["modalities"]["available"]["video"] is False
    assert answer["experts"]["face"]["scores"] is None and "no video" in answer["experts"]["face"]["detail"]
    assert answer["scores"] == answer["experts"]["voice"]["scores"] and answer["frames_analysed"] == 0


def test_a_ravdess_file_as_it_ships(client: TestClient, corpus: Path) -> None:
    path = corpus / ANGRY[0]
    body = client.post("/infer", files=upload(path, content_type="audio/flac")).json()
    assert body["modalities"]["used"] == ["audio"] and body["experts"]["voice"]["used"]
    assert 2.5 < body["duration_s"] < 6 and len(body["timeline"]) >= 3


def test_speech_only_in_the_second_half(client: TestClient, corpus: Path, tmp_path: Path) -> None:
    clip = compose(tmp_path / "late.mp4", media.decode_audio(corpus / HAPPY), 8.0, offset=4.5)
    body = client.post("/infer?sample_frames=16", files=upload(clip)).json()
    first, second = body["timeline"][:4], body["timeline"][5:]
    assert all(s["voice"] is None and s["speech_s"] == 0 and s["face"] is not None for s in first)
    assert any(s["voice"] is not None and s["speech_s"] > 0 for s in second)
    assert all(s["dominant"] == "face" for s in first)
