"""Fixed-size square face crops, from one frame or a whole clip with its box file.

Training data and the service crop with these same functions, so a model never sees faces
framed one way in training and another way in production. A crop is cut square around the box
(:func:`crop_face`), or, when the recipe asks and the detector gave eye landmarks, the same square
turned about its centre so that the eyes are level (:func:`aligned_crop`, the geometry in
:mod:`mmer.faces.align`); :func:`face_crop` is the one choice between them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mmer import media
from mmer.errors import InvalidValue
from mmer.faces.align import PointsLike, as_points, roll_angle, square_transform, warp_square
from mmer.faces.base import Detection
from mmer.faces.boxes import validate_boxes
from mmer.faces.recipe import DEFAULT_MARGIN, DEFAULT_SIZE

log = logging.getLogger(__name__)

BoxLike = Detection | Sequence[float]


class NoFaceFound(ValueError):
    """The box file has no face in any frame, so there is nothing to crop."""


#: Written by `mmer crop` next to the face clips: the geometry they were cut with.
SETTINGS_FILE = "crop.json"


def crop_settings(size: int = DEFAULT_SIZE, margin: float = DEFAULT_MARGIN) -> dict[str, Any]:
    return {"face_size": int(size), "face_margin": float(margin)}


def read_crop_settings(faces_dir: Path) -> dict[str, Any] | None:
    """The geometry recorded in ``faces_dir`` by `mmer crop`, or None for a folder made otherwise."""
    path = Path(faces_dir) / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return crop_settings(data["face_size"], data["face_margin"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidValue(f"{path} is damaged ({exc}); delete it and re-run `mmer crop --overwrite`") from exc


def _coords(box: BoxLike) -> tuple[float, float, float, float]:
    if isinstance(box, Detection):
        return box.box
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2, y2


def square_crop_box(box: BoxLike, frame_w: int, frame_h: int,
                    margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """Integer square (x1, y1, x2, y2) centred on the box, side ``max(w, h) * (1 + margin)``.

    Square, so resizing to the model's input never stretches a face; centred even at the
    frame's border (the part outside is padded by :func:`crop_face`), so the face stays
    where the model expects it. The side is capped at the frame's longer side: past that a
    crop only adds padding.
    """
    if margin < 0:
        raise InvalidValue(f"margin cannot be negative, got {margin}")
    if frame_w < 1 or frame_h < 1:
        raise ValueError(f"frame size must be positive, got {frame_w}x{frame_h}")
    x1, y1, x2, y2 = _coords(box)
    side = min(max(x2 - x1, y2 - y1) * (1.0 + margin), max(frame_w, frame_h))
    side_px = max(2, round(side))
    left = round((x1 + x2) / 2 - side_px / 2)
    top = round((y1 + y2) / 2 - side_px / 2)
    return left, top, left + side_px, top + side_px


def crop_face(image: np.ndarray, box: BoxLike, size: int = DEFAULT_SIZE, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The square around ``box`` (see :func:`square_crop_box`), black where it leaves the
    frame, resized to (size, size, 3) with area averaging (no aliasing when shrinking)."""
    if size < 1:
        raise InvalidValue(f"size must be positive, got {size}")
    height, width = image.shape[:2]
    x1, y1, x2, y2 = square_crop_box(box, width, height, margin)
    ix1, iy1 = min(max(x1, 0), width), min(max(y1, 0), height)
    ix2, iy2 = max(min(x2, width), ix1), max(min(y2, height), iy1)
    patch = image[iy1:iy2, ix1:ix2]
    if patch.size == 0:  # the square lies wholly outside the frame
        return np.zeros((size, size, 3), dtype=image.dtype)
    padded = cv2.copyMakeBorder(patch, iy1 - y1, y2 - iy2, ix1 - x1, x2 - ix2, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.resize(padded, (size, size), interpolation=cv2.INTER_AREA)


def _landmarks_of(box: BoxLike, landmarks: PointsLike | None) -> np.ndarray | None:
    if landmarks is None and isinstance(box, Detection):
        landmarks = box.landmarks
    return None if landmarks is None else as_points(landmarks)


def aligned_square(box: BoxLike, landmarks: PointsLike | None, frame_w: int, frame_h: int,
                   margin: float = DEFAULT_MARGIN) -> tuple[tuple[float, float], float, float]:
    """The aligned crop's square in the frame: (its centre, its side, the angle it is turned by in
    degrees). Centre and side are :func:`square_crop_box`'s, so the face is framed as the unaligned
    crop frames it; the angle is :func:`mmer.faces.align.roll_angle` of the landmarks (the box's own
    when ``landmarks`` is None and it is a :class:`Detection`), 0 without any."""
    x1, y1, x2, y2 = square_crop_box(box, frame_w, frame_h, margin)
    points = _landmarks_of(box, landmarks)
    return ((x1 + x2) / 2, (y1 + y2) / 2), float(x2 - x1), 0.0 if points is None else roll_angle(points)


def crop_transform(box: BoxLike, landmarks: PointsLike | None, frame_w: int, frame_h: int,
                   size: int = DEFAULT_SIZE, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The 2×3 affine map from frame pixels to :func:`aligned_crop`'s pixels: where a point of the
    frame (a landmark, say) lands in the crop."""
    return square_transform(*aligned_square(box, landmarks, frame_w, frame_h, margin), size)


def aligned_crop(image: np.ndarray, box: BoxLike, landmarks: PointsLike | None = None, size: int = DEFAULT_SIZE,
                 margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The square of :func:`crop_face` around ``box``, turned about its centre by the eyes'
    :func:`mmer.faces.align.roll_angle` so that they are level, resampled once to (size, size, C).
    ``landmarks`` (left eye, right eye first, as the image shows them) default to the box's own when
    it is a :class:`Detection`; with none, this is :func:`crop_face` exactly. With the eyes level it
    equals :func:`crop_face` within interpolation, except past the frame's border, where it repeats
    the edge instead of padding black (see :mod:`mmer.faces.align`)."""
    if size < 1:
        raise InvalidValue(f"size must be positive, got {size}")
    if _landmarks_of(box, landmarks) is None:
        return crop_face(image, box, size, margin)
    height, width = image.shape[:2]
    out = warp_square(image, *aligned_square(box, landmarks, width, height, margin), size)
    return crop_face(image, box, size, margin) if out is None else out


def face_crop(image: np.ndarray, box: BoxLike, landmarks: PointsLike | None = None, *, size: int = DEFAULT_SIZE,
              margin: float = DEFAULT_MARGIN, align: bool = False) -> np.ndarray:
    """The crop a :class:`mmer.faces.recipe.FaceRecipe` asks for: :func:`aligned_crop` when ``align``
    (and landmarks are known), else :func:`crop_face`. Training and serving both cut faces with this
    one function, so the recipe alone decides how a face is cut."""
    if align:
        return aligned_crop(image, box, landmarks, size, margin)
    return crop_face(image, box, size, margin)


class BoxLookup:
    """Each decoded frame's box: its own, else the nearest frame's that has one (the earlier on a
    tie). Also serves frames the box file does not list, e.g. when it and the video disagree
    on the frame count. :meth:`landmarks` gives the same frame's landmarks, where it has them."""

    def __init__(self, frames: list[dict[str, Any]]) -> None:
        known = [f for f in frames if f["box"] is not None]
        self.indices = np.array([f["index"] for f in known], dtype=np.int64)
        self.boxes = np.array([f["box"] for f in known], dtype=np.float64).reshape(-1, 4)
        self.points = np.full((len(known), 5, 2), np.nan)
        for k, f in enumerate(known):
            if f.get("landmarks") is not None:
                self.points[k] = f["landmarks"]

    def __len__(self) -> int:
        return len(self.indices)

    def _position(self, index: int) -> int:
        pos = int(np.searchsorted(self.indices, index))
        if pos == len(self.indices) or (pos > 0 and index - self.indices[pos - 1] <= self.indices[pos] - index):
            pos -= 1
        return pos

    def __call__(self, index: int) -> np.ndarray:
        return self.boxes[self._position(index)]

    def landmarks(self, index: int) -> np.ndarray | None:
        """(5, 2) landmarks of the frame whose box ``index`` gets, or None where it has none."""
        points = self.points[self._position(index)]
        return None if np.isnan(points).any() else points


def crop_clip(
    video_path: media.PathLike,
    boxes: dict[str, Any],
    dest: media.PathLike,
    *,
    size: int = DEFAULT_SIZE,
    margin: float = DEFAULT_MARGIN,
    align: bool = False,
) -> int:
    """Write a ``size``×``size`` face clip (video only, source frame rate) atomically; returns
    the number of frames written, one per decoded frame of ``video_path``. A ``.mkv`` ``dest`` is
    written lossless (FFV1): its frames are the very crops the features are computed from.
    With ``align``, frames whose box has landmarks are cut upright (:func:`mmer.faces.align.face_crop`).

    Raises :class:`NoFaceFound` if ``boxes`` has no face at all, ValueError for a malformed
    box dict, :class:`mmer.media.MediaError` for an unreadable video.
    """
    name = Path(video_path).name
    validate_boxes(boxes, source=f"face boxes for {name}")
    lossless = Path(dest).suffix.lower() == ".mkv"
    if size < 2 or (size % 2 and not lossless):
        raise InvalidValue(f"size must be an even number of pixels (H.264), got {size}")
    lookup = BoxLookup(boxes["frames"])
    if not len(lookup):
        raise NoFaceFound(f"no face was found in any frame of {name}; nothing to crop")
    fps = media.video_fps(video_path)
    scale: np.ndarray | None = None
    written = 0
    with media.VideoWriter(dest, fps, size, size, lossless=lossless) as writer:
        for frame in media.iter_frames(video_path):
            if scale is None:
                scale = _box_scale(boxes, frame.image, name)
            points = lookup.landmarks(frame.index)
            writer.write(face_crop(frame.image, lookup(frame.index) * scale,
                                   None if points is None else points * scale[:2], size=size, margin=margin,
                                   align=align))
            written += 1
        if written == 0:
            raise media.MediaError(f"{name}: video stream has no decodable frames")
    if written != len(boxes["frames"]):
        log.warning("%s: box file lists %d frames, the video has %d; frames without an entry used the "
                    "nearest frame's box", name, len(boxes["frames"]), written)
    return written


def _box_scale(boxes: dict[str, Any], image: np.ndarray, name: str) -> np.ndarray:
    """Factors from the box file's frame size to the decoded one (1 unless they differ)."""
    height, width = image.shape[:2]
    if (width, height) == (boxes["width"], boxes["height"]):
        return np.ones(4)
    log.warning("%s: box file is for %dx%d frames, the video has %dx%d; scaling the boxes", name,
                boxes["width"], boxes["height"], width, height)
    sx, sy = width / boxes["width"], height / boxes["height"]
    return np.array([sx, sy, sx, sy])
