"""The real-world-format corpus is what it says, checked with PyAV directly (never with the project's
reader: these tests prove the files, so that reader tests built on them prove the reader)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from tests import media_corpus as corpus

SMALL = 2 * 2**20


def video_frames(path: Path, index: int = 0) -> list[tuple[av.VideoFrame, np.ndarray]]:
    """Every frame of stream ``index``, with its RGB picture as stored (no rotation applied)."""
    with av.open(str(path)) as container:
        return [(frame, frame.to_ndarray(format="rgb24")) for frame in container.decode(container.streams[index])]


def audio_onset(path: Path, index: int) -> tuple[float, float | None]:
    """(time of the stream's first decoded sample, time of its first loud one), both in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams[index]
        frames = list(container.decode(stream))
        rate = frames[0].sample_rate
        samples = np.concatenate([frame.to_ndarray().reshape(len(frame.layout.channels), -1)[0] for frame in frames])
    onset = corpus.first_sound(samples, rate)
    return float(frames[0].time), None if onset is None else float(frames[0].time) + onset


def test_pattern_marker_and_index_survive_any_rotation() -> None:
    for index in (0, 5, 31, 32, 40):
        picture = corpus.pattern(180, 320, index, face=True)
        assert corpus.read_marker(picture) == "top-left"
        for turns, corner in enumerate(("top-left", "bottom-left", "bottom-right", "top-right")):
            turned = np.rot90(picture, turns)
            assert corpus.read_marker(turned) == corner
            assert corpus.read_index(turned) == index % corpus.INDEX_PERIOD


def test_beep_starts_when_asked() -> None:
    samples = corpus.beep(1.0, (0.25, 0.75))
    assert corpus.first_sound(samples) == pytest.approx(0.25, abs=1e-3)
    assert corpus.first_sound(samples[corpus.AUDIO_RATE // 2:]) == pytest.approx(0.25, abs=1e-3)
    assert corpus.first_sound(np.zeros(100, np.float32)) is None


@pytest.mark.parametrize(("rotation", "read_back", "coded_corner", "matrix"), [
    (90, (90,), "top-right", (0, -65536, 0, 65536, 0, 0, 0, 0, 2**30)),
    (180, (180, -180), "bottom-right", (-65536, 0, 0, 0, -65536, 0, 0, 0, 2**30)),
    (270, (-90,), "bottom-left", (0, 65536, 0, -65536, 0, 0, 0, 0, 2**30)),  # a phone held upright
])
def test_rotated_mp4_has_the_display_matrix_and_shows_upright(tmp_path: Path, rotation: int,
                                                             read_back: tuple[int, ...], coded_corner: str,
                                                             matrix: tuple[int, ...]) -> None:
    path = corpus.rotated_mp4(tmp_path / f"rot{rotation}.mp4", rotation, width=180, height=320, frames=6)
    assert path.stat().st_size < SMALL
    assert corpus.tkhd_matrix(path.read_bytes()) == matrix
    frames = video_frames(path)
    assert len(frames) == 6
    for i, (frame, coded) in enumerate(frames):
        assert frame.rotation in read_back
        assert coded.shape[:2] == ((180, 320) if rotation in (90, 270) else (320, 180))
        assert corpus.read_marker(coded) == coded_corner
        shown = corpus.displayed(coded, frame.rotation)
        expected = corpus.pattern(180, 320, i, face=True)
        assert shown.shape == expected.shape
        assert np.abs(shown.astype(int) - expected).mean() < 6  # the same upright picture, but for coding loss
        assert corpus.read_marker(shown) == "top-left" and corpus.read_index(shown) == i
    start, onset = audio_onset(path, 1)
    assert onset == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(("codec", "decoder"), [("vp8", "vp8"), ("vp9", "vp9")])
def test_vfr_webm_has_no_duration_and_irregular_timestamps(tmp_path: Path, codec: str, decoder: str) -> None:
    path = corpus.vfr_webm(tmp_path / f"{codec}.webm", codec, frames=20, beep_at=0.5)
    with av.open(str(path)) as container:
        assert container.format.name == "matroska,webm"
        assert container.duration is None
        assert [s.duration for s in container.streams] == [None, None]
        assert container.streams.video[0].codec_context.name == decoder
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.codec_context.sample_rate) == ("opus", 48_000)
    frames = video_frames(path)
    times = corpus.vfr_times(20)
    assert times[:4] == [0, 33, 83, 116]
    assert [round(float(frame.time) * 1000) for frame, _ in frames] == times
    assert [corpus.read_index(rgb) for _, rgb in frames] == list(range(20))
    start, onset = audio_onset(path, 1)
    assert onset == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(("m2ts", "packet", "sync_at"), [(False, 188, 0), (True, 192, 4)])
def test_transport_streams_have_their_packet_size(tmp_path: Path, m2ts: bool, packet: int, sync_at: int) -> None:
    make = corpus.m2ts if m2ts else corpus.mpegts
    path = make(tmp_path / ("clip.m2ts" if m2ts else "clip.ts"), frames=12, beep_at=0.2)
    data = path.read_bytes()
    assert len(data) % packet == 0
    assert all(data[k] == 0x47 for k in range(sync_at, len(data), packet))
    with av.open(str(path)) as container:
        assert container.format.name == "mpegts"
        assert [s.type for s in container.streams] == ["video", "audio"]
    frames = video_frames(path)
    assert [corpus.read_index(rgb) for _, rgb in frames] == list(range(12))
    first_video = float(frames[0][0].time)
    assert first_video > 0  # TS timestamps do not start at zero
    start, onset = audio_onset(path, 1)
    assert onset is not None and onset - first_video == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(("atom", "payload"), [("wide", b""), ("skip", b"written by an old editor; ignore")])
def test_mov_starts_with_the_atom_and_still_plays(tmp_path: Path, atom: str, payload: bytes) -> None:
    path = corpus.mov_leading_atom(tmp_path / f"{atom}.mov", atom, payload, frames=8)
    names = [(name, size) for name, _, _, size in corpus.atoms(path.read_bytes())]
    assert names[0] == (atom, 8 + len(payload))
    assert [name for name, _ in names[1:]] == ["ftyp", "wide", "mdat", "moov"]
    frames = video_frames(path)
    assert [corpus.read_index(rgb) for _, rgb in frames] == list(range(8))
    assert audio_onset(path, 1)[1] == pytest.approx(0.2, abs=0.01)


def test_default_streams_are_not_the_first(tmp_path: Path) -> None:
    path = corpus.default_streams_mkv(tmp_path / "multi.mkv", frames=6, beep_at=0.1)
    with av.open(str(path)) as container:
        streams = [(s.type, bool(s.disposition & av.stream.Disposition.default), s.metadata.get("title"))
                   for s in container.streams]
        sizes = [(s.codec_context.width, s.codec_context.height) for s in container.streams.video]
    assert streams == [("video", False, "commentary cam"), ("video", True, "main"),
                       ("audio", False, "commentary"), ("audio", True, "main")]
    assert sizes == [(160, 90), (320, 180)]
    decoy = video_frames(path, 0)
    assert all(np.abs(rgb.astype(int) - (0, 0, 255)).mean() < 8 for _, rgb in decoy)
    main = video_frames(path, 1)
    assert [(corpus.read_marker(rgb), corpus.read_index(rgb)) for _, rgb in main] == [("top-left", i) for i in range(6)]
    assert audio_onset(path, 2)[1] == pytest.approx(0.0, abs=0.005)
    assert audio_onset(path, 3)[1] == pytest.approx(0.1, abs=0.01)


def test_undecodable_stream_sits_first_beside_good_ones(tmp_path: Path) -> None:
    path = corpus.undecodable_stream_mp4(tmp_path / "bad.mp4", frames=6)
    data = path.read_bytes()
    assert corpus.UNDECODABLE_FOURCC.encode() in data and b"gpmd" in data
    with av.open(str(path)) as container:
        kinds = [(s.type, s.codec_context.name if s.codec_context else None) for s in container.streams]
        assert kinds == [("video", None), ("video", "h264"), ("audio", "aac"), ("data", None)]
        assert container.streams[0].disposition & av.stream.Disposition.default
        assert not container.streams[1].disposition & av.stream.Disposition.default
        with pytest.raises(av.error.DecoderNotFoundError):
            next(container.decode(container.streams[0]))
    assert [corpus.read_index(rgb) for _, rgb in video_frames(path, 1)] == list(range(6))
    assert audio_onset(path, 2)[1] == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(("suffix", "start"), [(".mp4", 1.978), (".mkv", 2.0)])
def test_late_audio_starts_two_seconds_in(tmp_path: Path, suffix: str, start: float) -> None:
    path = corpus.late_audio(tmp_path / f"late{suffix}", 2.0, seconds=3.0, beep_at=0.5)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.start_time == 0
        assert float(audio.start_time * audio.time_base) == pytest.approx(start, abs=1e-3)
    frames = video_frames(path)
    assert len(frames) == 45 and float(frames[0][0].time) == 0
    first, onset = audio_onset(path, 1)
    assert first == pytest.approx(start, abs=1e-3)
    assert onset == pytest.approx(2.5, abs=0.01)


def test_resolution_switch_decodes_both_sizes(tmp_path: Path) -> None:
    path = corpus.resolution_switch_ts(tmp_path / "switch.ts", large=(3840, 2160), small_frames=5, large_frames=2)
    assert path.read_bytes()[0] == 0x47
    frames = video_frames(path)
    assert [(rgb.shape[1], rgb.shape[0]) for _, rgb in frames] == [(320, 180)] * 5 + [(3840, 2160)] * 2
    assert [corpus.read_index(rgb) for _, rgb in frames] == list(range(7))
    times = [float(frame.time) for frame, _ in frames]
    assert np.allclose(np.diff(times), 1 / 30)


def test_resolution_switch_to_8k(tmp_path: Path) -> None:
    path = corpus.resolution_switch_ts(tmp_path / "switch.ts", small_frames=2, large_frames=1)
    sizes = [(rgb.shape[1], rgb.shape[0]) for _, rgb in video_frames(path)]
    assert sizes == [(320, 180), (320, 180), (7680, 4320)]


def test_long_live_mkv_has_no_duration_and_tells_where_a_frame_is(tmp_path: Path) -> None:
    path = corpus.long_live_mkv(tmp_path / "long.mkv")
    assert path.stat().st_size < 5 * 2**20
    with av.open(str(path)) as container:
        assert container.duration is None
        stream = container.streams.video[0]
        assert stream.duration is None
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        seen = {}
        for target in (0.0, 15.0, 3600.0, 7199.9):
            container.seek(int(target * 1_000_000))  # no Cues: FFmpeg reads forward to get there
            frame = next(f for f in container.decode(stream) if f.time >= target - 1e-6)
            seen[target] = (round(float(frame.time), 1), corpus.read_index(frame.to_ndarray(format="rgb24")))
    assert seen == {0.0: (0.0, 0), 15.0: (15.0, 1), 3600.0: (3600.0, 360 % 32), 7199.9: (7199.9, 719 % 32)}


def test_long_live_mkv_length_and_size_are_parameters(tmp_path: Path) -> None:
    path = corpus.long_live_mkv(tmp_path / "short.mkv", seconds=12, width=320, height=180, fps=5, gop_seconds=4)
    frames = video_frames(path)
    assert len(frames) == 60 and frames[0][1].shape == (180, 320, 3)
    assert [corpus.read_index(rgb) for _, rgb in frames] == [k // 20 for k in range(60)]


@pytest.mark.parametrize(("make", "codec", "pix_fmt", "profile", "tag"), [
    (corpus.h264_10bit, "h264", "yuv420p10le", "High 10", "avc1"),
    (corpus.h264_444, "h264", "yuv444p", "High 4:4:4 Predictive", "avc1"),
    (corpus.hevc, "hevc", "yuv420p", "Main", "hvc1"),
])
def test_deep_and_full_chroma_formats(tmp_path: Path, make: Callable[..., Path], codec: str, pix_fmt: str,
                                      profile: str, tag: str) -> None:
    path = make(tmp_path / "clip.mp4", frames=6)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        assert (context.name, context.pix_fmt, stream.profile, context.codec_tag) == (codec, pix_fmt, profile, tag)
    frames = video_frames(path)
    assert [frame.format.name for frame, _ in frames] == [pix_fmt] * 6
    assert [corpus.read_index(rgb) for _, rgb in frames] == list(range(6))


def test_every_small_file_is_small(tmp_path: Path) -> None:
    paths = [corpus.rotated_mp4(tmp_path / "r.mp4", 270), corpus.vfr_webm(tmp_path / "v.webm", "vp9"),
             corpus.mpegts(tmp_path / "t.ts"), corpus.mov_leading_atom(tmp_path / "w.mov"),
             corpus.default_streams_mkv(tmp_path / "m.mkv"), corpus.undecodable_stream_mp4(tmp_path / "u.mp4"),
             corpus.late_audio(tmp_path / "l.mp4"), corpus.hevc(tmp_path / "h.mp4", "yuv420p10le")]
    assert all(path.stat().st_size < SMALL for path in paths)
