"""The manifest: one CSV row per usable clip, plus the report of every file that was not used.

Every later stage (faces, crops, audio, features, training) reads clips from a manifest rather
than walking a dataset folder again, so the labels, actor ids and splits are decided once.

``path`` is written relative to the manifest's own directory, so a data folder can be moved
together with its manifest; :func:`read_manifest` resolves it against that directory again.
Actor ids are ``<dataset>_<actor code as in the file name>`` (``ravdess_12``, ``cremad_1012``),
so manifests of both datasets can be concatenated without two actors sharing an id.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mmer.errors import InvalidValue, UserError
from mmer.fsutil import write_text_atomic
from mmer.labels import CLASSES, label_id

#: File extensions taken as videos (compared case-insensitively).
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".flv", ".avi", ".mov", ".mkv", ".webm"})
#: File extensions taken as audio-only clips (compared case-insensitively): RAVDESS ships .wav, CREMA-D's
#: AudioWAV folder .wav, and re-encoded copies (such as ``../shared/data/ravdess-speech-16k``) .flac or .mp3.
AUDIO_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".mp3"})

# What a clip holds, as the manifest's ``modality`` column says it (RAVDESS's own three modalities).
AUDIO_VIDEO = "audio-video"
VIDEO_ONLY = "video-only"
AUDIO_ONLY = "audio-only"
MODALITIES: tuple[str, ...] = (AUDIO_VIDEO, VIDEO_ONLY, AUDIO_ONLY)
#: What ``mmer manifest --modality`` accepts: one modality, or ``all`` of them.
MODALITY_CHOICES: tuple[str, ...] = (AUDIO_VIDEO, AUDIO_ONLY, VIDEO_ONLY, "all")

# Why a file found under a dataset root is not in the manifest (the ``reason`` column of the report).
# The reason names are a published contract (reports, tests, scripts), so audio-only indexing reuses them
# rather than adding new ones; the ``detail`` column says exactly what was wrong.
NON_VIDEO = "non_video"  # not a media container we index, a macOS AppleDouble ``._*`` sidecar, or an audio
#                          file when no audio-only modality was asked for (it is not a video)
BAD_NAME = "bad_name"  # does not follow the dataset's naming convention
UNKNOWN_CODE = "unknown_code"  # follows the convention, but a code is outside the documented values
DROPPED_EMOTION = "dropped_emotion"  # an emotion with no class (RAVDESS surprised)
EXCLUDED = "excluded"  # valid, but outside the chosen set (song, video-only, audio-only, a video when only
#                        audio is asked for), or a name whose modality the container contradicts
DUPLICATE = "duplicate"  # same clip_id as a file taken earlier in sorted order
SKIP_REASONS: tuple[str, ...] = (NON_VIDEO, BAD_NAME, UNKNOWN_CODE, DROPPED_EMOTION, EXCLUDED, DUPLICATE)

CORE_COLUMNS: tuple[str, ...] = (
    "clip_id", "dataset", "path", "actor", "label", "label_id", "source_emotion", "intensity", "split",
)
SKIPPED_COLUMNS: tuple[str, ...] = ("path", "reason", "detail")
SPLITS: tuple[str, ...] = ("train", "val", "test")


class DatasetError(UserError):
    """A dataset folder or manifest that cannot be used; the message says what to fix."""


def chosen_modalities(modality: str = AUDIO_VIDEO, *, include_video_only: bool = False) -> frozenset[str]:
    """``--modality`` (one of :data:`MODALITY_CHOICES`) → the set of :data:`MODALITIES` to take.

    ``include_video_only`` is the older spelling of "audio-video and video-only" and still widens the set.
    """
    if modality not in MODALITY_CHOICES:
        raise InvalidValue(f"modality must be one of {', '.join(MODALITY_CHOICES)}, got {modality!r}")
    chosen = set(MODALITIES) if modality == "all" else {modality}
    if include_video_only:
        chosen.add(VIDEO_ONLY)
    return frozenset(chosen)


def container_kind(path: Path) -> str | None:
    """``"video"`` or ``"audio"`` by the file's extension (case-insensitive); None for anything else."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return None


def needed_container(modality: str) -> str:
    """The container a clip of ``modality`` comes in: audio-only clips are sound files, the rest videos."""
    return "audio" if modality == AUDIO_ONLY else "video"


class Rejected(Exception):
    """Raised by a dataset's name parser: the file is not taken, for ``reason`` (one of SKIP_REASONS)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class ClipRecord:
    """One manifest row. ``extra`` holds the dataset's own columns (e.g. RAVDESS ``statement``)."""

    clip_id: str
    dataset: str
    path: Path
    actor: str
    label: str
    label_id: int
    source_emotion: str
    intensity: str
    split: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def resolved_path(self) -> Path:
        """Absolute path of the clip (records from :func:`read_manifest` are already absolute)."""
        return self.path if self.path.is_absolute() else self.path.absolute()


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str
    detail: str


