"""Real-world-format test media, written by PyAV directly (never by ``mmer.media``'s writer).

Phones, browsers, cameras and editors write files that differ from what our own writer makes: a
display matrix instead of rotated pixels, no duration in the header, 188/192-byte transport
packets, QuickTime files that do not start with ``ftyp``, several video streams of which the
first is not the one to play, streams nobody can decode, audio that starts late, a resolution
that changes mid-stream, more than 8 bits per sample. A reader that plays these the way players
do must be checked against files made by something other than itself, or its own quirks cancel
out — hence PyAV directly (``av.open(..., "w")``, ``add_stream``, encode/mux, packet remuxing,
and, where no muxer writes the quirk, a documented byte patch).

Every generator takes a destination path and a few parameters, returns the path, and says in its
docstring what a correct reader must see. The picture is :func:`pattern`: a white square near the
top-left corner (so a test can tell rotation) and a grey patch near the opposite corner whose level
encodes the frame index (so a test can tell which frame it got, after lossy coding); read them back
with :func:`read_marker` and :func:`read_index`. The sound is :func:`beep`: silence with 1 kHz tone
bursts at known times, found again with :func:`first_sound` (audio lasts as long as the video, or
longer where that is needed to hold the beep). All files are small (≤ 2 MB, a few
seconds, ≤ 320 px) except where the case needs more (the 8K switch, the 2-hour file).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

AUDIO_RATE = 48_000
"""Sample rate of every audio stream written here (what phones and browsers record at)."""

INDEX_PERIOD = 32
"""Frame indices are encoded modulo this many grey levels."""

_LEVEL_BASE, _LEVEL_STEP = 16, 6  # index patch level = 16 + 6 * (index % 32): 16 … 202, never white
_BACKGROUND = 64
_CORNERS = ("top-left", "top-right", "bottom-right", "bottom-left")  # clockwise, so rotation = shift


# --------------------------------------------------------------------------------------------
# Content a test can read back


@lru_cache(maxsize=8)
def _astronaut(side: int) -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)


def index_level(index: int) -> int:
    """The grey level that encodes ``index`` (modulo :data:`INDEX_PERIOD`) in :func:`pattern`."""
    return _LEVEL_BASE + _LEVEL_STEP * (index % INDEX_PERIOD)


def _patch(width: int, height: int) -> tuple[int, int]:
    """Side of the corner patches and their inset from the corner."""
    side = max(2, min(width, height) // 4)
    return side, side // 4


def pattern(width: int, height: int, index: int = 0, *, face: bool = False) -> np.ndarray:
    """An upright ``height`` × ``width`` RGB picture a test can check orientation and timing on.

    - a white (255) square near the top-left corner: after a wrong rotation it is in another corner;
    - a grey square near the bottom-right corner at :func:`index_level` (``index``): which frame;
    - the rest grey 64, or with ``face`` scikit-image's astronaut (a real, upright, smiling face)
      letterboxed in the middle on black, as ``tests.backend.conftest.astronaut`` draws it.
    """
    if face:
        frame = np.zeros((height, width, 3), np.uint8)
        side = min(width, height)
        top, left = (height - side) // 2, (width - side) // 2
        frame[top:top + side, left:left + side] = _astronaut(side)
    else:
        frame = np.full((height, width, 3), _BACKGROUND, np.uint8)
    side, inset = _patch(width, height)
    frame[inset:inset + side, inset:inset + side] = 255
    frame[height - inset - side:height - inset, width - inset - side:width - inset] = index_level(index)
    return frame


def _pattern_yuv420(width: int, height: int, index: int) -> av.VideoFrame:
    """``pattern(width, height, index)`` built straight into a limited-range yuv420p frame: for huge
    sizes, where an RGB picture and its conversion would cost more than the encoding."""
    frame = av.VideoFrame(width, height, "yuv420p")

    def luma(grey: int) -> int:
        return round(16 + 219 * grey / 255)

    planes = [np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size) for plane in frame.planes]
    planes[0][:] = luma(_BACKGROUND)
    planes[1][:] = planes[2][:] = 128
    side, inset = _patch(width, height)
    planes[0][inset:inset + side, inset:inset + side] = luma(255)
    planes[0][height - inset - side:height - inset, width - inset - side:width - inset] = luma(index_level(index))
    return frame


def _corner_means(rgb: np.ndarray) -> dict[str, float]:
    height, width = rgb.shape[:2]
    side, inset = _patch(width, height)
    grey = rgb.astype(np.float32).mean(axis=2) if rgb.ndim == 3 else rgb.astype(np.float32)
    lo, m = inset + side // 4, side // 2  # the middle half of each patch: away from coding ringing
    spans = {"top-left": (lo, lo), "top-right": (lo, width - lo - m),
             "bottom-right": (height - lo - m, width - lo - m), "bottom-left": (height - lo - m, lo)}
    return {name: float(grey[y:y + m, x:x + m].mean()) for name, (y, x) in spans.items()}


def read_marker(rgb: np.ndarray) -> str:
    """Which corner of a decoded :func:`pattern` frame holds the white square ("top-left" when upright)."""
    means = _corner_means(rgb)
    return max(means, key=means.__getitem__)


def read_index(rgb: np.ndarray) -> int:
    """The frame index (modulo :data:`INDEX_PERIOD`) of a decoded :func:`pattern` frame, whatever its
    rotation: read from the corner opposite the white square."""
    means = _corner_means(rgb)
    opposite = _CORNERS[(_CORNERS.index(read_marker(rgb)) + 2) % 4]
    return round((means[opposite] - _LEVEL_BASE) / _LEVEL_STEP) % INDEX_PERIOD


def displayed(coded: np.ndarray, rotation: float) -> np.ndarray:
    """What a player shows for a ``coded`` picture whose display matrix says ``rotation``.

    ``rotation`` is FFmpeg's ``av_display_rotation_get`` value (PyAV's ``VideoFrame.rotation``): the
    counter-clockwise degrees to turn the coded picture by; ffmpeg/ffplay's autorotate turn it by
    ``-rotation`` clockwise (-90, a phone held upright, becomes ``transpose=clock``). ``np.rot90``
    also turns counter-clockwise, so this is ``np.rot90(coded, rotation / 90)``.
    """
    return np.ascontiguousarray(np.rot90(coded, round(rotation / 90) % 4))


def beep(seconds: float, at: Sequence[float] = (0.5,), *, rate: int = AUDIO_RATE, freq: float = 1000.0,
         length: float = 0.1) -> np.ndarray:
    """Mono float32 audio: silence with a ``length``-second ``freq`` Hz burst (amplitude 0.5) starting
    at each time in ``at`` (seconds from the first sample) — an onset a test can locate to a few ms."""
    samples = np.zeros(int(round(seconds * rate)), np.float32)
    burst = (0.5 * np.sin(2 * np.pi * freq * np.arange(int(round(length * rate))) / rate)).astype(np.float32)
    for t in at:
        start = int(round(t * rate))
        piece = burst[: max(0, len(samples) - start)]
        samples[start:start + len(piece)] = piece
    return samples


def tone(seconds: float, freq: float = 440.0, *, rate: int = AUDIO_RATE) -> np.ndarray:
    """A continuous ``freq`` Hz sine (amplitude 0.3): sound from the very first sample."""
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(round(seconds * rate))) / rate)).astype(np.float32)


def first_sound(samples: np.ndarray, rate: int = AUDIO_RATE, threshold: float = 0.05) -> float | None:
    """Seconds from the first sample to the first one louder than ``threshold`` (None: all quiet)."""
    loud = np.flatnonzero(np.abs(np.asarray(samples).reshape(-1)) > threshold)
    return float(loud[0]) / rate if len(loud) else None


# --------------------------------------------------------------------------------------------
# Encoding and box helpers


def _video(out: av.container.OutputContainer, codec: str, width: int, height: int, fps: int | Fraction, *,
           pix_fmt: str = "yuv420p", options: dict[str, str] | None = None) -> av.VideoStream:
    stream = out.add_stream(codec, rate=fps, options=options or {})
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    return stream


def _encode_frames(out: av.container.OutputContainer, stream: av.VideoStream, pictures: Iterable[np.ndarray],
                   pts: Sequence[int] | None = None, time_base: Fraction | None = None) -> None:
    """Encode RGB pictures (pts 0, 1, 2 … in 1/fps unless given) and flush the encoder."""
    for i, picture in enumerate(pictures):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = i if pts is None else pts[i]
        if time_base is not None:
            frame.time_base = time_base
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _audio(out: av.container.OutputContainer, codec: str = "aac") -> av.AudioStream:
    return out.add_stream(codec, rate=AUDIO_RATE, layout="mono")


def _encode_audio(out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray,
                  start: float = 0.0) -> None:
    """Encode mono float samples whose first one plays at ``start`` seconds, and flush."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.time_base = Fraction(1, AUDIO_RATE)
    frame.pts = int(round(start * AUDIO_RATE))
    out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def atoms(data: bytes | bytearray, start: int = 0, end: int | None = None) -> Iterator[tuple[str, int, int, int]]:
    """ISO-BMFF / QuickTime boxes between ``start`` and ``end``: (name, offset, header size, total size)."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, name = struct.unpack(">I4s", data[at:at + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = end - at
        if size < header:
            return
        yield name.decode("latin-1"), at, header, size
        at += size


def find_atom(data: bytes | bytearray, path: Sequence[str], start: int = 0, end: int | None = None,
              nth: int = 0) -> tuple[int, int, int] | None:
    """(offset, header size, total size) of the box at ``path`` (e.g. ``["moov", "trak", "tkhd"]``);
    ``nth`` picks among siblings named like the first element (the second ``trak``: ``nth=1``)."""
    found = [(o, h, s) for name, o, h, s in atoms(data, start, end) if name == path[0]]
    if len(found) <= nth:
        return None
    offset, header, size = found[nth]
    return (offset, header, size) if len(path) == 1 else find_atom(data, path[1:], offset + header, offset + size)


_MOOV_CONTAINERS = {"moov", "trak", "mdia", "minf", "stbl", "edts", "dinf", "udta"}


def _shift_chunk_offsets(data: bytearray, delta: int, start: int = 0, end: int | None = None) -> None:
    """Add ``delta`` to every absolute chunk offset (``stco`` / ``co64``) under ``moov``."""
    for name, offset, header, size in list(atoms(data, start, end)):
        if name in _MOOV_CONTAINERS:
            _shift_chunk_offsets(data, delta, offset + header, offset + size)
        elif name in ("stco", "co64"):
            width = 4 if name == "stco" else 8
            code = ">I" if name == "stco" else ">Q"
            count = struct.unpack(">I", data[offset + header + 4:offset + header + 8])[0]
            for k in range(count):
                at = offset + header + 8 + width * k
                data[at:at + width] = struct.pack(code, struct.unpack(code, data[at:at + width])[0] + delta)


def tkhd_matrix(data: bytes | bytearray, track: int = 0) -> tuple[int, ...]:
    """The nine 16.16/2.30 fixed-point entries of a track header's display matrix (QuickTime order
    a b u c d v x y w; identity is 65536 0 0 0 65536 0 0 0 2**30)."""
    moov = find_atom(data, ["moov"])
    trak = moov and find_atom(data, ["trak"], moov[0] + moov[1], moov[0] + moov[2], nth=track)
    found = trak and find_atom(data, ["tkhd"], trak[0] + trak[1], trak[0] + trak[2])
    assert found, f"no tkhd in track {track}"
    offset, header, _ = found
    body = offset + header
    version = data[body]
    # version/flags; creation, modification, track id, reserved, duration; reserved, layer, group, volume, reserved
    fixed = 4 + (32 if version == 1 else 20) + 16
    return struct.unpack(">9i", data[body + fixed:body + fixed + 36])


# --------------------------------------------------------------------------------------------
# 1. Rotation by display matrix (phones)


def rotated_mp4(path: Path, rotation: int, *, width: int = 180, height: int = 320, frames: int = 15, fps: int = 30,
                face: bool = True) -> Path:
    """H.264 + AAC MP4 whose pixels are stored turned and whose display matrix turns them back, as phones do.

    ``rotation`` (90, 180 or 270) is the counter-clockwise angle written with
    ``stream.set_display_rotation`` — FFmpeg's ``av_display_rotation_get`` convention, read back by PyAV
    as ``VideoFrame.rotation`` in [-180, 180] (270 reads as -90, 180 as 180 or -180). A phone held
    upright writes -90 ≡ 270: tkhd matrix (0, 65536, 0, -65536, 0, 0, 0, 0, 2**30); players turn the
    picture 90° clockwise.

    A correct reader must see, for frame ``i``, the upright ``width`` × ``height`` picture
    ``pattern(width, height, i, face=face)``: white square top-left, upright face. The coded picture
    is ``np.rot90(that, -rotation / 90)`` (so ``height`` × ``width`` for 90/270, marker top-right for
    270); a reader that ignores the matrix returns it. Audio: a beep at 0.2 s.
    """
    k = round(rotation / 90) % 4
    shown = [pattern(width, height, i, face=face) for i in range(frames)]
    coded = [np.ascontiguousarray(np.rot90(picture, -k)) for picture in shown]
    with av.open(str(path), "w", format="mp4") as out:
        video = _video(out, "libx264", coded[0].shape[1], coded[0].shape[0], fps)
        video.set_display_rotation(rotation)
        audio = _audio(out)
        _encode_frames(out, video, coded)
        _encode_audio(out, audio, beep(max(frames / fps, 0.4), (0.2,)))
    return path


# --------------------------------------------------------------------------------------------
# 2. Browser recordings: VFR WebM without a duration


def vfr_times(frames: int, gaps_ms: Sequence[int] = (33, 50)) -> list[int]:
    """Presentation times in ms of :func:`vfr_webm`'s frames: 0, then the gaps in turn."""
    times, now = [], 0
    for i in range(frames):
        times.append(now)
        now += gaps_ms[i % len(gaps_ms)]
    return times


