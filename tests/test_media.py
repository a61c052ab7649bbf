from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mmer import media
from mmer.fsutil import PARTIAL_MARK
from tests.helpers import index_frames, tone


def _index_of(image: np.ndarray, step: int = 6) -> int:
    return int(round(float(image.mean()) / step))


# --- frame sampling ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 4, 8, 40])
def test_sample_frames_picks_the_frame_on_screen_at_evenly_spread_times(index_clip: Path, n: int) -> None:
    sampled = media.sample_frames(index_clip, n)

    expected = [math.floor((i + 0.5) * 40 / n) for i in range(n)]
    assert sampled.frames.shape == (n, 48, 64, 3)
    assert sampled.frames.dtype == np.uint8
    assert [_index_of(f) for f in sampled.frames] == expected
    np.testing.assert_allclose(sampled.times, np.array(expected) / 10, atol=1e-6)
    assert sampled.duration == pytest.approx(4.0)
    assert not sampled.repeated


def test_short_clip_repeats_frames_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    media.write_video(path, index_frames(5), 10)

    sampled = media.sample_frames(path, 12)

    assert sampled.frames.shape[0] == 12
    assert sampled.repeated
    indices = [_index_of(f) for f in sampled.frames]
    assert indices == sorted(indices)
    assert set(indices) == {0, 1, 2, 3, 4}
    np.testing.assert_allclose(sampled.times, np.array(indices) / 10, atol=1e-6)


def test_one_frame_video(tmp_path: Path) -> None:
    path = tmp_path / "one.mp4"
    media.write_video(path, index_frames(1), 25)
    sampled = media.sample_frames(path, 4)
    assert sampled.frames.shape[0] == 4 and sampled.repeated
    assert set(sampled.times) == {0.0}


def test_seeking_gives_the_same_frames_as_decoding_through(tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    with media.VideoWriter(path, 5, 64, 48, keyframe_interval=10) as writer:
        for image in index_frames(150, step=1):  # 30 s; grey level = index (0..149)
            writer.write(image)

    seeking = media.sample_frames(path, 6, seek_gap=1.0)
    linear = media.sample_frames(path, 6, seek_gap=float("inf"))

    expected = [math.floor((i + 0.5) * 150 / 6) for i in range(6)]
    np.testing.assert_allclose(seeking.times, np.array(expected) / 5, atol=1e-6)
    np.testing.assert_array_equal(seeking.times, linear.times)
    # one grey level per frame is below H.264's precision: allow ±1 level (times above are exact)
    assert np.abs(np.array([_index_of(f, 1) for f in seeking.frames]) - expected).max() <= 1
    np.testing.assert_array_equal(seeking.frames, linear.frames)


def test_frames_at_arbitrary_times_stream_one_by_one(index_clip: Path) -> None:
    targets = [0.05, 0.05, 0.31, 1.0, 3.95, 7.0]  # a repeat, a frame boundary, and one past the end
    out = list(media.iter_frames_at(index_clip, targets))
    assert [i for i, _, _ in out] == list(range(len(targets)))
    assert [_index_of(image) for _, _, image in out] == [0, 0, 3, 10, 39, 39]
    assert out[0][2] is out[1][2]  # the same frame is converted once


def test_frames_at_needs_sorted_times(index_clip: Path) -> None:
    with pytest.raises(ValueError, match="sorted"):
        list(media.iter_frames_at(index_clip, [1.0, 0.5]))


def test_sample_frames_rejects_zero(index_clip: Path) -> None:
    with pytest.raises(ValueError):
        media.sample_frames(index_clip, 0)


def test_iter_frames_streams_every_frame_in_order(index_clip: Path) -> None:
    frames = list(media.iter_frames(index_clip))
    assert [f.index for f in frames] == list(range(40))
    np.testing.assert_allclose([f.time for f in frames], np.arange(40) / 10, atol=1e-6)
    assert [_index_of(f.image) for f in frames] == list(range(40))


def test_probe_reads_headers(index_clip: Path) -> None:
    info = media.probe(index_clip)
    assert info.has_video and info.has_audio
    assert (info.width, info.height, info.fps) == (64, 48, 10)
    assert info.duration == pytest.approx(4.0)
    assert info.video_codec == "h264" and info.audio_codec == "aac"


# --- audio -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source_rate", [16_000, 44_100, 48_000])
def test_decode_audio_resamples_to_16k_mono_with_the_right_sample_count(tmp_path: Path,
                                                                        source_rate: int) -> None:
    path = tmp_path / "tone.wav"
    media.write_audio(path, tone(1.5, source_rate), source_rate)

    samples = media.decode_audio(path)

    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - 24_000) <= 1
    assert 0.25 < np.abs(samples).max() <= 0.31
    # the tone's frequency survives resampling: strongest FFT bin at 220 Hz
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 16_000 / samples.size == pytest.approx(220, abs=1)


