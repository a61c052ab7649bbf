"""Per-clip face-box files: detect → track → smooth over a whole clip, and the JSON that holds it.

Detection is the slow step of preprocessing, so its result is kept on disk (one JSON per
clip, see DESIGN.md "Face boxes") and cropping can be redone with other sizes or margins
without detecting again.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmer import media
from mmer.errors import InvalidValue
from mmer.faces.base import LANDMARK_NAMES, Detection, FaceDetector
from mmer.faces.recipe import FaceRecipe
from mmer.faces.tracking import DEFAULT_MAX_GAP, DEFAULT_SMOOTH_WINDOW, track_main_face
from mmer.fsutil import write_json_atomic

log = logging.getLogger(__name__)

_TOP_KEYS = {"clip_id": str, "width": int, "height": int, "fps": (int, float), "detector": str, "frames": list}


@dataclass
class FrameBoxes:
    """The main face over a run of frames: each frame's index, time and box (None: no face)."""

    indices: list[int]
    times: list[float]
    size: tuple[int, int] | None  # (width, height) of the frames
    boxes: list[Detection | None]
    interpolated: list[bool]

    def entries(self) -> list[dict[str, Any]]:
        """The ``frames`` list of a box file."""
        return [_frame_entry(*entry) for entry in zip(self.indices, self.times, self.boxes, self.interpolated,
                                                      strict=True)]


def detect_frames(
    frames: Iterable[media.Frame],
    detector: FaceDetector,
    *,
    every: int = 1,
    max_gap: int = DEFAULT_MAX_GAP,
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
) -> FrameBoxes:
    """Detect, track and smooth the main face over ``frames`` (consumed one at a time).

    The detector runs on every ``every``-th frame and on the last one (so the end is bracketed);
    frames in between are interpolated. This is how `mmer faces` boxes a training clip, and how
    the service boxes a window of an uploaded video, so that both crop the same faces.
    """
    if every < 1:
        raise InvalidValue(f"every must be at least 1, got {every}")
    indices: list[int] = []
    times: list[float] = []
    candidates: list[list[Detection] | None] = []
    size: tuple[int, int] | None = None
    pending: media.Frame | None = None  # the latest frame not examined, in case it is the last
    for position, frame in enumerate(frames):
        size = size or (frame.image.shape[1], frame.image.shape[0])
        indices.append(frame.index)
        times.append(frame.time)
        if position % every == 0:
            candidates.append(detector.detect(frame.image))
            pending = None
        else:
            candidates.append(None)
            pending = frame
    if pending is not None:
        candidates[-1] = detector.detect(pending.image)
    track = track_main_face(candidates, max_gap=max_gap, smooth_window=smooth_window)
    return FrameBoxes(indices, times, size, track.boxes, track.interpolated)


def detect_clip(
    video_path: media.PathLike,
    detector: FaceDetector,
    *,
    clip_id: str,
    every: int = 1,
    max_gap: int = DEFAULT_MAX_GAP,
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
    detector_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The main face's box in every decoded frame of a clip, as the box-file dict (see
    :func:`detect_frames`). Frames stream through one at a time. The file records how the boxes
    were found (:meth:`FaceRecipe.boxing`: ``detector_options`` as the detector was built, the
    stride, gap filling and smoothing), so that serving can box alike.
    Raises :class:`mmer.media.MediaError` for an unreadable video.
    """
    if every < 1:
        raise InvalidValue(f"every must be at least 1, got {every}")
    fps = media.video_fps(video_path)
    found = detect_frames(media.iter_frames(video_path), detector, every=every, max_gap=max_gap,
                          smooth_window=smooth_window)
    if found.size is None:
        raise media.MediaError(f"{Path(video_path).name}: video stream has no decodable frames")
    log.debug("%s: main face in %d of %d frames", clip_id, sum(b is not None for b in found.boxes), len(found.times))
    recipe = FaceRecipe(detector=detector.name, detector_options=dict(detector_options or {}), every=every,
                        max_gap=max_gap, smooth_window=smooth_window)
    return {
        "clip_id": clip_id,
        "width": found.size[0],
        "height": found.size[1],
        "fps": float(fps),
        **FaceRecipe.from_dict(recipe.as_dict()).boxing(),
        "frames": found.entries(),
    }


def _frame_entry(index: int, time: float, box: Detection | None, interpolated: bool) -> dict[str, Any]:
    """One frame of a box file. ``landmarks`` ([[x, y] × 5], see :class:`Detection`) is written only
    for a box that has them, so the files of detectors without landmarks are as they always were."""
    entry: dict[str, Any] = {
        "index": index,
        "time": round(time, 6),
        "box": None if box is None else [round(v, 2) for v in box.box],
        "score": None if box is None else round(box.score, 4),
        "interpolated": interpolated,
    }
    if box is not None and box.landmarks is not None:
        entry["landmarks"] = [[round(x, 2), round(y, 2)] for x, y in box.landmarks]
    return entry


def write_boxes(path: media.PathLike, data: dict[str, Any]) -> None:
    """Validate and write a box file atomically (batch resume trusts any file that exists)."""
    validate_boxes(data, source=Path(path).name)
    write_json_atomic(path, data)


def read_boxes(path: media.PathLike) -> dict[str, Any]:
    """Load and validate a box file; ValueError naming the file and the problem otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise InvalidValue(f"{path.name}: not a text file") from None
    return validate_boxes(data, source=path.name)


def validate_boxes(data: Any, *, source: str = "face boxes") -> dict[str, Any]:
    """Check the structure every consumer relies on; returns ``data`` unchanged."""
    if not isinstance(data, dict):
        raise InvalidValue(f"{source}: expected a JSON object, got {type(data).__name__}")
    for key, kind in _TOP_KEYS.items():
        if key not in data:
            raise InvalidValue(f"{source}: missing key {key!r}")
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise InvalidValue(f"{source}: {key!r} has the wrong type ({type(data[key]).__name__})")
    if data["width"] <= 0 or data["height"] <= 0 or not data["fps"] > 0:
        raise InvalidValue(f"{source}: width, height and fps must be positive")
    previous = -1
    for position, entry in enumerate(data["frames"]):
        where = f"{source}: frames[{position}]"
        _validate_frame(entry, where)
        if entry["index"] <= previous:
            raise InvalidValue(f"{where}: index {entry['index']} does not increase")
        previous = entry["index"]
    return data


def _validate_frame(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise InvalidValue(f"{where}: expected an object")
    for key in ("index", "time", "box", "score"):
        if key not in entry:
            raise InvalidValue(f"{where}: missing key {key!r}")
    if not _is_int(entry["index"]) or entry["index"] < 0:
        raise InvalidValue(f"{where}: index must be a non-negative integer")
    if not _is_number(entry["time"]):
        raise InvalidValue(f"{where}: time must be a number")
    box, score = entry["box"], entry["score"]
    if box is None:
        return
    if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise InvalidValue(f"{where}: box must be null or [x1, y1, x2, y2]")
    if box[2] < box[0] or box[3] < box[1]:
        raise InvalidValue(f"{where}: box {box} has x2 < x1 or y2 < y1")
    if score is not None and (not _is_number(score) or not 0.0 <= score <= 1.0):
        raise InvalidValue(f"{where}: score must be null or a number in [0, 1]")
    points = entry.get("landmarks")
    if points is not None and not (isinstance(points, list) and len(points) == len(LANDMARK_NAMES) and all(
            isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p) for p in points)):
        raise InvalidValue(f"{where}: landmarks must be null or {len(LANDMARK_NAMES)} [x, y] points")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
