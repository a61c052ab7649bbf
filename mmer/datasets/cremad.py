"""CREMA-D file names → clip metadata.

A CREMA-D name is ``ActorID_Sentence_Emotion_Level.ext`` (``1001_DFA_ANG_XX.flv``): actor 1001–1091,
one of twelve sentence codes, an emotion code and an intensity level
(https://github.com/CheyneyComputerScience/CREMA-D). Codes are matched exactly (upper case, as
published); anything else is reported, never guessed.

Manifest extras: ``sentence`` (the code; see :data:`SENTENCES`) and ``level`` (the code as written);
``intensity`` is the level in words. Actor id: ``cremad_<ActorID>``, e.g. ``cremad_1012``.

CREMA-D's names carry no modality: its videos (VideoFlash, .flv) are audio-video clips, its sound
files (AudioWAV, .wav) audio-only ones. Those records also get ``modality`` = ``audio-only``; video
rows leave the column out, as they always did (an empty ``modality`` means audio-video).
"""

from __future__ import annotations

import re
from pathlib import Path

from mmer.datasets.manifest import (
    AUDIO_ONLY,
    AUDIO_VIDEO,
    BAD_NAME,
    EXCLUDED,
    UNKNOWN_CODE,
    ClipRecord,
    Rejected,
    container_kind,
)
from mmer.labels import CREMAD_EMOTIONS, label_id

DATASET = "cremad"
EXTRA_COLUMNS: tuple[str, ...] = ("sentence", "level")

SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
ACTORS = range(1001, 1092)

_NAME = re.compile(r"([0-9]+)_([A-Za-z]+)_([A-Za-z]+)_([A-Za-z]+)")


def to_record(path: Path, *, modalities: frozenset[str] = frozenset({AUDIO_VIDEO})) -> ClipRecord:
    """The manifest record of one file; raises :class:`Rejected` (bad_name, unknown_code, or excluded
    for a file of the modality not asked for) otherwise."""
    match = _NAME.fullmatch(path.stem)
    if not match:
        fields = path.stem.split("_")
        shape = f"{len(fields)} fields" if len(fields) != 4 else "an actor id that is not a number, or empty fields"
        raise Rejected(BAD_NAME, f"expected ActorID_Sentence_Emotion_Level, got {shape}")
    actor, sentence, code, level = match.groups()
    bad = []
    if int(actor) not in ACTORS or len(actor) != 4:
        bad.append(f"actor {actor} (expected 1001-1091)")
    if sentence not in SENTENCES:
        bad.append(f"sentence {sentence}")
    if code not in CREMAD_EMOTIONS:
        bad.append(f"emotion {code}")
    if level not in LEVELS:
        bad.append(f"level {level}")
    if bad:
        raise Rejected(UNKNOWN_CODE, "unknown " + ", ".join(bad))
    modality = AUDIO_ONLY if container_kind(path) == "audio" else AUDIO_VIDEO
    if modality not in modalities:
        raise Rejected(EXCLUDED, f"a video ({path.suffix}); --modality {AUDIO_ONLY} takes the AudioWAV sound files"
                       if modality == AUDIO_VIDEO else f"a sound file ({path.suffix}), not a video")
    source, label = CREMAD_EMOTIONS[code]
    extra = {"sentence": sentence, "level": level}
    if modality == AUDIO_ONLY:
        extra["modality"] = AUDIO_ONLY
    return ClipRecord(
        clip_id=path.stem, dataset=DATASET, path=path, actor=f"{DATASET}_{actor}", label=label,
        label_id=label_id(label), source_emotion=source, intensity=LEVELS[level], extra=extra,
    )
