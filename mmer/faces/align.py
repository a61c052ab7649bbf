"""Turning a face upright: the head's roll from its eye landmarks, and a square of the frame cut
turned by it in one resampling.

An expression network trained on upright faces (FER2013's are aligned, and the training
augmentation only tilts them a little) reads a head tilted by 30° worse than the same face upright.
The detector's box cannot say how the face is turned; its eye landmarks can (MTCNN gives five
points). :func:`mmer.faces.crop.aligned_crop` keeps the unaligned crop's square, margin and output
size and only turns the square about its centre by :func:`roll_angle`; this module holds the
geometry and the resampling, and knows nothing of how the square is chosen.

The turned square is resampled once (:func:`cv2.warpAffine`), never cropped, rotated and resized
in steps that would each interpolate. Shrinking a large face to a small crop by point sampling
would alias, so the region is first averaged over a window the size of one output pixel, the
average :func:`cv2.resize`'s ``INTER_AREA`` takes (a filter, not a resampling): with the eyes level
the result equals the unaligned crop within interpolation. Past the frame's border the edge pixels
are repeated, as the training augmentation's own rotations do (a black corner turned into the
picture would be a feature no training face had).

Coordinates are pixel edges, as everywhere in :mod:`mmer.faces`: pixel column c spans [c, c + 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from mmer.errors import InvalidValue
from mmer.faces.base import Landmarks

PointsLike = Landmarks | Sequence[Sequence[float]] | np.ndarray


def as_points(landmarks: PointsLike) -> np.ndarray:
    """(N, 2) float64 points, the two eyes first; InvalidValue for anything else."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2 or not np.isfinite(points).all():
        raise InvalidValue(f"landmarks are finite (x, y) points, the two eyes first; got shape {points.shape}")
    return points


def roll_angle(landmarks: PointsLike) -> float:
    """The head's roll in the picture, in degrees: the angle from the image's x axis to the line
    from the left eye to the right eye (the first two points, as the image shows them). Positive
    when the right eye is lower than the left (y grows downwards: the head leans clockwise on
    screen); 0 for level eyes; in (-180, 180]."""
    points = as_points(landmarks)
    dx, dy = points[1] - points[0]
    return math.degrees(math.atan2(dy, dx))


def _rotation(angle: float) -> np.ndarray:
    """R turning the crop's axes by ``angle`` degrees in the frame (clockwise on screen for > 0)."""
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return np.array([[cos, -sin], [sin, cos]])


def square_transform(centre: tuple[float, float], side: float, angle: float, size: int) -> np.ndarray:
    """The 2×3 affine map from frame pixels to the pixels of a ``size`` crop of the square of
    ``side`` about ``centre`` turned by ``angle`` degrees (both as pixel edges): where a point of the
    frame (a landmark, say) lands in :func:`warp_square`'s output. Its x axis runs along the line
    the angle names, so eyes at :func:`roll_angle` come out level."""
    # A frame point p lands at q = (Rᵀ (p − c) + side / 2) · size / side.
    linear = size / side * _rotation(angle).T
    return np.column_stack([linear, size / 2 - linear @ np.asarray(centre, dtype=np.float64)])


def map_points(matrix: np.ndarray, points: PointsLike) -> np.ndarray:
    """(N, 2) points through a 2×3 affine map (e.g. :func:`square_transform`)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) @ matrix[:, :2].T + matrix[:, 2]


def _area_kernel(width: float) -> np.ndarray:
    """1-D weights averaging a window ``width`` pixels wide centred on a pixel centre: whole pixels
    inside count fully, the two it ends in by the part inside (the average ``INTER_AREA`` takes)."""
    half = width / 2
    reach = math.ceil(half - 0.5)
    taps = np.arange(-reach, reach + 1, dtype=np.float64)
    weights = np.clip(np.minimum(taps + 0.5, half) - np.maximum(taps - 0.5, -half), 0.0, None)
    return (weights / weights.sum()).astype(np.float32)


def warp_square(image: np.ndarray, centre: tuple[float, float], side: float, angle: float,
                size: int) -> np.ndarray | None:
    """The square of ``side`` frame pixels about ``centre``, turned by ``angle`` degrees (see
    :func:`square_transform`), resampled once to (size, size, C) of ``image``'s dtype; edge pixels
    repeated past the frame. None when no pixel of the frame is within its reach."""
    if size < 1 or not side > 0:
        raise InvalidValue(f"size and side must be positive, got {size} and {side}")
    height, width = image.shape[:2]
    step = side / size  # frame pixels per crop pixel
    rot = _rotation(angle)
    kernel = _area_kernel(step) if step > 1.0 else None
    # The frame region the turned square covers, with room for the averaging window and the
    # bilinear neighbours; cut (edges repeated past the frame) before anything is filtered.
    cx, cy = centre
    reach = side / 2 * (abs(rot[0, 0]) + abs(rot[1, 0])) + (len(kernel) // 2 if kernel is not None else 0) + 2
    rx1, ry1 = math.floor(cx - reach), math.floor(cy - reach)
    rx2, ry2 = math.ceil(cx + reach), math.ceil(cy + reach)
    ix1, iy1, ix2, iy2 = max(rx1, 0), max(ry1, 0), min(rx2, width), min(ry2, height)
    if ix2 <= ix1 or iy2 <= iy1:
        return None
    region = cv2.copyMakeBorder(image[iy1:iy2, ix1:ix2], iy1 - ry1, ry2 - iy2, ix1 - rx1, rx2 - ix2,
                                cv2.BORDER_REPLICATE)
    if kernel is not None:
        region = cv2.sepFilter2D(region, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    # Output pixel (u, v) (centre at u + ½) samples the frame at c + R·(step·(u + ½, v + ½) − side/2),
    # in edge coordinates; OpenCV indexes pixel centres, so subtract ½, and the region's origin.
    origin = np.array([cx, cy]) + rot @ np.full(2, step / 2 - side / 2) - 0.5 - np.array([rx1, ry1])
    inverse = np.column_stack([step * rot, origin])
    out = cv2.warpAffine(region, inverse, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(size, size, *image.shape[2:])
