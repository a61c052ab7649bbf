"""From a video file to six scores and a timeline: the one road the service and ``mmer predict`` take.

Split by concern: :mod:`~mmer.predictor.answer` (the answer, its errors and limits),
:mod:`~mmer.predictor.reader` (sniffing, checking and reading an upload), :mod:`~mmer.predictor.base`
(what predictors share, the face tracker), :mod:`~mmer.predictor.default` (the embedded face + voice
model), :mod:`~mmer.predictor.photo` (a photo, read by the default's face expert),
:mod:`~mmer.predictor.fusion` (a trained checkpoint), :mod:`~mmer.predictor.loading`.

Two predictors behind one interface, chosen by :func:`load_predictor`:

- :class:`DefaultPredictor`, the embedded default: the face expert (the pretrained
  facial-expression CNN on the main face of sampled frames, FER's seven classes mapped onto ours)
  and the voice expert (:mod:`mmer.voice`, on the speech the VAD finds), pooled per segment
  (:mod:`mmer.pooling`). Works offline; either expert answers alone when the other has nothing
  (a photo is read by the face alone, as a one-second still).
- :class:`FusionPredictor`: a checkpoint written by ``mmer train``. The clip is cut into windows
  the length of a training clip; per window the checkpoint's own video and audio backbones embed
  the face crops and the sound, exactly as feature extraction did, and the fusion model answers
  from whichever modalities are there.

Decoding streams (frames are sampled by seeking, audio is cut into windows as it decodes), so
memory does not grow with a video's length and cost grows linearly with it. Every problem with
the input is an :class:`InputError` with a machine-readable ``code`` and a sentence for the user.
"""

from mmer.predictor.answer import INPUT_ERRORS, InputError, Limits, Prediction
from mmer.predictor.base import Predictor
from mmer.predictor.default import DefaultPredictor, FacePredictor
from mmer.predictor.fusion import FusionPredictor
from mmer.predictor.loading import load_predictor
from mmer.predictor.reader import (
    AUDIO_ONLY_CONTAINERS,
    IMAGE_CONTAINERS,
    check_coverage,
    check_media,
    check_video,
    sniff_media,
)

__all__ = [
    "AUDIO_ONLY_CONTAINERS", "IMAGE_CONTAINERS", "INPUT_ERRORS", "DefaultPredictor", "FacePredictor",
    "FusionPredictor", "InputError", "Limits", "Prediction", "Predictor", "check_coverage", "check_media",
    "check_video", "load_predictor", "sniff_media",
]