def vfr_webm(path: Path, codec: str = "vp8", *, frames: int = 30, width: int = 320, height: int = 180,
             gaps_ms: Sequence[int] = (33, 50), beep_at: float = 0.5, face: bool = False) -> Path:
    """A WebM as a browser's MediaRecorder writes it: VP8 or VP9 (``codec``), Opus 48 kHz mono, variable
    frame rate, and no duration anywhere (live matroska: no Duration element, no Cues).

    A correct reader must see: ``container.duration`` and every ``stream.duration`` None (it has to
    find the length by reading); frame ``i`` at ``vfr_times(frames, gaps_ms)[i]`` ms (0, 33, 83, 116,
    … — alternating 33 and 50 ms gaps, so counting frames at a nominal fps drifts) showing
    ``pattern(width, height, i)``; and a beep at ``beep_at`` s on the container's clock (the audio
    stream starts at 0; its first decoded frame is stamped 21 ms, after Opus's pre-skip).
    """
    encoder = {"vp8": "libvpx", "vp9": "libvpx-vp9"}.get(codec, codec)
    ms = Fraction(1, 1000)
    times = vfr_times(frames, gaps_ms)
    span = (times[-1] + gaps_ms[(frames - 1) % len(gaps_ms)]) / 1000
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as out:
        video = _video(out, encoder, width, height, 30, options={"deadline": "realtime", "cpu-used": "8"})
        video.time_base = video.codec_context.time_base = ms
        audio = _audio(out, "libopus")
        _encode_frames(out, video, (pattern(width, height, i, face=face) for i in range(frames)), times, ms)
        _encode_audio(out, audio, beep(max(span, beep_at + 0.2), (beep_at,)))
    return path


