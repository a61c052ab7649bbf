"""What every face detector returns, and the one method it must have.

Tracking, the box files and cropping only ever see :class:`Detection` objects in source-frame
pixels, so any backend (a Haar cascade, a YOLO network, something later) can be swapped in
without touching them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from mmer.errors import UserError


class FaceDetectorUnavailable(UserError, RuntimeError):
    """A detector cannot be built here (missing package, weights or cascade). The message is one
    line meant for the user, saying what to do instead."""


#: Five facial points, each (x, y) in the frame's pixels, in this order (MTCNN's).
Landmarks = tuple[tuple[float, float], ...]
#: Names of the five points, in their order. "Left" and "right" are as the image shows them: the
#: left eye is the one nearer the image's left edge on an upright face (the person's right eye).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Detection:
    """One face box in pixel coordinates of the frame it was found in; ``score`` is in [0, 1].

    ``landmarks``, when the detector gives them (MTCNN does; the Haar cascade and YOLO do not), are
    the five points of :data:`LANDMARK_NAMES` in the same pixels: they say how the face is turned
    in the picture, which the box cannot, so crops can be cut upright (:mod:`mmer.faces.align`).
    They may lie a little outside the box, and outside the frame for a face cut by its border.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    landmarks: Landmarks | None = None

    def __post_init__(self) -> None:
        values = (self.x1, self.y1, self.x2, self.y2, self.score)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"detection has a non-finite value: {values}")
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(f"detection box has negative size: {self.box}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"detection score {self.score} is outside [0, 1]")
        if self.landmarks is not None:
            # Any (5, 2) array-like is accepted and stored as plain float tuples: hashable, comparable.
            points = np.asarray(self.landmarks, dtype=np.float64)
            if points.shape != (len(LANDMARK_NAMES), 2) or not np.isfinite(points).all():
                raise ValueError(f"landmarks must be {len(LANDMARK_NAMES)} finite (x, y) points, got {self.landmarks}")
            object.__setattr__(self, "landmarks", tuple((float(x), float(y)) for x, y in points))

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def clipped(self, width: int, height: int) -> Detection:
        """The same box cut to the frame: detectors may report boxes that run past the border.
        The landmarks stay where they are: they mark the face, not the part of it in view."""
        x1, x2 = sorted((min(max(self.x1, 0.0), width), min(max(self.x2, 0.0), width)))
        y1, y2 = sorted((min(max(self.y1, 0.0), height), min(max(self.y2, 0.0), height)))
        return Detection(x1, y1, x2, y2, self.score, self.landmarks)

    def shifted(self, dx: float, dy: float) -> Detection:
        """The same face in a frame whose origin lies (-dx, -dy) from this one's: e.g. a box found
        in a region cut at (dx, dy), in the whole frame's pixels. Landmarks move with the box."""
        points = None if self.landmarks is None else tuple((x + dx, y + dy) for x, y in self.landmarks)
        return Detection(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy, self.score, points)

    def scaled(self, sx: float, sy: float) -> Detection:
        """The same face in a copy of the frame resized by (sx, sy): pixel edges scale exactly."""
        points = None if self.landmarks is None else tuple((x * sx, y * sy) for x, y in self.landmarks)
        return Detection(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy, self.score, points)


def iou(a: Detection, b: Detection) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def check_image(image: np.ndarray) -> np.ndarray:
    """The frame as a contiguous (H, W, 3) uint8 array; anything else is a caller's bug."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} dtype {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image {image.shape}")
    return np.ascontiguousarray(image)


class FaceDetector(ABC):
    """Finds faces in one RGB frame. Implementations keep their model loaded between calls,
    because a clip is thousands of calls."""

    #: Short name written into the box files (``"opencv"``, ``"yolo"``).
    name: str = ""

    @abstractmethod
    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """All faces in ``image_rgb`` ((H, W, 3) uint8), boxes in its pixels, best first."""
