"""Decoding and writing audio/video with PyAV (FFmpeg bundled in its wheel).

This is the only module that talks to FFmpeg. Training-data preparation and the service both
call it, so a clip is decoded the same way wherever it is seen. Decoding streams: memory
holds the sampled frames (or one frame at a time for :func:`iter_frames`), never the clip.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mmer.fsutil import atomic_path

log = logging.getLogger(__name__)

#: Sample rate every audio backbone in this project expects.
AUDIO_SAMPLE_RATE = 16_000
#: mp3 is written at this rate: at 16 kHz (MPEG-2 layer III) it cannot go above 160 kbit/s.
MP3_SAMPLE_RATE = 44_100
_MP3_MAX_BITRATE = 320_000
_MP3_MIN_BITRATE = 32_000
#: Used when a stream declares no frame rate.
_FALLBACK_FPS = Fraction(25)
_EPS = 1e-6

PathLike = str | os.PathLike[str]


class MediaError(Exception):
    """A file could not be read or written as media. The message is meant for the user."""


class NoVideoStream(MediaError):
    """The file decodes, but holds no video stream."""


class NoAudioStream(MediaError):
    """The file decodes, but holds no audio stream (a silent video): not a broken file."""


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration: float | None
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    fps: Fraction | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class Frame:
    """One decoded video frame; ``time`` is seconds from the start of the video stream."""

    index: int
    time: float
    image: np.ndarray  # (H, W, 3) uint8 RGB


@dataclass(frozen=True)
class SampledFrames:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    times: np.ndarray  # (N,) float64 seconds from the start of the video stream
    duration: float
    #: True when the clip had fewer distinct frames than asked for, so some were repeated.
    repeated: bool


@contextlib.contextmanager
def _open(path: PathLike) -> Iterator[av.container.InputContainer]:
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: file is empty")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"{path.name}: not a readable video/audio file ({_reason(exc)})") from exc
    try:
        yield container
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name}: decoding failed ({_reason(exc)})") from exc
    finally:
        container.close()


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _video_stream(container: av.container.InputContainer, path: PathLike) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise NoVideoStream(f"{Path(path).name}: no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _stream_start(stream: av.stream.Stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _stream_fps(stream: av.video.stream.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else _FALLBACK_FPS


def _stream_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        offset = _stream_start(stream) - (container.start_time or 0) / av.time_base
        return max(container.duration / av.time_base - offset, 0.0) or None
    return None


def probe(path: PathLike) -> MediaInfo:
    """What the file holds, read from its headers (nothing is decoded)."""
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{Path(path).name}: no audio or video stream")
        main = video if video is not None else audio
        return MediaInfo(
            path=Path(path),
            duration=_stream_duration(container, main),
            has_video=video is not None,
            has_audio=audio is not None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            fps=_stream_fps(video) if video is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
        )


def iter_frames(path: PathLike) -> Iterator[Frame]:
    """Every frame of the first video stream, in presentation order, one at a time."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        start = _stream_start(stream)
        for index, frame in enumerate(container.decode(stream)):
            yield Frame(index=index, time=_frame_time(frame, start, index, stream), image=_rgb(frame))


def video_fps(path: PathLike) -> Fraction:
    with _open(path) as container:
        return _stream_fps(_video_stream(container, path))


def _frame_time(frame: av.VideoFrame, start: float, index: int, stream: av.video.stream.VideoStream) -> float:
    if frame.time is not None:
        return frame.time - start
    return float(index / _stream_fps(stream))


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def _measure_duration(path: PathLike) -> float:
    """Duration from decoding, for containers that do not declare one (some FLV/AVI files)."""
    last = None
    count = 0
    with _open(path) as container:
        stream = _video_stream(container, path)
        start = _stream_start(stream)
        for count, frame in enumerate(container.decode(stream), start=1):  # noqa: B007
            last = _frame_time(frame, start, count - 1, stream)
        fps = _stream_fps(stream)
    if last is None:
        raise MediaError(f"{Path(path).name}: video stream has no decodable frames")
    return last + float(1 / fps)


def clip_duration(path: PathLike) -> float:
    """Seconds of video: declared by the container, or measured by decoding when it is not."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        duration = _stream_duration(container, stream)
    return duration if duration is not None else _measure_duration(path)


def sample_times(duration: float, n: int, start: float = 0.0) -> list[float]:
    """``n`` instants spread evenly over ``[start, start + duration)``: the middle of each of n equal parts."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return [start + (i + 0.5) * duration / n for i in range(n)]