# --------------------------------------------------------------------------------------------
# 3. Transport streams (broadcast captures, camcorders)


def mpegts(path: Path, *, m2ts: bool = False, frames: int = 30, width: int = 320, height: int = 180, fps: int = 30,
           beep_at: float = 0.5, face: bool = False) -> Path:
    """H.264 + AAC (ADTS) in MPEG-TS: 188-byte packets, each starting 0x47; with ``m2ts`` the Blu-ray /
    AVCHD camcorder form (``mpegts_m2ts_mode=1``): 192-byte packets, a 4-byte timecode then 0x47.

    A correct reader must see ``frames`` frames ``pattern(width, height, i)`` and a beep ``beep_at`` s
    after the first video frame. Timestamps do not start at 0, as in any broadcast capture: the first
    video frame is at 0.067 s (B-frame delay), the audio a little before it (AAC priming) and the
    container's start_time is the earliest of them — times are to be taken relative to the first frame.
    """
    options = {"mpegts_m2ts_mode": "1"} if m2ts else {}
    with av.open(str(path), "w", format="mpegts", options=options) as out:
        video = _video(out, "libx264", width, height, fps)
        audio = _audio(out)
        _encode_frames(out, video, (pattern(width, height, i, face=face) for i in range(frames)))
        _encode_audio(out, audio, beep(max(frames / fps, beep_at + 0.2), (beep_at,)))
    return path