def test_decode_audio_from_a_video_container(index_clip: Path) -> None:
    samples = media.decode_audio(index_clip)
    # AAC codes whole 1024-sample frames: the decoded length is the 4 s rounded up to a frame.
    assert 64_000 <= samples.size <= 64_000 + 1024


def test_audio_segments_cut_the_decoded_track_at_the_edges(index_clip: Path) -> None:
    whole = media.decode_audio(index_clip)
    edges = [0.0, 1.5, 1.5, 3.0, whole.size / 16_000, 6.0]
    parts = list(media.iter_audio_segments(index_clip, edges))
    assert [p.size for p in parts] == [24_000, 0, 24_000, whole.size - 48_000, 0]
    np.testing.assert_array_equal(np.concatenate(parts), whole)  # same samples as decoding at once


def test_an_open_last_edge_runs_to_the_end_of_the_track(index_clip: Path) -> None:
    """The service cuts windows at the video's length, but training used the whole audio track (AAC
    pads it past the 4 s): an infinite last edge gives exactly what decoding the track at once gives."""
    whole = media.decode_audio(index_clip)
    assert whole.size > 64_000  # the track outlasts the 4 s of video
    parts = list(media.iter_audio_segments(index_clip, [0.0, 2.5, math.inf]))
    assert [p.size for p in parts] == [40_000, whole.size - 40_000]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    (one,) = media.iter_audio_segments(index_clip, [0.0, math.inf])
    np.testing.assert_array_equal(one, whole)
    with pytest.raises(ValueError, match="only the last edge"):
        list(media.iter_audio_segments(index_clip, [0.0, math.inf, math.inf]))


def test_audio_segments_of_a_silent_video_and_bad_edges(tmp_path: Path, index_clip: Path) -> None:
    path = tmp_path / "silent.mp4"
    media.write_video(path, index_frames(10), 10)
    with pytest.raises(media.NoAudioStream):
        list(media.iter_audio_segments(path, [0.0, 1.0]))
    with pytest.raises(ValueError, match="sorted"):
        list(media.iter_audio_segments(index_clip, [1.0, 0.5]))


def test_a_silent_video_is_reported_as_having_no_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    media.write_video(path, index_frames(10), 10)
    assert not media.probe(path).has_audio
    with pytest.raises(media.NoAudioStream, match="no audio stream"):
        media.decode_audio(path)


def test_write_mp3_at_44k_with_the_requested_bitrate(tmp_path: Path, index_clip: Path) -> None:
    out = tmp_path / "clip.mp3"
    seconds = media.extract_audio(index_clip, out, bitrate="192k")
    info = media.probe(out)
    assert info.sample_rate == media.MP3_SAMPLE_RATE and info.channels == 1
    assert seconds == pytest.approx(4.0, abs=0.1)
    # the file size follows from the bitrate: 192 kbit/s × 4 s ≈ 96 kB
    assert out.stat().st_size == pytest.approx(192_000 / 8 * 4, rel=0.15)


def test_extract_wav_is_16k_mono(tmp_path: Path, index_clip: Path) -> None:
    out = tmp_path / "clip.wav"
    media.extract_audio(index_clip, out)
    info = media.probe(out)
    assert (info.sample_rate, info.channels, info.audio_codec) == (16_000, 1, "pcm_s16le")


@pytest.mark.parametrize("bad", ["0k", "1000k", "fast", "-3"])
def test_bad_bitrates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="bitrate"):
        media.parse_bitrate(bad)


def test_unknown_audio_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=".wav or .mp3"):
        media.write_audio(tmp_path / "x.ogg", tone(0.1), 16_000)


# --- bad input ---------------------------------------------------------------------------------


def test_missing_empty_and_garbage_files_raise_media_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    garbage = tmp_path / "text.mp4"
    garbage.write_text("this is not a video\n" * 50)
    for path, message in [(tmp_path / "nope.mp4", "no such file"), (empty, "empty"), (garbage, "not a readable")]:
        with pytest.raises(media.MediaError, match=message):
            media.sample_frames(path, 4)


def test_truncated_video_raises_a_media_error(tmp_path: Path, index_clip: Path) -> None:
    data = index_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(media.MediaError):
        media.sample_frames(cut, 4)


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    media.write_audio(path, tone(0.5), 16_000)
    with pytest.raises(media.NoVideoStream):
        media.sample_frames(path, 2)


def test_a_failed_write_leaves_nothing_on_disk(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), media.VideoWriter(dest, 10, 64, 48) as writer:
        writer.write(index_frames(1)[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    assert not any(PARTIAL_MARK in p.name for p in tmp_path.iterdir())


def test_odd_frame_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        media.VideoWriter(tmp_path / "x.mp4", 10, 63, 48)
