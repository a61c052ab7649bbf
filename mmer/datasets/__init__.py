"""Dataset folders → labelled, actor-split manifests.

:func:`scan` walks a RAVDESS or CREMA-D folder (the official ``Actor_XX`` layout, deeper nesting,
or everything flattened into one folder: only file names matter) and returns the clips taken and
every other file with its reason (see :data:`SKIP_REASONS`). :func:`build_manifest` adds the
actor-independent train/val/test split and writes the manifest and the skipped report.

``modality`` chooses what is indexed (:data:`MODALITY_CHOICES`): audio-video clips (the default, the
ones with a face and a voice), audio-only clips (RAVDESS modality 03, CREMA-D's AudioWAV folder: sound
files, .wav/.flac/.mp3), video-only clips, or all of them. Videos and sound files are told apart by
extension, and a name whose modality its container contradicts is reported, not taken.

Scanning never decodes media: a clip's metadata is its file name. Files are visited in sorted
order of their path below the root, so results (and which copy of a duplicate wins) are
deterministic. Actor ids are ``<dataset>_<code>`` (``ravdess_12``, ``cremad_1012``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from mmer.datasets import cremad, ravdess
from mmer.datasets.manifest import (
    AUDIO_EXTENSIONS,
    AUDIO_ONLY,
    AUDIO_VIDEO,
    BAD_NAME,
    CORE_COLUMNS,
    DROPPED_EMOTION,
    DUPLICATE,
    EXCLUDED,
    MODALITIES,
    MODALITY_CHOICES,
    NON_VIDEO,
    SKIP_REASONS,
    UNKNOWN_CODE,
    VIDEO_EXTENSIONS,
    VIDEO_ONLY,
    ClipRecord,
    DatasetError,
    ManifestSummary,
    Rejected,
    SkippedFile,
    chosen_modalities,
    container_kind,
    read_manifest,
    skipped_report_path,
    summarize,
    write_manifest,
    write_skipped_report,
)
from mmer.datasets.splits import actor_folds, assign_actor_splits
from mmer.errors import InvalidValue

__all__ = [
    "AUDIO_EXTENSIONS", "AUDIO_ONLY", "AUDIO_VIDEO", "BAD_NAME", "CORE_COLUMNS", "DATASETS", "DROPPED_EMOTION",
    "DUPLICATE", "EXCLUDED", "MODALITIES", "MODALITY_CHOICES", "NON_VIDEO", "SKIP_REASONS", "UNKNOWN_CODE",
    "VIDEO_EXTENSIONS", "VIDEO_ONLY", "ClipRecord", "DatasetError", "ManifestSummary", "SkippedFile", "actor_folds",
    "assign_actor_splits", "build_manifest", "chosen_modalities", "container_kind", "merge_manifests",
    "read_manifest", "scan", "skipped_report_path", "write_manifest", "write_skipped_report",
]

log = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = (ravdess.DATASET, cremad.DATASET)


def _classify(path: Path, to_record: Callable[[Path], ClipRecord], modalities: frozenset[str]) -> ClipRecord:
    """Container checks shared by every dataset, then the dataset's own reading of the name.

    A sound file in a scan that takes no audio-only clips stays ``non_video`` (as before audio-only
    indexing existed, so default reports are unchanged); a video in an audio-only scan goes on to
    the name, so that surprised is still reported as dropped and a bad name as a bad name.
    """
    takes_audio = AUDIO_ONLY in modalities
    takes_video = bool(modalities - {AUDIO_ONLY})
    kind = container_kind(path)
    if kind is None:
        taken = (VIDEO_EXTENSIONS if takes_video else frozenset()) | (AUDIO_EXTENSIONS if takes_audio else frozenset())
        raise Rejected(NON_VIDEO, f"extension {path.suffix or '(none)'!r} is not one of {' '.join(sorted(taken))}")
    if path.name.startswith("._"):
        raise Rejected(NON_VIDEO, "macOS AppleDouble metadata file (._ prefix), not a media file")
    if kind == "audio" and not takes_audio:
        raise Rejected(NON_VIDEO, f"extension {path.suffix!r} is a sound file, not a video; audio-only clips are "
                                  "taken with --modality audio-only (or all)")
    return to_record(path)


def scan(dataset: str, root: Path, *, modality: str = AUDIO_VIDEO, include_song: bool = False,
         include_video_only: bool = False) -> tuple[list[ClipRecord], list[SkippedFile]]:
    """The clips of ``dataset`` under ``root`` (split left empty) and every file not taken, with its reason.

    ``modality`` is one of :data:`MODALITY_CHOICES` (default: audio-video clips, as before audio-only
    indexing existed). ``include_song`` and ``include_video_only`` widen the RAVDESS set beyond
    speech and audio-video; CREMA-D has neither, and takes ``audio-video`` (its videos) or
    ``audio-only`` (its AudioWAV files). Raises :class:`DatasetError` if ``root`` is missing or
    yields no clip.
    """
    if dataset == ravdess.DATASET:
        modalities = chosen_modalities(modality, include_video_only=include_video_only)
        to_record: Callable[[Path], ClipRecord] = functools.partial(
            ravdess.to_record, modalities=modalities, include_song=include_song)
    elif dataset == cremad.DATASET:
        if include_song or include_video_only:
            log.warning("include_song / include_video_only apply to RAVDESS only; ignored for CREMA-D")
        modalities = chosen_modalities(modality)
        if modalities not in (frozenset({AUDIO_VIDEO}), frozenset({AUDIO_ONLY})):
            raise InvalidValue(f"CREMA-D takes --modality {AUDIO_VIDEO} (its videos) or {AUDIO_ONLY} (its AudioWAV "
                             f"files), not {modality}: it has no video-only clips, and its sound files share "
                             "their names with its videos, so one manifest holds one of the two")
        to_record = functools.partial(cremad.to_record, modalities=modalities)
    else:
        raise InvalidValue(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    root = Path(root)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise DatasetError(f"{dataset} folder {root} {what}")
    root = root.absolute()

    records: list[ClipRecord] = []
    skipped: list[SkippedFile] = []
    taken: dict[str, Path] = {}
    files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).parts)
    for path in files:
        try:
            record = _classify(path, to_record, modalities)
        except Rejected as rejected:
            skipped.append(SkippedFile(path, rejected.reason, rejected.detail))
            continue
        first = taken.setdefault(record.clip_id, path)
        if first != path:
            skipped.append(SkippedFile(path, DUPLICATE, f"clip {record.clip_id} already taken from "
                                                        f"{first.relative_to(root).as_posix()}"))
            continue
        records.append(record)
    if not records:
        raise DatasetError(_nothing_found(dataset, root, skipped))
    log.info("%s (%s): %d clips taken, %d files skipped under %s", dataset, ", ".join(sorted(modalities)),
             len(records), len(skipped), root)
    return records, skipped


def _nothing_found(dataset: str, root: Path, skipped: list[SkippedFile]) -> str:
    if not skipped:
        return f"no files under {root}: is this the {dataset} folder?"
    reasons = Counter(s.reason for s in skipped)
    first = skipped[0]
    return (f"no {dataset} clip accepted under {root}: {len(skipped)} files skipped "
            f"({', '.join(f'{r} {n}' for r, n in reasons.items())}); e.g. "
            f"{first.path.relative_to(root).as_posix()}: {first.reason}, {first.detail}")


def merge_manifests(manifests: Sequence[Path], out: Path) -> list[ClipRecord]:
    """Join manifests (e.g. RAVDESS and CREMA-D) into one, to train or evaluate on both.

    Paths are rewritten relative to ``out``; each row keeps its split (actor ids carry their dataset,
    so the joined splits stay actor-disjoint). A clip id listed twice is an error, not a silent pick.
    """
    if len(manifests) < 2:
        raise DatasetError("give at least two manifests to merge")
    records: list[ClipRecord] = []
    origin: dict[str, Path] = {}
    for manifest in manifests:
        for record in read_manifest(manifest):
            if record.clip_id in origin:
                raise DatasetError(f"clip {record.clip_id} is in both {origin[record.clip_id]} and {manifest}")
            origin[record.clip_id] = Path(manifest)
            records.append(record)
    write_manifest(records, out)
    return records


def build_manifest(dataset: str, root: Path, out: Path, *, modality: str = AUDIO_VIDEO, include_song: bool = False,
                   include_video_only: bool = False, val_fraction: float = 0.15, test_fraction: float = 0.15,
                   seed: int = 0) -> ManifestSummary:
    """Scan ``root``, split by actor, write ``out`` and ``<out stem>.skipped.csv`` next to it (atomically)."""
    out = Path(out)
    records, skipped = scan(dataset, root, modality=modality, include_song=include_song,
                            include_video_only=include_video_only)
    splits = assign_actor_splits((r.actor for r in records), val_fraction=val_fraction,
                                 test_fraction=test_fraction, seed=seed)
    records = [dataclasses.replace(r, split=splits[r.actor]) for r in records]
    report = skipped_report_path(out)
    write_manifest(records, out)
    write_skipped_report(skipped, report)
    summary = summarize(dataset, records, skipped, out, report)
    log.debug("%s", summary.one_line())
    return summary
