"""Reading audio/video with PyAV (FFmpeg bundled in its wheel), as players show it.

Training-data preparation and the service both call this, so a clip is decoded the same way
wherever it is seen. Decoding streams: memory holds the sampled frames (or one frame at a time
for :func:`iter_frames`), never the clip. Writing lives in :mod:`mmer.media.encode`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mmer.budget import Budget
from mmer.errors import UserError

log = logging.getLogger(__name__)

#: Sample rate every audio backbone in this project expects.
AUDIO_SAMPLE_RATE = 16_000
#: Used when a stream declares no frame rate.
_FALLBACK_FPS = Fraction(25)
_EPS = 1e-6

PathLike = str | os.PathLike[str]


class MediaError(UserError):
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
    #: Degrees the stored frames are turned (counter-clockwise) to be displayed; width × height are as displayed.
    rotation: int = 0


@dataclass(frozen=True)
class Frame:
    """One decoded video frame; ``time`` is seconds from the start of the video stream."""

    index: int
    time: float
    image: np.ndarray  # (H, W, 3) uint8 RGB, as displayed (rotation applied)


@dataclass(frozen=True)
class SampledFrames:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    times: np.ndarray  # (N,) float64 seconds from the start of the video stream
    duration: float
    #: True when the clip had fewer distinct frames than asked for, so some were repeated.
    repeated: bool


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds that hold while decoding, frame by frame: headers can lie, so none is trusted.

    ``max_pixels`` is also handed to FFmpeg's decoder, which then refuses (without allocating) any
    frame larger than that, even one that appears mid-stream after a resolution switch.
    """

    max_pixels: int | None = None
    #: Media time, seconds from the start: decoding stops with ``too_long`` past it.
    max_seconds: float | None = None
    #: Decoded video frames: stops a file with an absurd frame rate (the total work of a request).
    max_frames: int | None = None


