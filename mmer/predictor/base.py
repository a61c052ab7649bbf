"""What every predictor shares: the limits, the crop geometry, and per-thread face detectors with
the serving settings (the tracker that follows the main face is :class:`mmer.faces.tracking.FaceTracker`)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from mmer.budget import Budget
from mmer.faces import DEFAULT_DETECTOR, get_detector
from mmer.faces.base import Detection, FaceDetector
from mmer.faces.crop import crop_settings
from mmer.faces.tracking import FaceTracker, main_face
from mmer.predictor.answer import Limits, Prediction

log = logging.getLogger(__name__)


#: Face detection while serving: one main face, at least a tenth of the frame's short side
#: (webcam, phone, interview footage), found on a 320-pixel copy: about 11 ms per 720p frame here
#: instead of 27 ms with the dataset settings (`mmer faces` also looks for smaller faces).
DETECTOR_OPTIONS: dict[str, Any] = {"max_side": 320, "min_face": 0.1}
#: Once a face is known, the next detection looks only around it: a square ROI of this many face
#: sides, searched on a 128-pixel copy for faces of at least a quarter of it (a few ms, not ~11).
ROI_OPTIONS: dict[str, Any] = {"max_side": 128, "min_face": 0.25, "max_face": 0.7}


class Predictor(ABC):
    """A loaded model that answers for video and sound files (the default also for photos);
    thread-safe (one detector per thread)."""

    kind: str
    name: str
    source: str
    modalities: tuple[str, ...]
    temperature: float = 1.0
    calibrated: bool = False
    #: Whether it answers a photo (the default model's face expert does; a trained video model does
    #: not, and refuses one with ``not_video``). The service refuses photos at the upload's first bytes
    #: for a model that does not.
    reads_photos: bool = False

    def __init__(self, *, limits: Limits, detector: str = DEFAULT_DETECTOR, face_size: int | None = None,
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