def sample_frames(path: PathLike, n: int, *, seek_gap: float = 2.0) -> SampledFrames:
    """``n`` frames spread evenly over the clip: frame ``i`` is the one on screen at
    ``(i + 0.5) * duration / n`` seconds (see :func:`iter_frames_at`)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    duration = clip_duration(path)
    chosen = [(t, image) for _, t, image in iter_frames_at(path, sample_times(duration, n), seek_gap=seek_gap)]
    frames = np.stack([c[1] for c in chosen])
    times = np.array([c[0] for c in chosen], dtype=np.float64)
    repeated = len(np.unique(times)) < n
    if repeated:
        log.info("%s: %d distinct frames for %d samples; frames repeat", Path(path).name,
                 len(np.unique(times)), n)
    return SampledFrames(frames=frames, times=times, duration=duration, repeated=repeated)


def iter_frames_at(path: PathLike, targets: Sequence[float], *,
                   seek_gap: float = 2.0) -> Iterator[tuple[int, float, np.ndarray]]:
    """For each target time (sorted, seconds from the video's start) the frame on screen then, as
    ``(target index, frame time, RGB image)``, one at a time: memory does not grow with the clip.

    Frames between targets are decoded but never converted to RGB. When the next target is more
    than ``seek_gap`` seconds ahead, the decoder seeks (to the keyframe before it) instead of
    decoding through; if a seek ever lands behind the current position (sparse keyframes),
    seeking is switched off for the rest of the clip. Targets past the end get the last frame.
    """
    n = len(targets)
    if any(b < a for a, b in zip(targets, targets[1:], strict=False)):
        raise ValueError("targets must be sorted")
    last: tuple[float, np.ndarray] | None = None  # the previous chosen frame, converted once
    with _open(path) as container:
        stream = _video_stream(container, path)
        start = _stream_start(stream)
        i = 0
        prev: tuple[float, av.VideoFrame] | None = None
        position = -np.inf
        can_seek, just_sought = True, False
        sought_for = -1  # a target is sought at most once, else a far keyframe would loop forever
        while i < n:
            sought = False
            for index, frame in enumerate(container.decode(stream)):
                t = _frame_time(frame, start, index, stream)
                if just_sought:
                    just_sought = False
                    if t < position - _EPS:
                        can_seek = False  # the seek went backwards: keyframes are sparse
                while i < n and t > targets[i] + _EPS:
                    last = _pick(prev, (t, frame), last)
                    yield i, last[0], last[1]
                    i += 1
                if i >= n:
                    break
                prev, position = (t, frame), t
                if can_seek and i != sought_for and targets[i] - t > seek_gap:
                    sought_for = i
                    offset = int((targets[i] + start) / stream.time_base)
                    container.seek(offset, stream=stream, backward=True, any_frame=False)
                    sought = just_sought = True
                    break
            else:
                # End of stream: the remaining targets fall on the last frame.
                if prev is None:
                    raise MediaError(f"{Path(path).name}: video stream has no decodable frames")
                while i < n:
                    last = _pick(prev, prev, last)
                    yield i, last[0], last[1]
                    i += 1
            if not sought:
                break


def keep_on_screen(frames: Iterable[Frame], targets: Sequence[float],
                   picked: list[Frame | None]) -> Iterator[Frame]:
    """Pass ``frames`` (in time order) on, keeping in ``picked[i]`` the frame on screen at
    ``targets[i]`` (sorted), as :func:`iter_frames_at` chooses it: the last one that starts at or
    before the target. For a caller that must see every frame (face boxing) yet keep only the
    sampled ones; targets past the last frame get the last frame."""
    i, previous = 0, None
    for frame in frames:
        while i < len(targets) and frame.time > targets[i] + _EPS:
            picked[i] = previous or frame
            i += 1
        previous = frame
        yield frame
    for j in range(i, len(targets)):
        picked[j] = previous


def _pick(
    prev: tuple[float, av.VideoFrame] | None,
    current: tuple[float, av.VideoFrame],
    last: tuple[float, np.ndarray] | None,
) -> tuple[float, np.ndarray]:
    """The frame on screen at a target (the one before ``current``); converts each distinct frame once."""
    t, frame = prev if prev is not None else current
    if last is not None and last[0] == t:
        return last
    return t, _rgb(frame)


def decode_audio(path: PathLike, sample_rate: int = AUDIO_SAMPLE_RATE, *,
                 max_seconds: float | None = None) -> np.ndarray:
    """The first audio stream as mono float32 in [-1, 1] at ``sample_rate``.

    Raises :class:`NoAudioStream` for a file without audio, so callers can treat a silent
    video as a missing modality rather than a broken file. With ``max_seconds``, decoding stops
    once that much sound has come out (what is returned is that much, not the rest of the file).
    """
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    with _open(path) as container:
        if not container.streams.audio:
            raise NoAudioStream(f"{Path(path).name}: no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        total = 0
        for frame in container.decode(stream):
            frame.pts = None  # let the resampler follow sample counts, not container timestamps
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += chunks[-1].size
            if limit is not None and total >= limit:
                break
        else:
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def iter_audio_segments(path: PathLike, edges: Sequence[float],
                        sample_rate: int = AUDIO_SAMPLE_RATE) -> Iterator[np.ndarray]:
    """The first audio stream, mono float32 at ``sample_rate``, cut at ``edges`` (sorted seconds):
    yields the samples of ``[edges[0], edges[1])``, ``[edges[1], edges[2])``, … as decoding reaches
    them, so only one segment is held at a time. Segments past the end of the audio come out short
    or empty; a last edge of ``math.inf`` runs the last segment to the end of the stream, whatever
    its length (an audio track often outlasts the video by an encoder frame or two). Raises
    :class:`NoAudioStream` for a silent video, as :func:`decode_audio` does.
    """
    if len(edges) < 2 or any(b < a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError("edges must be at least two sorted times")
    if any(not math.isfinite(e) for e in edges[:-1]):
        raise ValueError("only the last edge may be infinite")
    bounds = [max(0, round(e * sample_rate)) if math.isfinite(e) else sys.maxsize for e in edges]
    with _open(path) as container:
        if not container.streams.audio:
            raise NoAudioStream(f"{Path(path).name}: no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        buffer: list[np.ndarray] = []
        buffered = 0  # samples in buffer
        consumed = 0  # samples before the buffer's start
        segment = 0

        def ready() -> Iterator[np.ndarray]:
            nonlocal buffer, buffered, consumed, segment
            while segment < len(bounds) - 1 and consumed + buffered >= bounds[segment + 1]:
                data = np.concatenate(buffer) if buffer else np.zeros(0, np.float32)
                lo = max(0, bounds[segment] - consumed)
                hi = bounds[segment + 1] - consumed
                yield data[lo:hi].astype(np.float32, copy=True)
                rest = data[hi:]
                buffer, buffered, consumed = [rest], len(rest), consumed + hi
                segment += 1

        frames = container.decode(stream)
        for frame in itertools.chain(frames, [None]):
            if frame is not None:
                frame.pts = None
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                buffer.append(chunk)
                buffered += len(chunk)
            yield from ready()
        data = np.concatenate(buffer) if buffer else np.zeros(0, np.float32)
        while segment < len(bounds) - 1:  # the audio ended first
            lo = max(0, bounds[segment] - consumed)
            yield data[lo:bounds[segment + 1] - consumed].astype(np.float32, copy=True)
            segment += 1


def parse_bitrate(value: str | int) -> int:
    """``"320k"`` → 320000; checks the range an mp3 encoder accepts."""
    text = str(value).strip().lower()
    try:
        bits = int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        raise ValueError(f"bitrate {value!r} is not a number such as 192k or 320k") from None
    if not _MP3_MIN_BITRATE <= bits <= _MP3_MAX_BITRATE:
        raise ValueError(f"bitrate {value!r} is outside 32k-320k")
    return bits


def write_audio(
    dest: PathLike,
    samples: np.ndarray,
    sample_rate: int,
    *,
    bitrate: str | int = "320k",
) -> None:
    """Write mono float samples as ``.wav`` (16-bit PCM) or ``.mp3`` (LAME), atomically."""
    dest = Path(dest)
    suffix = dest.suffix.lower()
    if suffix == ".wav":
        codec, fmt, bit_rate = "pcm_s16le", "s16", None
    elif suffix == ".mp3":
        codec, fmt, bit_rate = "libmp3lame", "fltp", parse_bitrate(bitrate)
    else:
        raise ValueError(f"{dest.name}: audio can be written as .wav or .mp3, not {suffix or 'no suffix'}")
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    with atomic_path(dest) as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=sample_rate, layout="mono")
        if bit_rate:
            stream.bit_rate = bit_rate
        _encode_audio(container, stream, samples, fmt)


def _encode_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                  samples: np.ndarray, fmt: str, chunk: int = 16_384) -> None:
    for startpos in range(0, len(samples), chunk):
        part = samples[startpos:startpos + chunk]
        if fmt == "s16":
            data = (np.clip(part, -1.0, 1.0) * 32767).astype(np.int16)[None, :]
        else:
            data = np.ascontiguousarray(part[None, :])
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate = stream.rate
        frame.pts = startpos
        frame.time_base = Fraction(1, stream.rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def extract_audio(src: PathLike, dest: PathLike, *, bitrate: str | int = "320k") -> float:
    """Decode ``src``'s audio and write it to ``dest`` (.wav: 16 kHz mono; .mp3: 44.1 kHz mono).

    Returns the duration written, in seconds.
    """
    rate = MP3_SAMPLE_RATE if Path(dest).suffix.lower() == ".mp3" else AUDIO_SAMPLE_RATE
    if Path(dest).suffix.lower() == ".mp3":
        parse_bitrate(bitrate)  # fail before decoding
    samples = decode_audio(src, rate)
    if samples.size == 0:
        raise MediaError(f"{Path(src).name}: audio stream holds no samples")
    write_audio(dest, samples, rate, bitrate=bitrate)
    return samples.size / rate


class VideoWriter:
    """Encode RGB frames (and optionally mono audio) to a file whose suffix picks the container.

    The file appears at ``dest`` only when the writer closes without error.
    """

    def __init__(
        self,
        dest: PathLike,
        fps: Fraction | float | int,
        width: int,
        height: int,
        *,
        audio_rate: int | None = None,
        crf: int = 20,
        keyframe_interval: int | None = None,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs even frame sizes, got {width}x{height}")
        self.dest = Path(dest)
        self._fps = Fraction(fps).limit_denominator(1001)
        self._atomic = atomic_path(self.dest)
        tmp = self._atomic.__enter__()
        try:
            self._container = av.open(str(tmp), mode="w")
            self._video = self._container.add_stream("libx264", rate=self._fps)
            self._video.width, self._video.height = width, height
            self._video.pix_fmt = "yuv420p"
            self._video.options = {"crf": str(crf), "preset": "veryfast"}
            if keyframe_interval:
                self._video.options |= {"g": str(keyframe_interval), "keyint_min": str(keyframe_interval)}
            self._audio = None
            if audio_rate is not None:
                self._audio = self._container.add_stream("aac", rate=audio_rate, layout="mono")
        except Exception:
            self._atomic.__exit__(*_exc_info())
            raise
        self._frames = 0
        self._samples = 0

    def write(self, image: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
        frame.pts = self._frames
        frame.time_base = 1 / self._fps
        self._container.mux(self._video.encode(frame))
        self._frames += 1

    def write_audio(self, samples: np.ndarray) -> None:
        if self._audio is None:
            raise ValueError("this writer was opened without audio_rate")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, :]), format="fltp",
                                           layout="mono")
        frame.sample_rate = self._audio.rate
        frame.pts = self._samples
        frame.time_base = Fraction(1, self._audio.rate)
        self._container.mux(self._audio.encode(frame))
        self._samples += samples.size

    def close(self, ok: bool = True) -> None:
        try:
            if ok:
                self._container.mux(self._video.encode(None))
                if self._audio is not None:
                    self._container.mux(self._audio.encode(None))
        finally:
            self._container.close()
            if ok:
                self._atomic.__exit__(None, None, None)
            else:
                self._atomic.__exit__(*_exc_info())

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


def _exc_info() -> tuple:
    """Arguments that make a context manager's ``__exit__`` take its failure path."""
    err = RuntimeError("aborted")
    return type(err), err, None


def write_video(
    dest: PathLike,
    frames: Iterable[np.ndarray],
    fps: Fraction | float | int,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = AUDIO_SAMPLE_RATE,
) -> int:
    """Write a whole clip; returns the number of frames written."""
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("no frames to write") from None
    height, width = first.shape[:2]
    with VideoWriter(dest, fps, width, height, audio_rate=sample_rate if audio is not None else None) as w:
        w.write(first)
        count = 1
        for image in it:
            w.write(image)
            count += 1
        if audio is not None:
            w.write_audio(audio)
    return count
