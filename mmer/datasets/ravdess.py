"""RAVDESS file names → clip metadata.

A RAVDESS name is seven two-digit codes, ``MM-VV-EE-II-SS-RR-AA.ext``: modality, vocal channel,
emotion, intensity, statement, repetition, actor (https://zenodo.org/record/1188976). Everything
we know about a clip comes from its name, so a name that does not parse is reported, never guessed.

Audio-only clips (modality 03) are sound files (.wav as RAVDESS ships them, or .flac/.mp3 copies);
the other two modalities are videos. A name whose modality its container contradicts (a ``.wav``
named ``01-…``, e.g. a track that `mmer audio` extracted, or an ``.mp4`` named ``03-…``) is reported.

Manifest extras: ``modality`` (audio-video, video-only, audio-only), ``vocal_channel`` (speech, song),
``statement`` and ``repetition`` (the codes ``01``/``02``; see :data:`STATEMENTS`), ``gender``
(odd actors are male, even actors female). Actor id: ``ravdess_<AA>``, e.g. ``ravdess_07``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mmer.datasets.manifest import (
    AUDIO_ONLY,
    AUDIO_VIDEO,
    BAD_NAME,
    DROPPED_EMOTION,
    EXCLUDED,
    UNKNOWN_CODE,
    VIDEO_ONLY,
    ClipRecord,
    Rejected,
    container_kind,
    needed_container,
)
from mmer.labels import RAVDESS_EMOTIONS, label_id

DATASET = "ravdess"
EXTRA_COLUMNS: tuple[str, ...] = ("modality", "vocal_channel", "statement", "repetition", "gender")

MODALITIES = {"01": AUDIO_VIDEO, "02": VIDEO_ONLY, "03": AUDIO_ONLY}
VOCAL_CHANNELS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
REPETITIONS = {"01": "1st", "02": "2nd"}
ACTORS = {f"{a:02d}" for a in range(1, 25)}

_NAME = re.compile(r"[0-9]{2}(-[0-9]{2}){6}")
_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement", "repetition", "actor")


@dataclass(frozen=True)
class RavdessName:
    """The seven codes of a RAVDESS file name, each as written (``"01"``)."""

    modality: str
    vocal_channel: str
    emotion: str
    intensity: str
    statement: str
    repetition: str
    actor: str

    @property
    def gender(self) -> str:
        return "male" if int(self.actor) % 2 else "female"


def parse_name(stem: str) -> RavdessName:
    """Parse a file stem; raises :class:`Rejected` (bad_name or unknown_code) saying which part is wrong."""
    if not _NAME.fullmatch(stem):
        fields = stem.split("-")
        shape = (f"{len(fields)} fields" if len(fields) != 7
                 else "fields that are not all two digits")
        raise Rejected(BAD_NAME, f"expected seven two-digit codes MM-VV-EE-II-SS-RR-AA, got {shape}")
    name = RavdessName(*stem.split("-"))
    tables = (MODALITIES, VOCAL_CHANNELS, RAVDESS_EMOTIONS, INTENSITIES, STATEMENTS, REPETITIONS, ACTORS)
    bad = [f"{field} {code}" for field, code, table in zip(_FIELDS, stem.split("-"), tables, strict=True)
           if code not in table]
    if name.emotion == "01" and name.intensity == "02":
        bad.append("intensity 02 with emotion 01 (neutral has normal intensity only)")
    if bad:
        raise Rejected(UNKNOWN_CODE, "unknown " + ", ".join(bad))
    return name


def to_record(path: Path, *, modalities: frozenset[str] = frozenset({AUDIO_VIDEO}), include_song: bool = False,
              include_video_only: bool = False) -> ClipRecord:
    """The manifest record of one file; raises :class:`Rejected` for any file that is not taken.

    ``modalities`` is the set of :data:`MODALITIES` values to take (default: full audio-video, the
    clips that have both a face and a voice); ``include_video_only`` adds video-only to it. Checks
    run in a fixed order (name, emotion, container, modality, vocal channel), so a surprised clip is
    reported as dropped whatever else would have excluded it.
    """
    name = parse_name(path.stem)
    source, label = RAVDESS_EMOTIONS[name.emotion]
    if label is None:
        raise Rejected(DROPPED_EMOTION, f"emotion {name.emotion} ({source}) has no class")
    modality = MODALITIES[name.modality]
    kind = container_kind(path)
    if kind is not None and kind != needed_container(modality):
        if kind == "audio":
            raise Rejected(EXCLUDED, f"the name says {modality} (modality {name.modality}) but {path.suffix} is a "
                                     "sound file (a track extracted from a video?); RAVDESS's audio-only clips are "
                                     "modality 03")
        raise Rejected(EXCLUDED, f"the name says {modality} (modality {name.modality}) but {path.suffix} is a "
                                 "video container; audio-only clips are sound files (.wav, .flac, .mp3)")
    chosen = (modalities | {VIDEO_ONLY}) if include_video_only else modalities
    if modality not in chosen:
        raise Rejected(EXCLUDED, f"{modality} (modality {name.modality}) is not among the modalities asked for "
                                 f"({', '.join(sorted(chosen))}); take it with --modality {modality} or all")
    if name.vocal_channel == "02" and not include_song:
        raise Rejected(EXCLUDED, "song (vocal channel 02); use --include-song to take it")
    return ClipRecord(
        clip_id=path.stem, dataset=DATASET, path=path, actor=f"{DATASET}_{name.actor}", label=label,
        label_id=label_id(label), source_emotion=source, intensity=INTENSITIES[name.intensity],
        extra={"modality": MODALITIES[name.modality], "vocal_channel": VOCAL_CHANNELS[name.vocal_channel],
               "statement": name.statement, "repetition": name.repetition, "gender": name.gender},
    )
