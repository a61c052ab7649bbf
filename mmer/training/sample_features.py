"""A manifest and feature cache with a planted class signal, for tests, demos and benchmarks.

Training has to be checked on data whose answer is known: here each class has a prototype
direction in each modality, added with a chosen strength to per-actor offsets and noise. With
strength 0 a modality carries no class information at all, which is how the tests prove the model
uses what it is given (and nothing else). Actor offsets make actor-independent splits matter, as
in the real corpora where a voice or a face is easier to learn than an emotion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mmer.datasets import ClipRecord, write_manifest
from mmer.errors import InvalidValue
from mmer.features.cache import FeatureCache
from mmer.labels import CLASS_NAMES, CLASSES


def make_sample_features(root: Path, *, actors: Mapping[str, int] | None = None, clips_per_class: int = 10,
                         video_frames: int = 8, video_dim: int = 32, audio_dim: int = 16,
                         signal: Mapping[str, float] | None = None, actor_spread: float = 0.5,
                         missing: Mapping[str, float] | None = None, modalities: Sequence[str] = ("video", "audio"),
                         seed: int = 0) -> Path:
    """Write ``root/manifest.csv`` and ``root/{video,audio}_features``; returns the manifest path.

    ``actors`` maps a dataset name to its number of actors (default 6 RAVDESS actors); ``signal``
    maps each modality to the strength of its class signal, in noise standard deviations (default 1
    each); ``missing`` maps a modality to the fraction of clips left without its features;
    ``modalities`` are the feature folders written (``("audio",)``: a voice-only corpus). The random
    draws do not depend on ``modalities``, so the audio of a voice-only cache equals the full one's.
    """
    actors = dict(actors or {"ravdess": 6})
    signal = {"video": 1.0, "audio": 1.0, **(signal or {})}
    missing = {"video": 0.0, "audio": 0.0, **(missing or {})}
    rng = np.random.default_rng(seed)
    prototypes = {"video": _unit_rows(rng, len(CLASSES), video_dim), "audio": _unit_rows(rng, len(CLASSES), audio_dim)}
    if not modalities or not set(modalities) <= {"video", "audio"}:
        raise InvalidValue(f"modalities must be one or both of video, audio; got {list(modalities)}")
    caches = {m: FeatureCache(root, m) for m in ("video", "audio") if m in modalities}
    settings = {"video": {"dim": video_dim, "num_frames": video_frames}, "audio": {"dim": audio_dim,
                                                                                 "sample_rate": 16_000}}
    digests = {m: cache.prepare({"backbone": "synthetic", "source": f"seed={seed}", **settings[m]})
               for m, cache in caches.items()}
    records = []
    for dataset, n_actors in actors.items():
        for a in range(1, n_actors + 1):
            actor = f"{dataset}_{a:02d}"
            offset = {m: rng.normal(0, actor_spread, prototypes[m].shape[1]) for m in prototypes}
            for label_id, label in enumerate(CLASSES):
                for i in range(clips_per_class):
                    clip_id = f"{dataset}-{a:02d}-{label}-{i:03d}"
                    records.append(ClipRecord(clip_id=clip_id, dataset=dataset, path=root / "videos" / f"{clip_id}.mp4",
                                              actor=actor, label=label, label_id=label_id,
                                              source_emotion=CLASS_NAMES[label_id].lower(), intensity="normal"))
                    dropped = [m for m in ("video", "audio") if rng.random() < missing[m]]
                    if len(dropped) == 2:
                        dropped = dropped[:1]
                    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, np.pi, video_frames))[:, None]
                    video = (signal["video"] * envelope * prototypes["video"][label_id] + offset["video"]
                             + rng.normal(0, 1, (video_frames, video_dim)))
                    audio = (signal["audio"] * prototypes["audio"][label_id] + offset["audio"]
                             + rng.normal(0, 1, audio_dim))
                    for modality, array in (("video", video), ("audio", audio)):
                        if modality not in dropped and modality in caches:
                            caches[modality].write(clip_id, array, digests[modality])
    manifest = root / "manifest.csv"
    write_manifest(records, manifest)
    return manifest


def _unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    """Random class directions with a per-dimension RMS of 0.5 noise standard deviations (strength 1)."""
    directions = rng.normal(0, 1, (rows, dim))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True) * np.sqrt(dim) * 0.5
