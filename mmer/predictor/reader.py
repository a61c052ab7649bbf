"""Reading an upload before any model sees it: what container its bytes announce, whether its
headers and first frame pass the limits, and media errors as the user's input errors (the clip
itself is read by :mod:`mmer.windows`, a photo by :mod:`mmer.predictor.photo`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mmer import media
from mmer.budget import Budget
from mmer.predictor.answer import InputError, Limits

log = logging.getLogger(__name__)


#: What :func:`sniff_media` calls photos (the default model reads them with its face expert).
IMAGE_CONTAINERS = media.IMAGE_CONTAINERS
#: What :func:`sniff_media` calls audio-only containers ("audio": another format FFmpeg found holding only sound).
AUDIO_ONLY_CONTAINERS = frozenset({"wav", "mp3", "flac", "audio"})
#: QuickTime files may open with any of these atoms before (or instead of) ``ftyp``.
_QUICKTIME_ATOMS = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"uuid", b"pnot")
#: ``ftyp`` brands of HEIF and AVIF still pictures and picture sequences: neither FFmpeg nor Pillow reads them here.
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
                b"avif", b"avis")
#: Formats FFmpeg recognises that are pictures or text, not video or audio.
_NOT_MEDIA = ("image2", "tty", "bin", "idf", "adf", "xbin", "apng", "ass", "srt", "webvtt", "subviewer",
              "microdvd", "mpl2", "jacosub", "sami", "realtext", "lrc", "ffmetadata")


def sniff_media(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None: the service trusts this, not the name.

    Photos (:data:`mmer.media.IMAGE_CONTAINERS`: ``jpeg``, ``png``, ``webp``, ``gif``, ``bmp``,
    ``tiff``) and the common containers are told by their signature; anything else is handed to
    FFmpeg's own format probe, and accepted if FFmpeg finds a video or audio stream in a format
    that is not a picture or text (MPEG-PS, ASF/WMV, NUT, …). A document or random bytes get None.
    """
    photo = media.sniff_image(head)
    if photo is not None:  # first: a GIF opens with 0x47, MPEG-TS's sync byte
        return photo
    if len(head) >= 12 and head[4:8] == b"ftyp":
        # HEIF/AVIF photos (an iPhone's default) share MP4's box structure but hold no video to read.
        return None if head[8:12] in _HEIF_BRANDS else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "mpegts"
    if len(head) >= 389 and head[4] == 0x47 and head[196] == 0x47 and head[388] == 0x47:
        return "mpegts"  # M2TS (Blu-ray, AVCHD camcorders): 188-byte packets behind a 4-byte timestamp
    if len(head) >= 12 and head[4:8] in _QUICKTIME_ATOMS:
        return "mp4"  # QuickTime files that open with another atom than ftyp
    return _ffmpeg_sniff(head)


def _ffmpeg_sniff(head: bytes) -> str | None:
    """FFmpeg's format probe on the first bytes: its format's short name, "audio" for sound only."""
    import io

    import av

    try:
        with av.open(io.BytesIO(head), mode="r", options={"probesize": str(max(len(head), 32))}) as container:
            name = container.format.name.split(",")[0]
            kinds = {s.type for s in container.streams}
    except (av.FFmpegError, ValueError, UnicodeDecodeError, OSError):
        return None
    if name.endswith("_pipe") or name in _NOT_MEDIA or not kinds & {"video", "audio"}:
        return None
    return name if "video" in kinds else "audio"


def check_video(path: Path, limits: Limits) -> tuple[media.MediaInfo, float]:
    """Headers → (info, duration) of a video; refuses what the limits exclude before the clip is decoded."""
    return check_media(path, limits, need_video=True)


@contextlib.contextmanager
def reading(what: str = "file") -> Iterator[None]:
    """Media errors as the user's input errors: a limit met while decoding keeps its own code."""
    try:
        yield
    except media.LimitExceeded as exc:
        raise InputError(exc.code, f"the {what} {_after_name(exc)}") from exc
    except media.MediaError as exc:
        raise InputError("undecodable", f"the {what} cannot be decoded: {exc}") from exc


def _after_name(exc: media.LimitExceeded) -> str:
    """``upload.ts: frames of …`` → ``has frames of …`` (the file's name on disk is ours, not the user's)."""
    text = str(exc).split(": ", 1)[-1]
    return ("has " + text) if text.startswith(("frames", "more")) else text


def check_media(path: Path, limits: Limits, *, need_video: bool = False,
                budget: Budget | None = None) -> tuple[media.MediaInfo, float]:
    """Headers (and the first frame, for its orientation) → (info, duration) of a video or an audio
    file, refused early where the limits say. A length the file does not declare is read from its
    packets, no further than the limit."""
    with reading():
        info = media.probe(path, max_pixels=limits.max_pixels)
        if need_video and not info.has_video:
            raise InputError("not_video", "the file has no video stream (audio only?); send a video")
        if info.width and info.height and info.width * info.height > limits.max_pixels:
            raise InputError("frame_too_large", f"frames are {info.width}×{info.height}; the limit is "
                             f"{limits.max_pixels:,} pixels per frame (4K UHD by default): downscale the video")
        duration = info.duration
        if duration is None:
            duration = media.media_duration(path, max_seconds=limits.max_duration_s, budget=budget)
    if duration > limits.max_duration_s:
        raise InputError("too_long", f"the file is {duration:.0f} s long; the limit is {limits.max_duration_s:.0f} s")
    if duration < limits.min_duration_s:
        raise InputError("too_short", f"the file is {duration:.2f} s long; send at least {limits.min_duration_s} s")
    return info, duration


def check_coverage(duration: float, last_frame: float) -> None:
    """A file whose frames stop well before its declared length is truncated: refuse it rather
    than score copies of its last frame as if they were the rest of the video."""
    if last_frame < duration - max(1.0, 0.1 * duration):
        raise InputError("undecodable", f"the video's frames stop at {last_frame:.1f} s of its declared "
                         f"{duration:.1f} s: the file looks truncated or damaged")


def segment_edges(duration: float, length: float) -> list[float]:
    """``[0, length, 2·length, …, duration]``; a last piece under half a segment joins the one before."""
    edges = np.arange(0.0, duration, length).tolist() + [duration]
    if len(edges) > 2 and duration - edges[-2] < length / 2:
        del edges[-2]
    return edges
