"""TurEV-DB (Canpolat, Ormanoğlu & Zeyrek 2020): single Turkish words acted in four emotions by six
speakers, ``<root>/{Angry,Calm,Happy,Sad}/<speaker>_<…>.flac``.

It is here to measure the voice expert off RAVDESS (another language, other microphones and rooms,
utterances of a single word), never to train shipped weights: its licence (CC BY-NC-ND 4.0) allows
no derivatives. Calm is read as Neutral; it has no Fearful or Disgusted words. Like FER2013 it has
no manifest: :func:`load_turev` lists its words for the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmer.datasets.manifest import DatasetError
from mmer.labels import CLASSES

DATASET = "turev"
FOLDER = "turev-speech-16k"
#: The corpus's emotion folders → the project's classes.
TUREV_TO_ABBR = {"Angry": "ANG", "Calm": "NEU", "Happy": "HAP", "Sad": "SAD"}
AUDIO_EXTENSIONS = frozenset({".flac", ".wav"})


@dataclass(frozen=True)
class TurevWord:
    clip_id: str
    path: Path
    speaker: str
    label_id: int


def resolve_turev(data: Path) -> Path:
    """The corpus folder: ``data`` itself (holding ``Angry/`` …) or ``data/turev-speech-16k``."""
    for candidate in (data, data / FOLDER):
        if all((candidate / name).is_dir() for name in TUREV_TO_ABBR):
            return candidate
    raise DatasetError(f"no TurEV-DB folders ({', '.join(TUREV_TO_ABBR)}) in {data} or {data / FOLDER}")


def load_turev(data: Path) -> list[TurevWord]:
    """Every word of the corpus, sorted by emotion then file name; the speaker is the file name's
    part before the first ``_`` (``1157_kz_acik.flac`` → ``turev_1157``)."""
    root = resolve_turev(data)
    words = []
    for emotion, abbr in TUREV_TO_ABBR.items():
        for path in sorted((root / emotion).iterdir()):
            if path.suffix.lower() not in AUDIO_EXTENSIONS or path.name.startswith("."):
                continue
            speaker, sep, _ = path.stem.partition("_")
            if not sep or not speaker:
                raise DatasetError(f"{path}: a TurEV file name starts with its speaker and '_'")
            words.append(TurevWord(f"{DATASET}_{path.stem}", path, f"{DATASET}_{speaker}", CLASSES.index(abbr)))
    if not words:
        raise DatasetError(f"no TurEV-DB sound files in {root}")
    return words