def m2ts(path: Path, **kwargs: Any) -> Path:
    """:func:`mpegts` with 192-byte M2TS packets (what AVCHD camcorders write as ``.MTS``)."""
    return mpegts(path, m2ts=True, **kwargs)


# --------------------------------------------------------------------------------------------
# 4. QuickTime files that do not start with ftyp


def mov_leading_atom(path: Path, atom: str = "wide", payload: bytes = b"", *, frames: int = 15, width: int = 320,
                     height: int = 180, fps: int = 30, face: bool = False) -> Path:
    """A QuickTime .mov (H.264 + AAC) whose first box is ``atom`` (``wide``: 8 bytes, as old QuickTime
    writers start; ``skip`` / ``free`` with ``payload``: padding a reader must step over).

    Made by writing a normal mov (ftyp, wide, mdat, moov: moov last), prepending the box, and adding
    its length to every ``stco`` / ``co64`` chunk offset (they are absolute file offsets; without the
    shift FFmpeg reads garbage: "Invalid NAL unit size"). Nothing else is touched.

    A correct reader must see ``frames`` frames ``pattern(width, height, i)`` and a beep at 0.2 s; a
    sniffer that wants ``ftyp`` at byte 4 will not recognise it.
    """
    path = Path(path)
    with av.open(str(path), "w", format="mov") as out:
        video = _video(out, "libx264", width, height, fps)
        audio = _audio(out)
        _encode_frames(out, video, (pattern(width, height, i, face=face) for i in range(frames)))
        _encode_audio(out, audio, beep(max(frames / fps, 0.4), (0.2,)))
    data = bytearray(path.read_bytes())
    box = struct.pack(">I4s", 8 + len(payload), atom.encode("latin-1")) + payload
    _shift_chunk_offsets(data, len(box))
    path.write_bytes(box + bytes(data))
    return path