class LimitExceeded(MediaError):
    """Decoding stopped at a limit; ``code`` is ``frame_too_large`` or ``too_long``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Guard:
    """Checks every decoded frame against the limits and the budget (cancellation, deadline)."""

    def __init__(self, limits: DecodeLimits | None, budget: Budget | None, name: str) -> None:
        self.limits = limits or DecodeLimits()
        self.budget = budget
        self.name = name
        self.frames = 0

    def video(self, frame: av.VideoFrame, t: float) -> None:
        if self.budget is not None:
            self.budget.check()
        limits = self.limits
        self.frames += 1
        if limits.max_pixels is not None and frame.width * frame.height > limits.max_pixels:
            raise self.too_large(frame.width, frame.height)
        if limits.max_frames is not None and self.frames > limits.max_frames:
            raise LimitExceeded("too_long", f"{self.name}: more than {limits.max_frames:,} video frames")
        self.time(t)

    def time(self, t: float) -> None:
        if self.limits.max_seconds is not None and t > self.limits.max_seconds:
            raise LimitExceeded("too_long", f"{self.name}: the media runs past {self.limits.max_seconds:g} s")

    def audio(self) -> None:
        if self.budget is not None:
            self.budget.check()

    def too_large(self, width: int, height: int) -> LimitExceeded:
        return LimitExceeded("frame_too_large", f"{self.name}: frames of {width}×{height}; the limit is "
                             f"{self.limits.max_pixels:,} pixels per frame")

    def setup(self, stream: av.video.stream.VideoStream) -> None:
        """Set the stream's decoder up before its first frame: its thread budget, and ``max_pixels``,
        so that it refuses oversized frames itself (it checks each one before allocating it)."""
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = decode_threads()
        if self.limits.max_pixels is not None:
            stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(self.limits.max_pixels)}

    def decode_error(self, stream: av.video.stream.VideoStream, exc: av.FFmpegError) -> MediaError:
        """A decoder error, told apart from the decoder refusing a frame over ``max_pixels``: after
        a resolution switch the codec context holds the size it refused."""
        cc = stream.codec_context
        if self.limits.max_pixels is not None and cc.width * cc.height > self.limits.max_pixels:
            return self.too_large(cc.width, cc.height)
        return MediaError(f"{self.name}: decoding failed ({_reason(exc)})")


#: Decoder threads per stream; None lets FFmpeg use every core. Set by the service from its
#: per-process budget (:func:`set_decode_threads`), so that workers × concurrent requests ×
#: threads does not oversubscribe the CPU.
_DECODE_THREADS: int | None = None


def set_decode_threads(count: int | None) -> None:
    global _DECODE_THREADS
    if count is not None and count < 1:
        raise ValueError(f"decoder threads must be at least 1, got {count}")
    _DECODE_THREADS = count


def decode_threads() -> int:
    """Threads each decoder may use (0: FFmpeg decides from the core count)."""
    return _DECODE_THREADS or 0


@contextlib.contextmanager
def _open(path: PathLike) -> Iterator[av.container.InputContainer]:
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path.name}: no such file")
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


def _pick_stream(streams: Sequence[av.stream.Stream]) -> av.stream.Stream | None:
    """The stream a player would play: the first one marked default among those this FFmpeg can
    decode, else the first decodable one. Cover art (an attached picture) is not video."""
    usable = [s for s in streams if s.codec_context is not None
              and not s.disposition & av.stream.Disposition.attached_pic]
    default = [s for s in usable if s.disposition & av.stream.Disposition.default]
    return (default or usable or [None])[0]


def _video_of(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    return _pick_stream(container.streams.video)


def _audio_of(container: av.container.InputContainer) -> av.audio.stream.AudioStream | None:
    return _pick_stream(container.streams.audio)


def _video_stream(container: av.container.InputContainer, path: PathLike) -> av.video.stream.VideoStream:
    stream = _video_of(container)
    if stream is None:
        raise NoVideoStream(f"{Path(path).name}: no video stream")
    return stream


def _audio_stream(container: av.container.InputContainer, path: PathLike) -> av.audio.stream.AudioStream:
    stream = _audio_of(container)
    if stream is None:
        raise NoAudioStream(f"{Path(path).name}: no audio stream")
    return stream


def _stream_start(stream: av.stream.Stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _origin(container: av.container.InputContainer) -> float:
    """Time zero of the clip, in container seconds: where its video starts (every time in this
    module counts from there, so a voice and the face on screen with it share one clock), or the
    audio's start for a file without video."""
    main = _video_of(container) or _audio_of(container)
    return _stream_start(main) if main is not None else 0.0


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


def _turns(rotation: float | int | None) -> int:
    """Quarter turns counter-clockwise that show a frame as displayed (FFmpeg's display matrix
    angle is counter-clockwise: a phone's portrait clip stored landscape says -90)."""
    return round((rotation or 0) / 90) % 4


def _oriented(image: np.ndarray, turns: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def probe(path: PathLike, *, max_pixels: int | None = None) -> MediaInfo:
    """What the file holds: its headers, and its first video frame for the orientation (players
    rotate by the display matrix, so ``width`` × ``height`` is the size as displayed).

    The first frame is decoded only when the stored size is within ``max_pixels``.
    """
    with _open(path) as container:
        video, audio = _video_of(container), _audio_of(container)
        if video is None and audio is None:
            raise MediaError(f"{Path(path).name}: no audio or video stream")
        main = video if video is not None else audio
        width = height = None
        rotation = 0
        if video is not None:
            width, height = video.codec_context.width, video.codec_context.height
            if max_pixels is None or width * height <= max_pixels:
                guard = _Guard(DecodeLimits(max_pixels=max_pixels), None, Path(path).name)
                guard.setup(video)
                first = _first_frame(container, video, guard)
                if first is not None:
                    width, height = first.width, first.height
                    rotation = _turns(first.rotation) * 90
                    if rotation in (90, 270):
                        width, height = height, width
        return MediaInfo(
            path=Path(path),
            duration=_stream_duration(container, main),
            has_video=video is not None,
            has_audio=audio is not None,
            width=width,
            height=height,
            fps=_stream_fps(video) if video is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            channels=audio.codec_context.channels if audio is not None else None,
            rotation=rotation,
        )


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 guard: _Guard) -> av.VideoFrame | None:
    try:
        return next(iter(container.decode(stream)), None)
    except av.FFmpegError as exc:
        raise guard.decode_error(stream, exc) from exc


