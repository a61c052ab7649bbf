"""The one reader: a clip, cut into windows, becomes what a trained model eats.

For each window (``[start, end)`` seconds of the clip) it gives the face crops of ``num_frames``
evenly spaced instants and the window's sound at the backbone's rate, with their times. Feature
extraction (`mmer extract-video`, `mmer extract-audio`: one window, the whole clip), `mmer
predict` and the service (windows of the training clips' length) all call :func:`read_windows`,
so a checkpoint is served the very pixels and samples its features were computed from.

The faces are boxed by a :class:`BoxSource`. For a trained model it is :class:`RecordedBoxes`:
the box file `mmer faces` wrote (training, where detection is the slow step and is kept on disk),
or the same track computed in memory by :func:`box_clip` with the checkpoint's recorded detector,
stride, gap filling and smoothing (serving). For the default model, which reads single frames, it
is :class:`TrackedBoxes` on sparse samples. Either way the crops are cut from the decoded frames
themselves, never from a re-encoded copy.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mmer import media
from mmer.budget import Budget
from mmer.faces.base import Detection, FaceDetector
from mmer.faces.boxes import FrameBoxes, detect_frames
from mmer.faces.crop import BoxLookup, face_crop
from mmer.faces.recipe import FaceRecipe
from mmer.faces.tracking import FaceTracker
from mmer.timing import Clock

log = logging.getLogger(__name__)

#: Decoded frames allowed to wait for face detection (decoding runs ahead in its own thread).
PREFETCH = 8


class BoxSource(Protocol):
    """Boxes the main face over the frames of one window."""

    #: Whether a sampled frame without a box of its own borrows the nearest frame's (as the crops of
    #: a dense track do), or is left out (a sparse tracker's frame without a face has none).
    borrows: bool

    def boxes(self, frames: Iterable[media.Frame]) -> FrameBoxes:
        """Consume ``frames`` (every decoded frame of the window, in order) → their main-face boxes."""


class RecordedBoxes:
    """The boxes of a box file (or of :func:`box_clip`), for the frames they were found in, scaled
    if the decoded frames' size differs from the file's. A frame the file has no box for gets
    none here: a window borrows the nearest box among its own frames (see :func:`read_windows`)."""

    borrows = True

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.known = {f["index"]: f for f in data["frames"] if f["box"] is not None}

    def boxes(self, frames: Iterable[media.Frame]) -> FrameBoxes:
        indices, times, size = [], [], None
        for frame in frames:
            size = size or (frame.image.shape[1], frame.image.shape[0])
            indices.append(frame.index)
            times.append(frame.time)
        if size is None:
            return FrameBoxes(indices, times, size, [], [])
        sx, sy = size[0] / self.data["width"], size[1] / self.data["height"]
        if (sx, sy) != (1.0, 1.0):
            log.warning("%s: box file is for %dx%d frames, the video has %dx%d; scaling the boxes",
                        self.data.get("clip_id", "clip"), self.data["width"], self.data["height"], *size)
        boxes: list[Detection | None] = []
        for index in indices:
            entry = self.known.get(index)
            box = None if entry is None else Detection(*entry["box"], 1.0, entry.get("landmarks"))
            boxes.append(None if box is None else box.scaled(sx, sy))
        return FrameBoxes(indices, times, size, boxes, [False] * len(indices))


def box_clip(path: media.PathLike, detector: FaceDetector, recipe: FaceRecipe, *,
             limits: media.DecodeLimits | None = None, budget: Budget | None = None,
             clock: Clock | None = None) -> RecordedBoxes | None:
    """What `mmer faces` would write for the clip, in memory: the main face's dense track over the
    whole clip (:func:`mmer.faces.boxes.detect_frames` with the recipe's detector stride, gap
    filling and smoothing), to cut windows from. Tracking the whole clip, as training did, keeps a
    window's edges from seeing another track or a one-sided smoothing; None for a clip without frames.
    """
    clock = clock or Clock()
    frames = clock.iterate("decode", background(media.iter_frames(path, limits=limits, budget=budget)))
    found = detect_frames(frames, _Timed(detector, clock), every=recipe.every, max_gap=recipe.max_gap,
                          smooth_window=recipe.smooth_window)
    if found.size is None:
        return None
    return RecordedBoxes({"width": found.size[0], "height": found.size[1], "frames": found.entries(),
                          "last_frame": found.times[-1]})


class TrackedBoxes:
    """The main face of sparse samples, found by a :class:`mmer.faces.tracking.FaceTracker`
    (reused within a short time, looked for near its last place first); a sample without a face
    stays without one."""

    borrows = False

    def __init__(self, tracker: FaceTracker, clock: Clock | None = None) -> None:
        self.tracker, self.clock = tracker, clock or Clock()

    def boxes(self, frames: Iterable[media.Frame]) -> FrameBoxes:
        indices, times, found, size = [], [], [], None
        for frame in frames:
            size = size or (frame.image.shape[1], frame.image.shape[0])
            indices.append(frame.index)
            times.append(frame.time)
            found.append(self.clock.timed("faces", self.tracker.box, frame.time, frame.image))
        return FrameBoxes(indices, times, size, found, [False] * len(found))


@dataclass
class Window:
    """One window's model inputs. ``faces`` is (num_frames, size, size, 3) uint8 RGB, None when no
    frame of the window has a face (or video is not read); ``audio`` is mono float32, None when
    sound is not read or the clip has none."""

    start: float
    end: float
    faces: np.ndarray | None = None
    #: The sample instant each crop stands for (its frame is the one on screen then).
    face_times: list[float] = field(default_factory=list)
    audio: np.ndarray | None = None
    #: The last decoded frame's time (a truncated file shows here), None without video.
    last_frame: float | None = None


def window_edges(duration: float, window_s: float | None) -> list[float]:
    """One window for a clip up to 1.5 windows long (or without a window length); otherwise windows
    of ``window_s``, the remainder joined to the last one."""
    if window_s is None or duration <= 1.5 * window_s:
        return [0.0, duration]
    count = max(1, round(duration / window_s))
    return [i * window_s for i in range(count)] + [duration]


def read_windows(path: media.PathLike, edges: Sequence[float], *, boxes: BoxSource | None,
                 num_frames: int | Sequence[int], recipe: FaceRecipe, sample_rate: int | None,
                 limits: media.DecodeLimits | None = None, budget: Budget | None = None, clock: Clock | None = None,
                 every_frame: bool = True, skip_b_frames: bool = False, sound_to_end: bool = True) -> Iterator[Window]:
    """The windows ``[edges[i], edges[i+1])`` of the clip at ``path``, one at a time, as decoding
    reaches them.

    Video (when ``boxes`` is given): for each window, the frames on screen at
    :func:`mmer.media.sample_times` of the window (``num_frames``, or ``num_frames[i]`` for window
    i) are cropped with the recipe's geometry; a sampled frame without a box borrows the nearest
    box among the window's frames when ``boxes.borrows``. With ``every_frame`` every frame is
    decoded and given to ``boxes`` (the last window takes all frames left);
    otherwise only the sampled frames are decoded (``skip_b_frames`` may move each a B-frame run
    earlier) and boxed, for a model that reads single frames. Sound (when ``sample_rate`` is given):
    the window's samples on the video's clock; with ``sound_to_end`` the last window's run to the end
    of the track, as a whole training clip's do. A clip without sound gets ``audio`` None.
    """
    clock = clock or Clock()
    budget = budget or Budget()
    count = len(edges) - 1
    counts = [num_frames] * count if isinstance(num_frames, int) else list(num_frames)
    if len(counts) != count:
        raise ValueError(f"{len(counts)} frame counts for {count} windows")
    targets = [media.sample_times(b - a, k, a) if k else [] for a, b, k in zip(edges, edges[1:], counts,
                                                                               strict=False)]
    sounds: Iterator[np.ndarray] | None = None
    if sample_rate is not None:
        sounds = clock.iterate("decode", media.iter_audio_segments(
            path, [*edges[:-1], math.inf] if sound_to_end else list(edges), sample_rate, limits=limits,
            budget=budget))
    frames: Peekable | None = None
    if boxes is not None and every_frame:
        frames = Peekable(clock.iterate("decode", background(media.iter_frames(path, limits=limits,
                                                                               budget=budget))))
    elif boxes is not None:
        frames = Peekable(clock.iterate("decode", background(_sampled(
            path, [t for ts in targets for t in ts], limits, budget, skip_b_frames))))
    for index, (start, end) in enumerate(zip(edges, edges[1:], strict=False)):
        window = Window(start, end)
        if frames is not None and boxes is not None:
            wanted = targets[index]
            if every_frame:
                picked: list[media.Frame | None] = [None] * len(wanted)
                found = boxes.boxes(media.keep_on_screen(until(frames, None if index == count - 1 else end),
                                                         wanted, picked))
            else:
                picked = [frames.take() for _ in wanted]
                found = boxes.boxes(f for f in picked if f is not None)
            window.last_frame = found.times[-1] if found.times else None
            window.faces, window.face_times = clock.timed("faces", _crops, picked, wanted, found, boxes.borrows,
                                                          recipe)
        if sounds is not None:
            try:
                window.audio = next(sounds)
            except media.NoAudioStream:
                sounds = None
        budget.check()
        yield window


def _sampled(path: media.PathLike, targets: Sequence[float], limits: media.DecodeLimits | None,
             budget: Budget | None, skip_b_frames: bool) -> Iterator[media.Frame]:
    """The frame on screen at each target, numbered by its target (two targets may share a frame)."""
    for i, t, image in media.iter_frames_at(path, targets, limits=limits, budget=budget,
                                            skip_b_frames=skip_b_frames):
        yield media.Frame(index=i, time=t, image=image)


def _crops(picked: Sequence[media.Frame | None], wanted: Sequence[float], found: FrameBoxes, borrows: bool,
           recipe: FaceRecipe) -> tuple[np.ndarray | None, list[float]]:
    """The crops of the picked frames that have a box (their own, or with ``borrows`` the nearest
    frame's), cut upright where the recipe says so and the box has landmarks, and the sample
    instant each stands for."""
    lookup = BoxLookup(found.entries())
    own = {i for i, b in zip(found.indices, found.boxes, strict=True) if b is not None}
    chosen = [(f, t) for f, t in zip(picked, wanted, strict=True)
              if f is not None and (f.index in own or (borrows and len(lookup)))]
    if not chosen:
        return None, []
    crops = [face_crop(f.image, lookup(f.index), lookup.landmarks(f.index), size=recipe.face_size,
                       margin=recipe.face_margin, align=recipe.align) for f, _ in chosen]
    return np.stack(crops), [t for _, t in chosen]


class _Timed:
    """A detector whose time counts as the ``faces`` stage (the frames it sees are decoded meanwhile)."""

    def __init__(self, detector: FaceDetector, clock: Clock | None) -> None:
        self.detector, self.clock, self.name = detector, clock, detector.name

    def detect(self, image: np.ndarray) -> list[Detection]:
        if self.clock is None:
            return self.detector.detect(image)
        return self.clock.timed("faces", self.detector.detect, image)


def background(items: Iterator[Any], depth: int = PREFETCH) -> Iterator[Any]:
    """Run ``items`` in a thread, ``depth`` ahead of the consumer: decoding (PyAV) and face detection
    (OpenCV) both release the GIL, so they overlap. Errors are re-raised in the consumer; an early
    exit stops the producer."""
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


def until(frames: Peekable, end: float | None) -> Iterator[media.Frame]:
    """The frames before ``end`` seconds (all that are left for None); the first one after stays."""
    while (frame := frames.peek()) is not None and (end is None or frame.time < end - 1e-6):
        yield frames.take()


class Peekable:
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