# --------------------------------------------------------------------------------------------
# 5. Several streams, the default one not first


def default_streams_mkv(path: Path, *, frames: int = 15, width: int = 320, height: int = 180, fps: int = 30,
                        beep_at: float = 0.3, face: bool = False) -> Path:
    """A Matroska file whose first video and first audio streams are not the ones to play.

    Streams (written with ``default_mode=passthrough`` so the flags are exactly these):

    0. video, NOT default, title "commentary cam": 160 × 90, solid blue (0, 0, 255) frames;
    1. video, DEFAULT, title "main": ``width`` × ``height`` ``pattern(width, height, i)``;
    2. audio, NOT default, title "commentary": a continuous 440 Hz tone, loud from the first sample;
    3. audio, DEFAULT, title "main": silence with a 1 kHz beep at ``beep_at`` s.

    A correct reader (like ``av_find_best_stream``, ffplay, mpv, browsers) must pick stream 1 for
    pictures (marker top-left, index patch) and stream 3 for sound (quiet until ``beep_at``).
    """
    with av.open(str(path), "w", format="matroska", options={"default_mode": "passthrough"}) as out:
        decoy = _video(out, "libx264", 160, 90, fps)
        main = _video(out, "libx264", width, height, fps)
        commentary, sound = _audio(out), _audio(out)
        for stream, default, title in ((decoy, False, "commentary cam"), (main, True, "main"),
                                       (commentary, False, "commentary"), (sound, True, "main")):
            stream.disposition = av.stream.Disposition.default if default else av.stream.Disposition(0)
            stream.metadata["title"] = title
        blue = np.zeros((90, 160, 3), np.uint8)
        blue[..., 2] = 255
        _encode_frames(out, decoy, [blue] * frames)
        _encode_frames(out, main, (pattern(width, height, i, face=face) for i in range(frames)))
        _encode_audio(out, commentary, tone(max(frames / fps, beep_at + 0.2)))
        _encode_audio(out, sound, beep(max(frames / fps, beep_at + 0.2), (beep_at,)))
    return path


