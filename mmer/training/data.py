"""Manifest + feature cache → paired, padded tensors for training and evaluation.

Modalities are paired by ``clip_id`` through the manifest, never by the order of files on disk
(the seed paired two sorted directory listings, so one missing file shifted every pair after
it). A clip with one modality missing is kept with that modality marked absent (length 0), since
the model is built to answer from one modality; a clip with neither is left out. Both are
reported. Only features made with the cache's current backbone settings count.

A feature root may hold one modality only (audio features of audio-only RAVDESS, say): the set
then carries that one, the other is absent for every clip (length 0, a stand-in of width
:data:`ABSENT_DIM`), and :attr:`FeatureSet.modalities` says so, for the checkpoint to record.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmer.datasets import ClipRecord, DatasetError, read_manifest
from mmer.errors import InvalidValue
from mmer.features.cache import FeatureCache
from mmer.fsutil import atomic_path
from mmer.labels import CLASSES

log = logging.getLogger(__name__)

MISSING_FILE = "missing_features.csv"
MODALITIES: tuple[str, ...] = ("video", "audio")
#: Feature width standing in for a modality the set does not carry: the model keeps a branch for it (a
#: positive width is required), which only ever sees length 0, so nothing of it reaches a prediction.
ABSENT_DIM = 1


@dataclass
class FeatureSet:
    """Clips with their (padded) features. Features stay float16 in memory: 8.7k ViViT clips take
    about 215 MB instead of 430; batches are cast to float32 on the way to the model."""

    clip_ids: list[str]
    actors: list[str]
    datasets: list[str]
    labels: Tensor  # (N,) long
    video: Tensor  # (N, Tv, Dv) float16, zero where padded or absent
    video_lengths: Tensor  # (N,) long, 0 = no video features
    audio: Tensor  # (N, Ta, Da) float16
    audio_lengths: Tensor  # (N,) long, 0 = no audio features
    #: The modalities these features carry (and a model trained on them uses); the others are absent for all.
    modalities: tuple[str, ...] = MODALITIES

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def video_dim(self) -> int:
        return int(self.video.shape[-1])

    @property
    def audio_dim(self) -> int:
        return int(self.audio.shape[-1])

    def subset(self, indices: Sequence[int] | Tensor) -> FeatureSet:
        idx = torch.as_tensor(indices, dtype=torch.long)
        pick = idx.tolist()
        return FeatureSet(
            clip_ids=[self.clip_ids[i] for i in pick], actors=[self.actors[i] for i in pick],
            datasets=[self.datasets[i] for i in pick], labels=self.labels[idx], video=self.video[idx],
            video_lengths=self.video_lengths[idx], audio=self.audio[idx], audio_lengths=self.audio_lengths[idx],
            modalities=self.modalities)

    def where_actors(self, actors: set[str]) -> FeatureSet:
        return self.subset([i for i, actor in enumerate(self.actors) if actor in actors])

    def without(self, modality: str | None) -> FeatureSet:
        """The same clips with one modality marked absent (an ablation: what does the other one know?)."""
        if modality is None:
            return self
        if modality not in MODALITIES:
            raise InvalidValue(f"modality must be video or audio, got {modality!r}")
        if self.modalities == (modality,):
            raise InvalidValue(f"these features carry {modality} only: hiding it leaves nothing to answer from")
        out = self.subset(range(len(self)))
        if modality == "video":
            out.video_lengths = torch.zeros_like(out.video_lengths)
        else:
            out.audio_lengths = torch.zeros_like(out.audio_lengths)
        keep = (out.video_lengths > 0) | (out.audio_lengths > 0)
        if not bool(keep.all()):
            log.warning("%d clip(s) have only %s features and are left out of this evaluation",
                        int((~keep).sum()), modality)
            out = out.subset(torch.nonzero(keep).flatten())
        return out


@dataclass
class PairingReport:
    """What pairing found: clips used, and each clip left without a modality, with why."""

    used: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)  # (clip_id, "video" | "audio" | "both")
    unlisted: dict[str, int] = field(default_factory=dict)  # features in the cache but not in the manifest
    modalities: tuple[str, ...] = MODALITIES  # the ones paired; a clip lacking the only one is "both" (left out)

    def counts(self) -> dict[str, int]:
        tally = Counter(what for _, what in self.missing)
        return {"used": self.used, "missing_video": tally["video"], "missing_audio": tally["audio"],
                "missing_both": tally["both"], **{f"unlisted_{m}": n for m, n in self.unlisted.items()}}

    def summary(self) -> str:
        c = self.counts()
        if len(self.modalities) == 1:
            return (f"{c['used']} clips with {self.modalities[0]} features ({self.modalities[0]} only); "
                    f"{c['missing_both']} without (left out)")
        return (f"{c['used']} clips paired; {c['missing_video']} without video features, {c['missing_audio']} "
                f"without audio features, {c['missing_both']} without either (left out)")

    def write(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["clip_id", "missing"])
            writer.writerows(self.missing)


def backbone_meta(root: Path, modalities: Sequence[str] | None = None) -> dict[str, dict[str, Any] | None]:
    """Each modality's features.json (``None`` where the root has none of that modality).

    ``modalities`` are required (a clear error names the missing one); by default at least one of
    the two must be there.
    """
    metas = {m: FeatureCache(root, m).meta() for m in MODALITIES}
    for modality in modalities or ():
        if metas[modality] is None:
            raise FileNotFoundError(f"no {modality} features in {root} (run `mmer extract-{modality}` first)")
    if all(meta is None for meta in metas.values()):
        raise FileNotFoundError(f"no video or audio features in {root} (run `mmer extract-video` and/or "
                                "`mmer extract-audio` first)")
    return metas


def select_records(records: Sequence[ClipRecord], dataset: str = "all") -> list[ClipRecord]:
    if dataset == "all":
        return list(records)
    chosen = [r for r in records if r.dataset == dataset]
    if not chosen:
        found = ", ".join(sorted({r.dataset for r in records})) or "none"
        raise DatasetError(f"the manifest has no {dataset} clips (datasets in it: {found})")
    return chosen


def load_features(manifest: Path, root: Path, *, dataset: str = "all",
                  modalities: Sequence[str] | None = None) -> tuple[FeatureSet, PairingReport]:
    """Read the manifest's clips and their cached features, paired by clip_id.

    ``modalities`` are the ones to read (a checkpoint's, when evaluating it; each must be in the
    root). By default: each modality the root holds that at least one manifest clip has, so audio
    features of audio-only clips, extracted into a root that also holds videos' features, still
    give a voice-only set rather than an audio-video one whose every clip lacks its video.
    """
    records = select_records(read_manifest(manifest), dataset)
    metas = backbone_meta(root, modalities)
    listed = {r.clip_id for r in records}
    caches = {m: FeatureCache(root, m) for m in MODALITIES if metas[m] is not None}
    current = {m: {cid for cid, digest in caches[m].index().items() if digest == metas[m]["config_hash"]}
               for m in caches}
    if modalities is None:
        used = tuple(m for m in caches if current[m] & listed) or tuple(caches)
        for m in set(caches) - set(used):
            log.warning("no manifest clip has %s features in %s: they are not used (a %s-only set)", m, root,
                        "".join(used))
    else:
        used = tuple(m for m in MODALITIES if m in modalities)
    caches = {m: caches[m] for m in used}
    report = PairingReport(unlisted={m: len(current[m] - listed) for m in used}, modalities=used)

    # Two passes: shapes first (memory-mapped, nothing read), then each file straight into one
    # preallocated float16 tensor, so loading needs the features' size once, not twice.
    kept: list[ClipRecord] = []
    shapes: dict[str, list[tuple[int, ...] | None]] = {m: [] for m in caches}
    for record in records:
        have = {m: record.clip_id in current[m] for m in caches}
        if not any(have.values()):
            report.missing.append((record.clip_id, "both"))
            continue
        for m in caches:
            if not have[m]:
                report.missing.append((record.clip_id, m))
                shapes[m].append(None)
                continue
            shape = np.load(caches[m].path(record.clip_id), mmap_mode="r").shape
            if len(shape) not in (1, 2) or shape[-1] != metas[m]["dim"]:
                raise DatasetError(f"{caches[m].path(record.clip_id)}: shape {shape} does not match the "
                                   f"cache's {m} dim {metas[m]['dim']}")
            shapes[m].append(shape)
        kept.append(record)
    report.used = len(kept)
    if not kept:
        raise DatasetError(f"none of the {len(records)} manifest clips has features in {root}")
    log.info("%s", report.summary())
    ids = [r.clip_id for r in kept]
    stacked = {m: _stack(caches[m], ids, shapes[m], metas[m]["dim"]) if m in caches else _absent(len(ids))
               for m in MODALITIES}
    features = FeatureSet(
        clip_ids=[r.clip_id for r in kept], actors=[r.actor for r in kept], datasets=[r.dataset for r in kept],
        labels=torch.tensor([r.label_id for r in kept], dtype=torch.long),
        video=stacked["video"][0], video_lengths=stacked["video"][1], audio=stacked["audio"][0],
        audio_lengths=stacked["audio"][1], modalities=used)
    if bool((features.labels < 0).any()) or bool((features.labels >= len(CLASSES)).any()):
        raise DatasetError(f"{manifest}: label_id values must be 0..{len(CLASSES) - 1}")
    return features, report


def _absent(n: int) -> tuple[Tensor, Tensor]:
    """A modality no clip has: zeros of width :data:`ABSENT_DIM`, every length 0."""
    return torch.zeros(n, 1, ABSENT_DIM, dtype=torch.float16), torch.zeros(n, dtype=torch.long)


def _stack(cache: FeatureCache, clip_ids: list[str], shapes: list[tuple[int, ...] | None],
           dim: int) -> tuple[Tensor, Tensor]:
    """Each clip's (T_i, dim) or (dim,) file (None = absent) → zero-padded (N, max T, dim) float16 and lengths."""
    lengths = torch.tensor([0 if s is None else (s[0] if len(s) == 2 else 1) for s in shapes], dtype=torch.long)
    width = max(int(lengths.max()), 1)
    out = torch.zeros(len(shapes), width, dim, dtype=torch.float16)
    for i, (clip_id, shape) in enumerate(zip(clip_ids, shapes, strict=True)):
        if shape is not None:
            array = np.asarray(cache.read(clip_id), dtype=np.float16).reshape(-1, dim)
            out[i, : array.shape[0]] = torch.from_numpy(array)
    return out, lengths


def feature_statistics(features: FeatureSet, modality: str) -> tuple[Tensor, Tensor]:
    """Per-dimension mean and std over the valid steps of the clips that have ``modality``.

    Called on the training split only: statistics from validation or test clips would leak
    their distribution into the model (one of the seed's faults).
    """
    data = features.video if modality == "video" else features.audio
    lengths = features.video_lengths if modality == "video" else features.audio_lengths
    steps = torch.arange(data.shape[1])[None, :]
    # Two chunked passes in float64 (mean, then squared deviations): exact, and never a float64 copy
    # of the whole split (8.7k ViViT clips would need 0.9 GB for that).
    chunks = [slice(start, start + 512) for start in range(0, data.shape[0], 512)]

    def rows(chunk: slice) -> Tensor:
        return data[chunk][steps < lengths[chunk, None]].double()

    count = int(lengths.sum())
    if count == 0:
        return torch.zeros(data.shape[-1]), torch.ones(data.shape[-1])
    mean = sum(rows(c).sum(dim=0) for c in chunks) / count
    var = sum(((rows(c) - mean) ** 2).sum(dim=0) for c in chunks) / count
    return mean.float(), var.sqrt().float()
