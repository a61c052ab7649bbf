"""The decoder plays real-world files the way players do. Each file is written by PyAV directly
(tests/media_corpus.py), never by our own writer: phone rotation, browser WebM without a duration,
MPEG-TS and M2TS, QuickTime files that open with another atom, default streams, undecodable
streams, late audio, a mid-stream resolution switch, a two-hour file with no duration, 10-bit,
4:4:4 and HEVC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmer import media
from mmer.predictor import InputError, Limits, check_media, sniff_media
from tests import media_corpus as corpus

SR = media.AUDIO_SAMPLE_RATE


def frames_of(path: Path) -> list[media.Frame]:
    return list(media.iter_frames(path))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_phone_clips_come_out_as_displayed(tmp_path: Path, rotation: int) -> None:
    path = corpus.rotated_mp4(tmp_path / f"rot{rotation}.mp4", rotation, width=180, height=320)
    info = media.probe(path)
    assert (info.width, info.height, info.rotation) == (180, 320, rotation)
    frames = frames_of(path)
    assert all(f.image.shape == (320, 180, 3) for f in frames)
    assert [corpus.read_marker(f.image) for f in frames] == ["top-left"] * len(frames)
    assert [corpus.read_index(f.image) for f in frames] == list(range(len(frames)))
    sampled = media.sample_frames(path, 4)
    assert sampled.frames.shape[1:] == (320, 180, 3)
    assert {corpus.read_marker(image) for image in sampled.frames} == {"top-left"}


@pytest.mark.parametrize("codec", ["vp8", "vp9"])
def test_a_browser_recording_without_a_duration_is_measured_from_its_packets(tmp_path: Path, codec: str) -> None:
    path = corpus.vfr_webm(tmp_path / f"rec-{codec}.webm", codec, frames=30)
    assert media.probe(path).duration is None
    times = [t / 1000 for t in corpus.vfr_times(30)]
    duration = media.media_duration(path)
    assert times[-1] < duration <= times[-1] + 0.06
    frames = frames_of(path)
    np.testing.assert_allclose([f.time for f in frames], times, atol=0.002)  # variable frame rate kept
    assert [corpus.read_index(f.image) for f in frames] == list(range(30))
    wave = media.decode_audio(path)
    assert corpus.first_sound(wave, SR) == pytest.approx(0.5, abs=0.03)


def test_a_long_file_without_a_duration_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    """Two hours of video in 3 MiB, no duration in the header: its length is read from the packets
    only up to the limit, and the file is refused as too long rather than decoded to the end."""
    path = corpus.long_live_mkv(tmp_path / "two-hours.mkv", seconds=7200)
    assert media.probe(path).duration is None
    assert 60 < media.media_duration(path, max_seconds=60) < 61
    with pytest.raises(InputError) as caught:
        check_media(path, Limits(max_duration_s=1200))
    assert caught.value.code == "too_long"
    # A lying or absent header is also caught while decoding: frames past the limit stop it.
    with pytest.raises(media.LimitExceeded) as stopped:
        for _ in media.iter_frames(path, limits=media.DecodeLimits(max_seconds=30)):
            pass
    assert stopped.value.code == "too_long"


@pytest.mark.parametrize("kind", ["mpegts", "m2ts"])
def test_transport_streams_decode_and_sniff(tmp_path: Path, kind: str) -> None:
    path = getattr(corpus, kind)(tmp_path / f"clip.{kind}", frames=30)
    assert sniff_media(path.read_bytes()[:8192]) == "mpegts"
    frames = frames_of(path)
    assert frames[0].time == pytest.approx(0.0, abs=1e-6)  # times count from the video's first frame
    assert [corpus.read_index(f.image) for f in frames] == list(range(30))
    assert corpus.first_sound(media.decode_audio(path), SR) == pytest.approx(0.5, abs=0.04)


def test_seeking_in_a_transport_stream_gives_the_frames_decoding_through_gives(tmp_path: Path) -> None:
    """MPEG-TS has no index: FFmpeg seeks by guessing, and may land past its target. A landing
    past the target is not trusted (decoding restarts), so sparse sampling still returns the
    frame on screen at each instant."""
    path = corpus.mpegts(tmp_path / "long.ts", frames=300, fps=30)
    targets = [0.2, 3.75, 6.5, 9.1]
    through = list(media.iter_frames_at(path, targets, seek_gap=float("inf")))
    sought = list(media.iter_frames_at(path, targets, seek_gap=1.0))
    assert [t for _, t, _ in sought] == pytest.approx([t for _, t, _ in through])
    assert [corpus.read_index(image) for *_, image in sought] == [corpus.read_index(i) for *_, i in through]
    for (_, t, _), target in zip(sought, targets, strict=True):
        assert target - 1 / 30 - 1e-6 <= t <= target + 1e-6


@pytest.mark.parametrize("atom", ["wide", "skip"])
def test_quicktime_files_that_open_with_another_atom(tmp_path: Path, atom: str) -> None:
    path = corpus.mov_leading_atom(tmp_path / f"{atom}.mov", atom, payload=b"x" * 8 if atom == "skip" else b"")
    assert path.read_bytes()[4:8] == atom.encode()
    assert sniff_media(path.read_bytes()[:8192]) == "mp4"
    assert [corpus.read_index(f.image) for f in frames_of(path)] == list(range(15))


def test_the_default_streams_are_played_not_the_first(tmp_path: Path) -> None:
    path = corpus.default_streams_mkv(tmp_path / "streams.mkv", beep_at=0.3)
    info = media.probe(path)
    assert (info.width, info.height) == (320, 180)  # not the 160×90 commentary camera
    frames = frames_of(path)
    assert {corpus.read_marker(f.image) for f in frames} == {"top-left"}
    wave = media.decode_audio(path)
    assert corpus.first_sound(wave, SR) == pytest.approx(0.3, abs=0.03)  # not the tone loud from 0 s


def test_a_stream_nobody_can_decode_is_skipped(tmp_path: Path) -> None:
    path = corpus.undecodable_stream_mp4(tmp_path / "extra.mp4")
    info = media.probe(path)
    assert info.has_video and info.has_audio and (info.width, info.height) == (320, 180)
    assert [corpus.read_index(f.image) for f in frames_of(path)] == list(range(15))
    assert corpus.first_sound(media.decode_audio(path), SR) == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_audio_that_starts_late_is_placed_on_the_video_clock(tmp_path: Path, suffix: str) -> None:
    path = corpus.late_audio(tmp_path / f"late{suffix}", offset=2.0, seconds=4.0, beep_at=0.5)
    wave = media.decode_audio(path)
    assert corpus.first_sound(wave, SR) == pytest.approx(2.5, abs=0.03)
    assert np.abs(wave[: int(1.9 * SR)]).max() < 1e-3  # silence filled in, not the voice moved to 0 s
    pieces = list(media.iter_audio_segments(path, [0, 1, 2, 3, 4]))
    assert [np.abs(p).max() > 0.1 for p in pieces] == [False, False, True, False]


def test_a_resolution_switch_past_the_pixel_limit_stops_decoding(tmp_path: Path) -> None:
    """320×180, then 7680×4320 mid-stream: the header says 320×180, so only a check on the
    decoded stream (the decoder's own max_pixels) can refuse it."""
    path = corpus.resolution_switch_ts(tmp_path / "switch.ts", small=(320, 180), large=(7680, 4320))
    limits = Limits(max_pixels=3840 * 2160)
    check_media(path, limits)  # the first frames pass
    with pytest.raises(media.LimitExceeded) as caught:
        for _ in media.iter_frames(path, limits=limits.decoding()):
            pass
    assert caught.value.code == "frame_too_large" and "7680×4320" in str(caught.value)


@pytest.mark.parametrize("maker", ["h264_10bit", "h264_444", "hevc"])
def test_high_bit_depth_full_chroma_and_hevc_decode_to_8_bit_rgb(tmp_path: Path, maker: str) -> None:
    path = getattr(corpus, maker)(tmp_path / f"{maker}.mp4")
    frames = frames_of(path)
    assert all(f.image.dtype == np.uint8 and f.image.shape == (180, 320, 3) for f in frames)
    assert [corpus.read_index(f.image) for f in frames] == list(range(15))


def test_skipping_b_frames_moves_a_sample_at_most_one_b_frame_run_earlier(tmp_path: Path) -> None:
    """x264 at its defaults (B-frames on): without its B-frames each target gets the latest I- or
    P-frame at or before it, a few frames before the one on screen, never after it."""
    path = corpus.encoded_mp4(tmp_path / "camera.mp4", frames=90, fps=30)
    targets = media.sample_times(3.0, 12)
    on_screen = [corpus.read_index(image) for *_, image in media.iter_frames_at(path, targets)]
    skipped = [corpus.read_index(image) for *_, image in media.iter_frames_at(path, targets, skip_b_frames=True)]
    assert on_screen == [int(t * 30) % corpus.INDEX_PERIOD for t in targets]
    offsets = [(a - b) % corpus.INDEX_PERIOD for a, b in zip(on_screen, skipped, strict=True)]
    assert all(0 <= o <= 3 for o in offsets) and any(o > 0 for o in offsets)