def _decode_video(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                  guard: _Guard) -> Iterator[av.VideoFrame]:
    """The stream's frames; decoder errors become MediaError (LimitExceeded for an oversized frame)."""
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            raise guard.decode_error(stream, exc) from exc
        yield frame


def iter_frames(path: PathLike, *, limits: DecodeLimits | None = None,
                budget: Budget | None = None) -> Iterator[Frame]:
    """Every frame of the video stream, in presentation order and as displayed, one at a time."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        guard = _Guard(limits, budget, Path(path).name)
        guard.setup(stream)
        origin = _origin(container)
        for index, frame in enumerate(_decode_video(container, stream, guard)):
            t = _frame_time(frame, origin, index, stream)
            guard.video(frame, t)
            yield Frame(index=index, time=t, image=_rgb(frame))


def video_fps(path: PathLike) -> Fraction:
    with _open(path) as container:
        return _stream_fps(_video_stream(container, path))


def _frame_time(frame: av.VideoFrame, start: float, index: int, stream: av.video.stream.VideoStream) -> float:
    if frame.time is not None:
        return frame.time - start
    return float(index / _stream_fps(stream))


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    return _oriented(frame.to_ndarray(format="rgb24"), _turns(frame.rotation))


def _packet_duration(container: av.container.InputContainer, stream: av.stream.Stream,
                     max_seconds: float | None, budget: Budget | None) -> float | None:
    """How long a stream runs, from its packets' timestamps (demuxing only, nothing is decoded):
    for files that declare no duration, such as the WebM a browser records. Stops reading once
    past ``max_seconds``: the answer is then just over it, however long the file is."""
    start, end, packets = _stream_start(stream), None, 0
    for count, packet in enumerate(container.demux(stream)):
        packets += packet.size > 0
        if budget is not None and count % 256 == 0:
            budget.check()
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None:
            continue
        t = float((stamp + (packet.duration or 0)) * packet.time_base) - start
        end = t if end is None else max(end, t)
        if max_seconds is not None and end > max_seconds:
            break
    return 0.0 if end is None and not packets else end  # a stream with nothing in it lasts 0 s


def media_duration(path: PathLike, *, max_seconds: float | None = None, budget: Budget | None = None) -> float:
    """Seconds of the clip (its video, or its audio for a sound file): declared by the container,
    or measured from packet timestamps when it is not, reading no further than ``max_seconds``."""
    with _open(path) as container:
        stream = _video_of(container) or _audio_of(container)
        if stream is None:
            raise MediaError(f"{Path(path).name}: no audio or video stream")
        return _duration(container, stream, path, max_seconds, budget)


def clip_duration(path: PathLike, *, max_seconds: float | None = None) -> float:
    """Seconds of video: declared by the container, or measured from its packets when it is not."""
    with _open(path) as container:
        return _duration(container, _video_stream(container, path), path, max_seconds, None)


def _duration(container: av.container.InputContainer, stream: av.stream.Stream, path: PathLike,
              max_seconds: float | None, budget: Budget | None) -> float:
    duration = _stream_duration(container, stream)
    if duration is None:
        duration = _packet_duration(container, stream, max_seconds, budget)
    if duration is None:
        raise MediaError(f"{Path(path).name}: the stream carries no timestamps to tell its length")
    return duration


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


def iter_frames_at(path: PathLike, targets: Sequence[float], *, seek_gap: float = 2.0,
                   limits: DecodeLimits | None = None, budget: Budget | None = None,
                   convert: Callable[[av.VideoFrame], np.ndarray] | None = None,
                   skip_b_frames: bool = False) -> Iterator[tuple[int, float, np.ndarray]]:
    """For each target time (sorted, seconds from the video's start) the frame on screen then, as
    ``(target index, frame time, image)``, one at a time: memory does not grow with the clip.

    ``image`` is ``convert(frame)``, by default the RGB picture as displayed; frames between
    targets are decoded but never converted. When the next target is more than ``seek_gap``
    seconds ahead, the decoder seeks (to the keyframe before it) instead of decoding through. A
    seek is trusted only if it lands at or before its target and ahead of where decoding was: one
    that lands past the target (MPEG-TS seeks by guessing) sends decoding back to the start, and
    any bad landing switches seeking off for the rest of the clip. Targets past the end get the
    last frame.

    With ``skip_b_frames`` the decoder skips B-frames (no I- or P-frame refers to one): the
    target then gets the latest *decoded* frame at or before it, at most one run of B-frames
    (x264's default: up to three frames) earlier than the one on screen, for about half the
    decoding of camera footage. For targets spaced several frames apart, where that offset does
    not matter; a stream without B-frames (most phones, VP8) decodes as before.
    """
    n = len(targets)
    if any(b < a for a, b in zip(targets, targets[1:], strict=False)):
        raise ValueError("targets must be sorted")
    convert = convert or _rgb
    last: tuple[float, np.ndarray] | None = None  # the previous chosen frame, converted once

    def pick(chosen: tuple[float, av.VideoFrame]) -> tuple[float, np.ndarray]:
        nonlocal last
        if last is None or last[0] != chosen[0]:
            last = chosen[0], convert(chosen[1])
        return last

    guard = _Guard(limits, budget, Path(path).name)
    i = 0
    prev: tuple[float, av.VideoFrame] | None = None  # the latest frame at or before targets[i]
    can_seek = True
    while i < n:  # one pass per opening of the file; a seek that overshot opens it again
        with _open(path) as container:
            stream = _video_stream(container, path)
            guard.setup(stream)
            if skip_b_frames:
                stream.codec_context.skip_frame = "BIDIR"
            origin = _origin(container)
            frames = enumerate(_decode_video(container, stream, guard))
            position = -math.inf  # time of the latest frame decoded before a seek
            landing, overshot = False, False
            sought_for = -1  # a target is sought at most once, else a far keyframe would loop forever
            while i < n:
                item = next(frames, None)
                if item is None:  # end of stream: the remaining targets fall on the last frame
                    if prev is None:
                        raise MediaError(f"{Path(path).name}: video stream has no decodable frames")
                    while i < n:
                        yield (i, *pick(prev))
                        i += 1
                    return
                index, frame = item
                t = _frame_time(frame, origin, index, stream)
                guard.video(frame, t)
                if landing:
                    landing = False
                    if t > targets[i] + _EPS or t < position - _EPS:
                        can_seek = False  # sparse keyframes, or a guessed seek (MPEG-TS has no index)
                        if t > targets[i] + _EPS:
                            log.debug("%s: a seek for %.3f s landed at %.3f s; decoding from the start",
                                      Path(path).name, targets[i], t)
                            overshot = True
                            break
                while i < n and t > targets[i] + _EPS:
                    yield (i, *pick(prev if prev is not None else (t, frame)))
                    i += 1
                prev = (t, frame)
                if i < n and can_seek and i != sought_for and targets[i] - t > seek_gap:
                    sought_for, position, landing, prev = i, t, True, None
                    offset = int((targets[i] + origin) / stream.time_base)
                    container.seek(offset, stream=stream, backward=True, any_frame=False)
                    frames = enumerate(_decode_video(container, stream, guard))
            if not overshot:
                return


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


#: Timestamp jumps in the sound smaller than this are jitter, not gaps (FFmpeg's own resampler
#: starts compensating at 0.1 s); larger ones are filled with silence, overlaps are dropped.
_AUDIO_SLACK_S = 0.05
#: Silence for a gap comes out in pieces of at most this many seconds.
_SILENCE_PIECE_S = 1.0


def _audio_pieces(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                  sample_rate: int, guard: _Guard) -> Iterator[np.ndarray]:
    """The stream as mono float32 at ``sample_rate``, placed on the clip's clock: sample ``k``
    sounds at ``k / sample_rate`` seconds from where the video starts. Sound that starts late (or
    skips) is preceded by silence, sound before the video's start is dropped, as players do."""
    origin = _origin(container)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    slack = round(_AUDIO_SLACK_S * sample_rate)
    fed = 0  # where the samples fed so far end, on the clip's clock (output samples)
    drop = 0  # output samples still to discard (an overlap, or sound before time zero)
    for frame in itertools.chain(container.decode(stream), [None]):
        if frame is not None:
            guard.audio()
            if frame.time is not None:
                at = round((frame.time - origin) * sample_rate)
                guard.time(max(at, 0) / sample_rate)
                if at > fed + slack:
                    yield from _silence(at - fed, sample_rate)
                    fed = at
                elif at < fed - slack:
                    drop += fed - at
                    fed = at
            fed += round(frame.samples * sample_rate / (frame.sample_rate or sample_rate))
            frame.pts = None  # the resampler only converts; the timing is handled here
        for out in resampler.resample(frame):
            data = out.to_ndarray().reshape(-1)
            if drop:
                cut = min(drop, data.size)
                data, drop = data[cut:], drop - cut
            if data.size:
                yield data


def _silence(samples: int, sample_rate: int) -> Iterator[np.ndarray]:
    piece = max(1, round(_SILENCE_PIECE_S * sample_rate))
    for start in range(0, samples, piece):
        yield np.zeros(min(piece, samples - start), np.float32)


def decode_audio(path: PathLike, sample_rate: int = AUDIO_SAMPLE_RATE, *, max_seconds: float | None = None,
                 budget: Budget | None = None) -> np.ndarray:
    """The audio stream as mono float32 in [-1, 1] at ``sample_rate``, on the clip's clock (see
    :func:`_audio_pieces`: a voice that starts 2 s into the video starts at sample 2·rate).

    Raises :class:`NoAudioStream` for a file without audio, so callers can treat a silent
    video as a missing modality rather than a broken file. With ``max_seconds``, decoding stops
    once that much sound has come out (what is returned is that much, not the rest of the file).
    """
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    with _open(path) as container:
        stream = _audio_stream(container, path)
        guard = _Guard(None, budget, Path(path).name)
        chunks: list[np.ndarray] = []
        total = 0
        for piece in _audio_pieces(container, stream, sample_rate, guard):
            chunks.append(piece)
            total += piece.size
            if limit is not None and total >= limit:
                break
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    wave = np.concatenate(chunks).astype(np.float32, copy=False)
    return wave if limit is None else wave[:limit]


def iter_audio_segments(path: PathLike, edges: Sequence[float], sample_rate: int = AUDIO_SAMPLE_RATE, *,
                        limits: DecodeLimits | None = None, budget: Budget | None = None) -> Iterator[np.ndarray]:
    """The audio stream, mono float32 at ``sample_rate`` on the clip's clock, cut at ``edges``
    (sorted seconds): yields the samples of ``[edges[0], edges[1])``, ``[edges[1], edges[2])``, …
    as decoding reaches them, so only one segment is held at a time. Segments past the end of the
    audio come out short or empty; a last edge of ``math.inf`` runs the last segment to the end of
    the stream (an audio track often outlasts the video by an encoder frame or two), or to
    ``limits.max_seconds``. Raises :class:`NoAudioStream` for a silent video, as
    :func:`decode_audio` does.
    """
    if len(edges) < 2 or any(b < a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError("edges must be at least two sorted times")
    if any(not math.isfinite(e) for e in edges[:-1]):
        raise ValueError("only the last edge may be infinite")
    cap = limits.max_seconds if limits is not None and limits.max_seconds is not None else None
    bounds = [max(0, round(e * sample_rate)) if math.isfinite(e) else
              (round(cap * sample_rate) if cap is not None else sys.maxsize) for e in edges]
    with _open(path) as container:
        stream = _audio_stream(container, path)
        guard = _Guard(None, budget, Path(path).name)
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

        for piece in _audio_pieces(container, stream, sample_rate, guard):
            buffer.append(piece)
            buffered += len(piece)
            yield from ready()
            if segment >= len(bounds) - 1:
                return
        data = np.concatenate(buffer) if buffer else np.zeros(0, np.float32)
        while segment < len(bounds) - 1:  # the audio ended first
            lo = max(0, bounds[segment] - consumed)
            yield data[lo:bounds[segment + 1] - consumed].astype(np.float32, copy=True)
            segment += 1