# --------------------------------------------------------------------------------------------
# 6. A stream nobody can decode


UNDECODABLE_FOURCC = "mmrx"
"""Sample-entry code given to the undecodable track: unknown to FFmpeg, so its codec id is NONE."""


def undecodable_stream_mp4(path: Path, *, frames: int = 15, width: int = 320, height: int = 180,
                           fps: int = 30, face: bool = False) -> Path:
    """An MP4 whose FIRST video track has a codec FFmpeg does not know, next to a good one.

    Streams:

    0. video, default (its tkhd is the enabled one), 160 × 90: written as H.264, then its ``stsd``
       sample-entry code patched from ``avc1`` to :data:`UNDECODABLE_FOURCC` — FFmpeg reports codec
       "none", PyAV gives ``stream.codec_context`` None and decoding it raises
       ``av.error.DecoderNotFoundError`` (as for any codec the build lacks);
    1. video, not default: ``width`` × ``height`` H.264 ``pattern(width, height, i)`` — what a correct
       reader must show;
    2. audio: AAC, a beep at 0.2 s;
    3. data: a GoPro-style telemetry track (codec ``bin_data``, handler "GoPro MET", tag ``gpmd``):
       no decoder exists for it either.

    A correct reader skips what it cannot decode and still reads stream 1 and stream 2.
    """
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        bad = _video(out, "libx264", 160, 90, fps)
        good = _video(out, "libx264", width, height, fps)
        audio = _audio(out)
        telemetry = out.add_data_stream("bin_data")
        bad.disposition = av.stream.Disposition.default
        good.disposition = av.stream.Disposition(0)
        _encode_frames(out, bad, [pattern(160, 90, 0)] * frames)
        _encode_frames(out, good, (pattern(width, height, i, face=face) for i in range(frames)))
        _encode_audio(out, audio, beep(max(frames / fps, 0.4), (0.2,)))
        for i in range(max(1, frames // fps)):
            packet = av.Packet(b"DEVC" + struct.pack(">I", i) + b"\0" * 24)
            packet.stream, packet.time_base = telemetry, Fraction(1)
            packet.pts = packet.dts = i
            out.mux(packet)
    data = bytearray(path.read_bytes())
    moov = find_atom(data, ["moov"])
    assert moov is not None
    trak = find_atom(data, ["trak"], moov[0] + moov[1], moov[0] + moov[2])
    assert trak is not None
    stsd = find_atom(data, ["mdia", "minf", "stbl", "stsd"], trak[0] + trak[1], trak[0] + trak[2])
    assert stsd is not None
    code = stsd[0] + stsd[1] + 8 + 4  # version/flags, entry count, then the entry's size
    assert data[code:code + 4] == b"avc1", bytes(data[code:code + 4])
    data[code:code + 4] = UNDECODABLE_FOURCC.encode()
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------------------------
# 7. Audio that starts late


def late_audio(path: Path, offset: float = 2.0, *, seconds: float = 4.0, width: int = 320, height: int = 180,
               fps: int = 15, beep_at: float = 0.5, face: bool = False, sound: np.ndarray | None = None) -> Path:
    """Video from 0 s, audio from ``offset`` s (MP4 by default; the container follows the suffix: .mkv, .mov).

    The audio's first sample is stamped ``offset`` s; in MP4 the muxer writes it as an empty edit, so
    FFmpeg reports the audio ``start_time`` ≈ ``offset`` minus the AAC encoder delay (1024 samples,
    21 ms) rounded to the movie's ms timescale (1.978 s for 2 s), in Matroska exactly ``offset``.

    A correct reader must see ``seconds * fps`` frames ``pattern(width, height, i)`` from 0 s and
    the beep at ``offset + beep_at`` s on the video's clock — not at ``beep_at`` (audio glued to 0 s).
    ``sound`` (mono float32 at :data:`AUDIO_RATE`, e.g. a real voice) replaces the beep.
    """
    path = Path(path)
    fmt = {".mkv": "matroska", ".mov": "mov"}.get(path.suffix.lower(), "mp4")
    frames = int(round(seconds * fps))
    with av.open(str(path), "w", format=fmt) as out:
        video = _video(out, "libx264", width, height, fps)
        audio = _audio(out)
        _encode_frames(out, video, (pattern(width, height, i, face=face) for i in range(frames)))
        samples = beep(max(seconds - offset, beep_at + 0.2), (beep_at,)) if sound is None else sound
        _encode_audio(out, audio, samples, start=offset)
    return path


# --------------------------------------------------------------------------------------------
# 8. A resolution switch mid-stream


def resolution_switch_ts(path: Path, *, small: tuple[int, int] = (320, 180), large: tuple[int, int] = (7680, 4320),
                         small_frames: int = 15, large_frames: int = 2, fps: int = 30) -> Path:
    """One H.264 stream in MPEG-TS that switches from ``small`` (w, h) to ``large`` without warning.

    Two separate libx264 encoders (Annex B, SPS/PPS in band, as a broadcast or a screen-share does on a
    resize); their packets are concatenated into one TS stream with continuing timestamps. The
    container's header says nothing (FFmpeg's probe may even report the *large* size for short files).

    A correct reader must see ``small_frames`` frames ``pattern(*small, i)`` then ``large_frames``
    frames ``pattern(*large, small_frames + j)`` — a reader that allocates by the first size, or that
    trusts the header, breaks. 8K by default: huge, but one frame of it encodes in a fraction of a second.
    """
    tick = Fraction(1, fps)
    packets: list[av.Packet] = []
    first = 0
    for (width, height), count in ((small, small_frames), (large, large_frames)):
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.time_base, encoder.framerate = tick, Fraction(fps)
        # Frame threads and lookahead at 8K cost seconds and tens of MB per thread; zerolatency slices.
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency"} if width * height > 2**22 else {}
        for i in range(first, first + count):
            frame = _pattern_yuv420(width, height, i)
            frame.pts = i
            packets += encoder.encode(frame)
        packets += encoder.encode(None)
        first += count
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_mux_stream("h264", rate=fps)
        stream.width, stream.height = small
        for packet in packets:
            packet.stream, packet.time_base = stream, tick
            out.mux(packet)
    return path


# --------------------------------------------------------------------------------------------
# 9. A long recording without a duration


def long_live_mkv(path: Path, *, seconds: float = 7200, width: int = 640, height: int = 360, fps: int = 10,
                  gop_seconds: float = 10) -> Path:
    """A long (2 h by default) live Matroska H.264 recording of a still scene, with no duration and no
    Cues: a few MiB (≈ 3 MiB for the defaults), written in well under a second.

    Each group of pictures (``gop_seconds``) is an IDR frame followed by P frames that only skip. GOP 0
    is encoded once; every later GOP reuses its skip packets (an IDR resets frame_num and POC, so the
    same bytes are valid again) after an IDR of its own, made by a fresh encoder with identical
    settings (same SPS/PPS) from ``pattern(width, height, g)`` where g is the GOP number.

    A correct reader must see ``container.duration`` and the stream's duration None, frames every
    1/``fps`` s up to ``seconds``, and at time t the picture ``pattern(width, height, int(t //
    gop_seconds))``: ``read_index`` gives the GOP number modulo 32 — so a test can tell where in the
    file a sampled frame came from. Seeking works only by reading forward (no Cues).
    """
    gop = max(1, int(round(gop_seconds * fps)))
    total = int(round(seconds * fps))
    options = {"preset": "ultrafast", "x264-params": "scenecut=0:ipratio=1:aq-mode=0:qp=30"}

    def configure(codec: av.VideoCodecContext) -> None:
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.gop_size, codec.max_b_frames = gop, 0

    def picture(g: int) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(pattern(width, height, g), format="rgb24").reformat(format="yuv420p")

    with av.open(str(path), "w", format="matroska", options={"live": "1"}) as out:
        stream = out.add_stream("libx264", rate=fps, options=options)
        configure(stream.codec_context)
        first_gop: list[av.Packet] = []
        frame = picture(0)
        for i in range(min(gop, total)):
            frame.pts = i
            first_gop += stream.encode(frame)
        first_gop += stream.encode(None)
        time_base = first_gop[0].time_base
        step = first_gop[1].pts - first_gop[0].pts if len(first_gop) > 1 else 1
        extradata = stream.codec_context.extradata
        skips = [bytes(p) for p in first_gop[1:]]
        idrs = [bytes(first_gop[0])]
        for g in range(1, min(INDEX_PERIOD, -(-total // gop))):
            encoder = av.CodecContext.create("libx264", "w")
            configure(encoder)
            encoder.time_base, encoder.framerate = stream.codec_context.time_base, Fraction(fps)
            encoder.flags |= av.codec.context.Flags.global_header
            encoder.options = options
            one = picture(g)
            one.pts = 0
            idr = encoder.encode(one) + encoder.encode(None)
            assert encoder.extradata == extradata, "a fresh encoder wrote different SPS/PPS"
            idrs.append(bytes(idr[0]))
        for k in range(total):
            g, r = divmod(k, gop)
            packet = av.Packet(idrs[g % INDEX_PERIOD] if r == 0 else skips[r - 1])
            packet.stream, packet.time_base = stream, time_base
            packet.pts = packet.dts = k * step
            packet.is_keyframe = r == 0
            out.mux_one(packet)
    return path


# --------------------------------------------------------------------------------------------
# 10. More than 8 bits, full chroma, HEVC


def encoded_mp4(path: Path, codec: str = "libx264", pix_fmt: str = "yuv420p", *, frames: int = 15, width: int = 320,
                height: int = 180, fps: int = 30, tag: str | None = None, face: bool = False) -> Path:
    """An MP4 (``codec`` in ``pix_fmt``, AAC beep at 0.2 s) for formats a reader must convert properly.

    A correct reader must see ``frames`` frames ``pattern(width, height, i)`` in 8-bit RGB, whatever
    the coded depth or chroma: a reader that reinterprets 16-bit samples as bytes, or assumes 4:2:0
    planes, returns garbage.
    """
    options = {"x265-params": "log-level=error"} if codec == "libx265" else {}
    with av.open(str(path), "w", format="mp4") as out:
        video = _video(out, codec, width, height, fps, pix_fmt=pix_fmt, options=options)
        if tag:
            video.codec_context.codec_tag = tag
        audio = _audio(out)
        _encode_frames(out, video, (pattern(width, height, i, face=face) for i in range(frames)))
        _encode_audio(out, audio, beep(max(frames / fps, 0.4), (0.2,)))
    return path


def h264_10bit(path: Path, **kwargs: Any) -> Path:
    """H.264 High 10 (``yuv420p10le``): what some cameras and screen recorders write."""
    return encoded_mp4(path, "libx264", "yuv420p10le", **kwargs)


def h264_444(path: Path, **kwargs: Any) -> Path:
    """H.264 High 4:4:4 Predictive (``yuv444p``): full-resolution chroma, as lossless screen captures."""
    return encoded_mp4(path, "libx264", "yuv444p", **kwargs)


def hevc(path: Path, pix_fmt: str = "yuv420p", **kwargs: Any) -> Path:
    """HEVC (libx265) tagged ``hvc1`` as iPhones write it (Main; Main 10 with ``yuv420p10le``)."""
    return encoded_mp4(path, "libx265", pix_fmt, tag="hvc1", **kwargs)
