"""The face half of the preprocessing record: which detector found the faces, with which options,
how often, how the track was bridged and smoothed, and how the crops were cut.

`mmer faces` writes it into every box file, feature extraction into the feature cache's
settings, training into the checkpoint; serving rebuilds its detector and crops from it, so a
model trained on YOLO boxes is served YOLO boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmer.faces.tracking import DEFAULT_MAX_GAP, DEFAULT_SMOOTH_WINDOW

#: Face-crop geometry used unless told otherwise (the service must crop alike).
DEFAULT_SIZE = 224
DEFAULT_MARGIN = 0.25
#: Options that say where a detector runs, not what it finds: never part of the record.
RUNTIME_OPTIONS = ("device",)
#: Settings of how boxes become crops, chosen after boxing: never part of a box file's record.
CROP_KEYS = ("face_size", "face_margin", "align")


@dataclass(frozen=True)
class FaceRecipe:
    """How faces are found and cut: the face half of the preprocessing record, written into box
    files, feature caches and checkpoints, and rebuilt by serving from the checkpoint."""

    #: Records from before the detector was recorded in them were all made with the Haar cascade.
    detector: str = "opencv"
    #: The detector's own options as `mmer faces` built it (weights, thresholds); never the device.
    detector_options: dict[str, Any] = field(default_factory=dict)
    #: The detector ran on every ``every``-th frame; frames between are interpolated.
    every: int = 1
    max_gap: int = DEFAULT_MAX_GAP
    smooth_window: int = DEFAULT_SMOOTH_WINDOW
    face_size: int = DEFAULT_SIZE
    face_margin: float = DEFAULT_MARGIN
    #: Turn each crop about its centre so that the eyes are level (:func:`mmer.faces.crop.aligned_crop`),
    #: where the detector gave landmarks (MTCNN); off, crops are cut as they always were.
    align: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The record. ``align`` is written only when on: records made before it existed (feature
        caches, checkpoints) were all unaligned, and stay equal to the record of the same recipe now,
        so adding the setting invalidates no cache."""
        record = {"detector": self.detector, "detector_options": dict(self.detector_options), "every": self.every,
                  "max_gap": self.max_gap, "smooth_window": self.smooth_window, "face_size": self.face_size,
                  "face_margin": self.face_margin}
        return {**record, "align": True} if self.align else record

    def boxing(self) -> dict[str, Any]:
        """The part a box file records (the crop geometry and alignment are chosen later)."""
        return {k: v for k, v in self.as_dict().items() if k not in CROP_KEYS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceRecipe:
        """From a record; keys it lacks (files written before they were recorded) keep the defaults
        those files were made with."""
        get = {k: data[k] for k in cls.__dataclass_fields__ if data.get(k) is not None}.get
        default = cls()
        options = {k: v for k, v in dict(get("detector_options", {})).items()
                   if k not in RUNTIME_OPTIONS and v is not None}
        return cls(detector=str(get("detector", default.detector)), detector_options=options,
                   every=int(get("every", default.every)), max_gap=int(get("max_gap", default.max_gap)),
                   smooth_window=int(get("smooth_window", default.smooth_window)),
                   face_size=int(get("face_size", default.face_size)),
                   face_margin=float(get("face_margin", default.face_margin)),
                   align=bool(get("align", default.align)))
