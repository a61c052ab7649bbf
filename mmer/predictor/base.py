"""What every predictor shares: the limits, the crop geometry, per-thread face detectors and the
tracker that follows the main face from frame to frame."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmer.budget import Budget
from mmer.faces import get_detector
from mmer.faces.base import Detection, FaceDetector
from mmer.faces.crop import crop_settings
from mmer.predictor.answer import Limits, Prediction

log = logging.getLogger(__name__)


#: A face box found at time t is reused for frames up to this many seconds later instead of
#: detecting again: detection is most of the cost, and a talking head moves a few percent of its
#: width in that time, well inside the crop's 25 % margin. At the default 8 samples a second of a
#: short clip this detects on every fourth sample.
REUSE_BOX_S = 0.4
#: Face detection while serving: one main face, at least a tenth of the frame's short side
#: (webcam, phone, interview footage), found on a 320-pixel copy: about 11 ms per 720p frame here
#: instead of 27 ms with the dataset settings (`mmer faces` also looks for smaller faces).
DETECTOR_OPTIONS: dict[str, Any] = {"max_side": 320, "min_face": 0.1}
#: Once a face is known, the next detection looks only around it: a square ROI of this many face
#: sides, searched on a 128-pixel copy for faces of at least a quarter of it (a few ms, not ~11).
ROI_SIDES = 2.2
ROI_OPTIONS: dict[str, Any] = {"max_side": 128, "min_face": 0.25, "max_face": 0.7}


class FaceTracker:
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

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": self.source, "modalities": list(self.modalities),
                "calibrated": self.calibrated, "temperature": self.temperature}

    def _detector(self, kind: str) -> FaceDetector:
        """This thread's detector of a kind (OpenCV cascades are not shared between threads):
        ``frame`` and ``roi`` for the default model's fast search."""
        if not hasattr(self._local, kind):
            options = {"frame": DETECTOR_OPTIONS, "roi": ROI_OPTIONS}[kind]
            setattr(self._local, kind, get_detector(self.detector_name, **options))
        return getattr(self._local, kind)

    def face(self, image: np.ndarray) -> Detection | None:
        """The main face of a frame: the largest confident box."""
        return main_face(self._detector("frame").detect(image))

    def face_near(self, image: np.ndarray) -> Detection | None:
        """The main face of a region cut around where the face was."""
        return main_face(self._detector("roi").detect(image))

    def tracker(self) -> FaceTracker:
        return FaceTracker(self.face, self.face_near)

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


def main_face(faces: Sequence[Detection]) -> Detection | None:
    return max(faces, key=lambda d: d.area * d.score) if faces else None
