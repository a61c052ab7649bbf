"""Which predictor serves a model name: the embedded default, or a trained checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

from mmer.predictor.answer import Limits
from mmer.predictor.base import Predictor
from mmer.predictor.default import DefaultPredictor
from mmer.predictor.fusion import FusionPredictor

log = logging.getLogger(__name__)


def load_predictor(model: str | Path | None = None, *, device: str = "auto", limits: Limits = Limits()) -> Predictor:
    """``None`` → the embedded default (face + voice experts); a checkpoint (or training-run) directory → that model.

    Never serves random weights: a missing default model raises BackboneUnavailable (run
    ``mmer weights fetch``), an unusable checkpoint CheckpointError.
    """
    if model is None or str(model) == "":
        return DefaultPredictor(device=device, limits=limits)
    return FusionPredictor(model, device=device, limits=limits)