@dataclass(frozen=True)
class ManifestSummary:
    """What :func:`mmer.datasets.build_manifest` wrote, in numbers."""

    dataset: str
    manifest: Path
    skipped_report: Path
    clips: int
    actors: int
    labels: dict[str, int]  # every class, in class order
    skipped: dict[str, int]  # reasons that occurred, in SKIP_REASONS order
    split_actors: dict[str, int]
    split_clips: dict[str, int]

    def one_line(self) -> str:
        labels = ", ".join(f"{abbr} {n}" for abbr, n in self.labels.items())
        reasons = ", ".join(f"{reason} {n}" for reason, n in self.skipped.items())
        skipped = f"skipped {sum(self.skipped.values())}" + (f" ({reasons})" if reasons else "")
        splits = ", ".join(f"{s} {self.split_actors[s]}/{self.split_clips[s]}" for s in SPLITS)
        return (f"{self.dataset}: {self.clips} clips from {self.actors} actors ({labels}); {skipped}; "
                f"actors/clips {splits}")


def summarize(dataset: str, records: list[ClipRecord], skipped: list[SkippedFile], manifest: Path,
              skipped_report: Path) -> ManifestSummary:
    labels = Counter(r.label for r in records)
    reasons = Counter(s.reason for s in skipped)
    actors_in = {s: {r.actor for r in records if r.split == s} for s in SPLITS}
    return ManifestSummary(
        dataset=dataset, manifest=manifest, skipped_report=skipped_report, clips=len(records),
        actors=len({r.actor for r in records}),
        labels={abbr: labels[abbr] for abbr in CLASSES},
        skipped={reason: reasons[reason] for reason in SKIP_REASONS if reasons[reason]},
        split_actors={s: len(actors_in[s]) for s in SPLITS},
        split_clips={s: sum(r.split == s for r in records) for s in SPLITS},
    )


def skipped_report_path(manifest: Path) -> Path:
    """``manifest.csv`` → ``manifest.skipped.csv``, next to it."""
    return manifest.with_name(f"{manifest.stem}.skipped.csv")


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to directory ``base`` (with ``..`` if needed), POSIX-style; absolute if impossible."""
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def _csv_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_manifest(records: Iterable[ClipRecord], out: Path) -> None:
    """Write ``records`` to ``out`` atomically: core columns, then the union of extras in first-seen order."""
    out = Path(out)
    records = list(records)
    extras: dict[str, None] = {}
    for r in records:
        extras.update(dict.fromkeys(k for k in r.extra if k not in CORE_COLUMNS))
    base = out.parent
    rows = ([r.clip_id, r.dataset, _relative(r.resolved_path, base), r.actor, r.label, r.label_id,
             r.source_emotion, r.intensity, r.split, *(r.extra.get(k, "") for k in extras)] for r in records)
    write_text_atomic(out, _csv_text([*CORE_COLUMNS, *extras], rows))


def write_skipped_report(skipped: Iterable[SkippedFile], out: Path) -> None:
    """Write the ``path, reason, detail`` report atomically (a header alone when nothing was skipped)."""
    out = Path(out)
    rows = ([_relative(s.path, out.parent), s.reason, s.detail] for s in skipped)
    write_text_atomic(out, _csv_text(SKIPPED_COLUMNS, rows))


def _record(row: dict[str, str], base: Path, where: str) -> ClipRecord:
    label = row["label"]
    if label not in CLASSES:
        raise DatasetError(f"{where}: unknown label {label!r}; expected one of {', '.join(CLASSES)}")
    if row["label_id"] != str(label_id(label)):
        raise DatasetError(f"{where}: label_id {row['label_id']!r} does not match label {label} "
                           f"(expected {label_id(label)})")
    if row["split"] not in ("", *SPLITS):
        raise DatasetError(f"{where}: unknown split {row['split']!r}; expected one of {', '.join(SPLITS)}")
    if not row["clip_id"] or not row["path"]:
        raise DatasetError(f"{where}: empty clip_id or path")
    # Empty extras are dropped: in a concatenated manifest they are the other dataset's columns.
    extra = {k: v for k, v in row.items() if k not in CORE_COLUMNS and v}
    return ClipRecord(
        clip_id=row["clip_id"], dataset=row["dataset"], path=base / row["path"], actor=row["actor"], label=label,
        label_id=int(row["label_id"]), source_emotion=row["source_emotion"], intensity=row["intensity"],
        split=row["split"], extra=extra,
    )


def read_manifest(path: Path) -> list[ClipRecord]:
    """The records of a manifest, with paths resolved against the manifest's directory."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a manifest file" if path.is_dir() else "does not exist"
        raise DatasetError(f"manifest {path} {what} (build one with `mmer manifest`)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CORE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"manifest {path} lacks the column(s) {', '.join(missing)}; "
                               f"a manifest needs {', '.join(CORE_COLUMNS)}")
        base = path.parent.absolute()
        records = []
        for row in reader:
            if None in row or None in row.values():
                raise DatasetError(f"{path}:{reader.line_num}: wrong number of fields")
            records.append(_record(row, base, f"{path}:{reader.line_num}"))
    seen: set[str] = set()
    for r in records:
        if r.clip_id in seen:
            raise DatasetError(f"manifest {path} lists clip_id {r.clip_id} twice")
        seen.add(r.clip_id)
    return records
