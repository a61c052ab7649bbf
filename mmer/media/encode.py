"""Writing audio/video with PyAV: clips for tests and demos, audio tracks for training data.

Every file appears at its destination only when it was written whole (:func:`mmer.fsutil.atomic_path`).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mmer.errors import InvalidValue
from mmer.fsutil import atomic_path
from mmer.media.decode import AUDIO_SAMPLE_RATE, MediaError, PathLike, decode_audio

#: mp3 is written at this rate: at 16 kHz (MPEG-2 layer III) it cannot go above 160 kbit/s.
MP3_SAMPLE_RATE = 44_100
_MP3_MAX_BITRATE = 320_000
_MP3_MIN_BITRATE = 32_000


def parse_bitrate(value: str | int) -> int:
    """``"320k"`` → 320000; checks the range an mp3 encoder accepts."""
    text = str(value).strip().lower()
    try:
        bits = int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        raise InvalidValue(f"bitrate {value!r} is not a number such as 192k or 320k") from None
    if not _MP3_MIN_BITRATE <= bits <= _MP3_MAX_BITRATE:
        raise InvalidValue(f"bitrate {value!r} is outside 32k-320k")
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
        raise InvalidValue(f"{dest.name}: audio can be written as .wav or .mp3, not {suffix or 'no suffix'}")
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
    """Encode RGB frames (and optionally mono audio) to a file whose suffix picks the container:
    H.264 at ``crf``, or with ``lossless`` FFV1 (for Matroska), whose frames decode bit-exact.

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
        lossless: bool = False,
    ) -> None:
        if not lossless and (width % 2 or height % 2):
            raise ValueError(f"H.264 (yuv420p) needs even frame sizes, got {width}x{height}")
        self.dest = Path(dest)
        self._fps = Fraction(fps).limit_denominator(1001)
        self._atomic = atomic_path(self.dest)
        tmp = self._atomic.__enter__()
        try:
            self._container = av.open(str(tmp), mode="w")
            if lossless:
                # FFV1 in packed RGB: decoding gives back the very bytes written (no YUV round trip).
                self._video = self._container.add_stream("ffv1", rate=self._fps)
                self._video.pix_fmt = "bgr0"
            else:
                self._video = self._container.add_stream("libx264", rate=self._fps)
                self._video.pix_fmt = "yuv420p"
                self._video.options = {"crf": str(crf), "preset": "veryfast"}
            self._video.width, self._video.height = width, height
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
