"""Checking a feature cache before training on it (the seed's test.py, made strict).

Counts per modality and class, clips with only one modality, files whose shape, dtype or values
are wrong, and files made with settings other than the folder's current ones. Any problem
means training would silently learn from the wrong thing, so each one is listed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmer.datasets import read_manifest
from mmer.features.base import config_hash
from mmer.features.cache import DTYPE, MODALITIES, FeatureCache
from mmer.labels import CLASSES

_MAX_LISTED = 10


@dataclass
class ValidationReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        out = list(self.lines)
        if self.problems:
            out.append(f"{len(self.problems)} problem(s):")
            out.extend(f"  - {p}" for p in self.problems)
        else:
            out.append("no problems found")
        return "\n".join(out)


def _problem_list(report: ValidationReport, title: str, items: list[str]) -> None:
    if items:
        shown = ", ".join(items[:_MAX_LISTED]) + (f", … ({len(items)} in all)" if len(items) > _MAX_LISTED else "")
        report.problems.append(f"{title}: {shown}")


def _check_modality(cache: FeatureCache, report: ValidationReport) -> set[str]:
    meta = cache.meta()
    ids = set(cache.clip_ids())
    if meta is None:
        report.problems.append(f"{cache.folder}: no {cache.meta_path.name}; "
                               f"not made by `mmer extract-{cache.modality}`")
        return ids
    report.lines.append(f"{cache.modality}: {len(ids)} clips, backbone {meta.get('backbone')} "
                        f"({meta.get('source')}), dim {meta.get('dim')}, config {meta.get('config_hash')}")
    digest = meta.get("config_hash")
    if config_hash(meta.get("config", {})) != digest:
        report.problems.append(f"{cache.meta_path}: config_hash does not match its config (edited by hand?)")
    index = cache.index()
    stale = sorted(cid for cid in ids if index.get(cid) != digest)
    _problem_list(report, f"{cache.modality}: made with other settings than {digest} (stale; re-run extraction)",
                  stale)

    bad_shape, bad_dtype, non_finite, unreadable = [], [], [], []
    dim = meta.get("dim")
    for cid in sorted(ids):
        try:
            array = np.load(cache.path(cid), mmap_mode="r")
        except (OSError, ValueError):
            unreadable.append(cid)
            continue
        if array.dtype != DTYPE:
            bad_dtype.append(f"{cid} ({array.dtype})")
        expected_ndim = 2 if cache.modality == "video" else 1
        if array.ndim != expected_ndim or array.shape[-1] != dim:
            bad_shape.append(f"{cid} {tuple(array.shape)}")
        if not np.isfinite(np.asarray(array, dtype=np.float32)).all():
            non_finite.append(cid)
    _problem_list(report, f"{cache.modality}: unreadable files", unreadable)
    _problem_list(report, f"{cache.modality}: dtype is not {np.dtype(DTYPE).name}", bad_dtype)
    _problem_list(report, f"{cache.modality}: shape is not ({'T, ' if cache.modality == 'video' else ''}{dim},)",
                  bad_shape)
    _problem_list(report, f"{cache.modality}: NaN or inf values", non_finite)
    return ids


def validate_features(root: Path, manifest: Path | None = None) -> ValidationReport:
    """Inspect ``root``'s feature folders (and, given a manifest, compare them with its clips)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"feature folder {root} does not exist")
    report = ValidationReport()
    present = {m: FeatureCache(root, m) for m in MODALITIES if FeatureCache(root, m).folder.is_dir()}
    if not present:
        report.problems.append(f"{root}: neither video_features/ nor audio_features/ is there")
        return report
    ids = {m: _check_modality(cache, report) for m, cache in present.items()}

    if len(present) == 2:
        for m, other in (("video", "audio"), ("audio", "video")):
            only = sorted(ids[m] - ids[other])
            _problem_list(report, f"clips with {m} but no {other} features", only)
    else:
        (only,) = present
        report.lines.append(f"only {only} features are present")

    if manifest is not None:
        records = read_manifest(manifest)
        labels = {r.clip_id: r.label for r in records}
        for m in present:
            counts = Counter(labels[cid] for cid in ids[m] if cid in labels)
            report.lines.append(f"{m} per class: " + ", ".join(f"{c} {counts.get(c, 0)}" for c in CLASSES))
            _problem_list(report, f"{m}: clips not in the manifest", sorted(ids[m] - labels.keys()))
            _problem_list(report, f"{m}: manifest clips without features", sorted(labels.keys() - ids[m]))
    return report

