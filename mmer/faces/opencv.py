"""Haar-cascade face detector: OpenCV's frontal-face cascade, no weights to fetch.

The offline default. It is fast and good enough for RAVDESS/CREMA-D, where one actor faces
the camera; YOLO is the better choice for turned heads or cluttered scenes.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from mmer.errors import InvalidValue
from mmer.faces.base import Detection, FaceDetector, FaceDetectorUnavailable, check_image

log = logging.getLogger(__name__)

CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: The cascade's own window: it cannot find anything smaller.
_CASCADE_WINDOW = 24

# detectMultiScale3 reports, per box, the sum of the last cascade stage ("level weight"). It is
# an uncalibrated margin, not a probability: on scikit-image's LFW subset and astronaut, real
# faces score about 1-12 (median ~6) while false alarms on textures (low min_neighbors) score
# about -1-5. The logistic
# below maps it to (0, 1) so that it reads like other detectors' confidences: weight 3 → 0.5,
# weight 7.5 → 0.95. Only the ordering matters to tracking, which weights boxes by score.
_WEIGHT_CENTER = 3.0
_WEIGHT_SCALE = 1.5


def weight_to_score(weight: float) -> float:
    """Map a cascade level weight to a [0, 1] confidence (monotonic logistic, see above)."""
    return 1.0 / (1.0 + math.exp(-(weight - _WEIGHT_CENTER) / _WEIGHT_SCALE))


def cascade_path() -> Path:
    """Where the installed OpenCV keeps the frontal-face cascade.

    opencv-python(-headless) 4.x ships the cascades under ``cv2.data``; OpenCV 5 dropped both,
    which would otherwise surface as an obscure empty-classifier error on the first frame.
    """
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not hasattr(cv2, "CascadeClassifier"):
        raise FaceDetectorUnavailable(
            f"OpenCV {cv2.__version__} ships no Haar cascades (cv2.data.haarcascades is missing; OpenCV 5 "
            f"dropped them): use --detector mtcnn (the default), or install opencv-python-headless<5"
        )
    path = Path(folder) / CASCADE_FILE
    if not path.is_file():
        raise FaceDetectorUnavailable(
            f"OpenCV {cv2.__version__}: {CASCADE_FILE} not found in {folder}: reinstall opencv-python-headless<5, "
            f"or use --detector yolo"
        )
    return path


class OpenCVFaceDetector(FaceDetector):
    """Frontal faces with a Haar cascade.

    Detection runs on a grey, equalised copy whose longest side is at most ``max_side``
    pixels: the cascade's cost grows with the pixel count, and faces in RAVDESS/CREMA-D are
    large, so full resolution buys nothing. Boxes are mapped back to the source frame.
    Equalisation is local (CLAHE): a global histogram is dominated by a large flat backdrop,
    which leaves the face with little contrast and the cascade blind to it. ``min_face`` is
    the smallest face to report, as a fraction of the frame's shorter side, so the setting
    means the same on 480p and 1080p clips; ``max_face`` (optional) bounds it from above, for a
    search around a face of known size.
    """

    name = "opencv"

    def __init__(
        self,
        *,
        max_side: int = 640,
        min_face: float = 0.08,
        max_face: float | None = None,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_score: float = 0.0,
    ) -> None:
        if max_side < _CASCADE_WINDOW:
            raise InvalidValue(f"max_side must be at least {_CASCADE_WINDOW}, got {max_side}")
        if not 0.0 <= min_face < 1.0:
            raise InvalidValue(f"min_face is a fraction of the frame's shorter side in [0, 1), got {min_face}")
        if max_face is not None and not min_face < max_face <= 1.0:
            raise InvalidValue(f"max_face is a fraction of the shorter side in (min_face, 1], got {max_face}")
        if scale_factor <= 1.0:
            raise InvalidValue(f"scale_factor must be above 1, got {scale_factor}")
        self.max_side = max_side
        self.min_face = min_face
        self.max_face = max_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_score = min_score
        path = cascade_path()
        self._cascade = cv2.CascadeClassifier(str(path))
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
        if self._cascade.empty():
            raise FaceDetectorUnavailable(f"OpenCV could not load the face cascade {path}")

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        image = check_image(image_rgb)
        height, width = image.shape[:2]
        gray, scale = self._prepare(image)
        rects, _levels, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_size := self._min_size(width, height, scale),) * 2,
            maxSize=(self._max_size(width, height, scale, min_size),) * 2,
            outputRejectLevels=True,
        )
        found = []
        for (x, y, w, h), weight in zip(np.reshape(rects, (-1, 4)), np.ravel(weights), strict=True):
            score = weight_to_score(float(weight))
            if score < self.min_score:
                continue
            x1, y1, x2, y2 = (float(v) / scale for v in (x, y, x + w, y + h))
            box = Detection(x1, y1, x2, y2, score)
            found.append(box.clipped(width, height))
        found.sort(key=lambda d: d.score, reverse=True)
        return found

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Downscaled, grey, locally equalised copy and the factor from source to it."""
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            # Use the exact ratio of the resized image so boxes map back without drift.
            scale = image.shape[1] / width
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return self._clahe.apply(gray), scale

    def _max_size(self, width: int, height: int, scale: float, min_size: int) -> int:
        """The largest face searched for (0: no bound); fewer scales to scan where the size is known."""
        if self.max_face is None:
            return 0
        return max(min_size, round(self.max_face * min(width, height) * scale))

    def _min_size(self, width: int, height: int, scale: float) -> int:
        return max(_CASCADE_WINDOW, round(self.min_face * min(width, height) * scale))
