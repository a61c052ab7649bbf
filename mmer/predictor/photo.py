"""A photo as an upload: the default model answers it with its face expert; a photo has no sound.

Told from a video by its first bytes (:func:`mmer.media.sniff_image`), never by its name, and read
by :func:`mmer.media.read_image`: the header's size checked against ``Limits.max_photo_pixels``
before any pixel is decoded (``frame_too_large`` otherwise), EXIF orientation applied, shrunk to
a 1080p frame (:data:`STILL_PIXELS`).

The answer has a video's shape. A photo is read as a **one-second still**: one timeline segment
``[0, 1)`` s (the default model's segment length), ``duration_s`` 1.0 so that the timeline ends
where the clip does, ``frames_analysed`` 1; ``modalities`` says the audio had nothing ("a photo has
no sound") and ``experts.voice.used`` is false. No face found is ``no_signal``, as for a video.

The face is read by the very road a video's frames take, :func:`photo_face`: the photo is handed
to the default model's face reader (``_face_readings``: :func:`mmer.windows.read_windows` with the
tracker's detector, the :class:`~mmer.faces.recipe.FaceRecipe` crop, the face network and its
temperature) as a lossless one-frame PNG still. Whatever that road does to a face (a new network,
alignment by landmarks) a photo gets too, and a photo reads exactly like a still video of it
(tested). The detour costs a PNG write and read of at most 1080p (tens of ms).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mmer import media
from mmer.budget import Budget
from mmer.pooling import pool
from mmer.predictor.answer import InputError, Limits, Prediction, score_dict, scores_or_none, segment
from mmer.predictor.reader import reading
from mmer.timing import Clock

log = logging.getLogger(__name__)

#: The length a photo is read as, seconds: one timeline segment of the default model (its SEGMENT_S).
PHOTO_SECONDS = 1.0
#: What the answer says about the sound of a photo.
NO_SOUND = "a photo has no sound"
#: Pixels a photo is read at, at most: a 1080p frame's. The face road finds faces on a 320-pixel
#: copy and reads them at 64 pixels, and the smallest face it looks for (a tenth of the short side)
#: is still over 100 pixels here, so nothing it uses is lost; a 12 MP phone photo is read as a
#: 1080p video frame of it would be, and the still costs tens of ms instead of hundreds.
STILL_PIXELS = 1920 * 1080
#: zlib level of the still handed to the face road (lossless at any level; 1 is the fastest that packs).
_STILL_COMPRESSION = 1


class FaceReader(Protocol):
    """What :func:`predict_photo` needs of the default model (:class:`mmer.predictor.DefaultPredictor`)."""

    limits: Limits
    modalities: tuple[str, ...]
    weights: dict[str, float]

    def info(self) -> dict[str, Any]: ...

    def _face_readings(self, path: Path, info: media.MediaInfo, duration: float, n: int, clock: Clock,
                       budget: Budget) -> Iterator[tuple[list[float], Any, np.ndarray]]:
        """Per batch of sampled frames with a face: (their instants, embeddings or None, calibrated
        six-class probabilities)."""


def photo_format(path: Path) -> str | None:
    """The photo format of the file at ``path`` from its first bytes, None for anything else (a
    video, sound, or a file that cannot be opened: the video road then says what is wrong)."""
    try:
        return media.image_format(path)
    except OSError:
        return None


def read_photo(path: Path, limits: Limits) -> media.Photo:
    """The photo at ``path`` upright and within the limits; decoding errors as the user's input errors."""
    # Half the frame limit: FFmpeg checks a decoded frame's padded buffer (its width rounded up to
    # 128 pixels) against ``max_pixels``, so a still of exactly the limit would be refused.
    fit = max(1, min(STILL_PIXELS, limits.max_pixels // 2))
    with reading("photo"):
        return media.read_image(path, max_pixels=limits.max_photo_pixels, fit_pixels=fit)


def photo_face(model: FaceReader, image: np.ndarray, clock: Clock, budget: Budget) -> np.ndarray | None:
    """The face expert's calibrated six-class probabilities for the main face of ``image`` ((H, W, 3)
    uint8 RGB, within ``model.limits.max_pixels`` as :func:`read_photo` gives it), or None where no
    face is found.

    The one place a photo meets the face expert: through ``model._face_readings`` on a lossless
    one-frame still, so that a photo's face is found, cut and read exactly as a video frame's.
    """
    from PIL import Image

    height, width = image.shape[:2]
    with tempfile.TemporaryDirectory(prefix="mmer-photo-") as folder:
        still = Path(folder) / "photo.png"
        clock.timed("decode", Image.fromarray(image).save, still, format="PNG", compress_level=_STILL_COMPRESSION)
        info = media.MediaInfo(path=still, duration=PHOTO_SECONDS, has_video=True, has_audio=False, width=width,
                               height=height)
        readings = [six for _, _, six in model._face_readings(still, info, PHOTO_SECONDS, 1, clock, budget)
                    if len(six)]
    return readings[0][0] if readings else None


def predict_photo(model: FaceReader, path: Path, *, sample_frames: int, budget: Budget | None = None) -> Prediction:
    """The default model's answer for the photo at ``path`` (see the module's docstring for its shape)."""
    clock = Clock()
    budget = budget or Budget()
    photo = clock.timed("decode", read_photo, Path(path), model.limits)
    budget.check()
    face = photo_face(model, photo.image, clock, budget)
    what = f"a {photo.format.upper()} photo of {photo.width}×{photo.height}"
    if face is None:
        raise InputError("no_signal", f"nothing to read an emotion from: no face in the photo ({what}), and "
                         f"{NO_SOUND}")
    pooled = pool({"face": face, "voice": None}, model.weights)
    face_detail = f"{what}: a face found"
    timeline = [segment(0.0, PHOTO_SECONDS, pooled.probs, frames=1, faces=1, speech_s=0.0,
                        face=scores_or_none(face), voice=None, dominant=pooled.dominant, agree=pooled.agree)]
    modalities = {
        "model": list(model.modalities), "used": ["video"], "missing": [m for m in model.modalities if m != "video"],
        "available": {"video": True, "audio": False},
        "detail": {"video": face_detail, "audio": NO_SOUND},
    }
    experts = {
        "face": {"scores": scores_or_none(face), "used": True, "detail": face_detail,
                 "weight": model.weights["face"]},
        "voice": {"scores": None, "used": False, "detail": NO_SOUND, "weight": model.weights["voice"]},
    }
    fusion = {"rule": "log-linear pooling", "weights": dict(model.weights), "dominant": pooled.dominant,
              "agree": pooled.agree}
    assert pooled.probs is not None
    log.debug("%s: %s, upright by EXIF orientation %d, read at %d×%d", Path(path).name, what, photo.orientation,
              photo.image.shape[1], photo.image.shape[0])
    return Prediction(scores=score_dict(pooled.probs), modalities=modalities, timeline=timeline, model=model.info(),
                      duration_s=PHOTO_SECONDS, timing_ms=clock.result(), sample_frames=sample_frames,
                      frames_analysed=1, experts=experts, fusion=fusion)


def refuse_photo(path: Path, model: str) -> None:
    """For predictors that read video and sound only (a trained checkpoint): a photo is refused with
    ``not_video`` (HTTP 415) and a sentence saying what to send, instead of failing as a 0.04 s video."""
    kind = photo_format(Path(path))
    if kind is not None:
        raise InputError("not_video", f"the file is a {kind.upper()} photo and {model} reads video and sound "
                         "only; send a video, or use the default model, which reads the face in a photo")
