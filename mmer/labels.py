"""The six emotion classes and how each dataset's own codes map onto them.

Everything that turns a label into an index (manifests, training, the service) goes through
this module, so the class order can never drift between training and serving.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Emotion:
    index: int
    abbr: str
    name: str


EMOTIONS: tuple[Emotion, ...] = (
    Emotion(0, "NEU", "Neutral"),
    Emotion(1, "HAP", "Happy"),
    Emotion(2, "SAD", "Sad"),
    Emotion(3, "ANG", "Angry"),
    Emotion(4, "FEA", "Fearful"),
    Emotion(5, "DIS", "Disgusted"),
)

#: Abbreviations in class-index order.
CLASSES: tuple[str, ...] = tuple(e.abbr for e in EMOTIONS)
#: Full names in class-index order.
CLASS_NAMES: tuple[str, ...] = tuple(e.name for e in EMOTIONS)
NUM_CLASSES = len(EMOTIONS)

_BY_ABBR = {e.abbr: e for e in EMOTIONS}

#: RAVDESS emotion code (third field of the file name) → (source emotion, class abbr or None if dropped).
#: Calm is a low-arousal neutral delivery, so it joins NEU; surprised has no class and is dropped.
RAVDESS_EMOTIONS: dict[str, tuple[str, str | None]] = {
    "01": ("neutral", "NEU"),
    "02": ("calm", "NEU"),
    "03": ("happy", "HAP"),
    "04": ("sad", "SAD"),
    "05": ("angry", "ANG"),
    "06": ("fearful", "FEA"),
    "07": ("disgust", "DIS"),
    "08": ("surprised", None),
}

#: CREMA-D emotion code (third field of the file name) → (source emotion, class abbr); one to one.
CREMAD_EMOTIONS: dict[str, tuple[str, str]] = {
    "NEU": ("neutral", "NEU"),
    "HAP": ("happy", "HAP"),
    "SAD": ("sad", "SAD"),
    "ANG": ("anger", "ANG"),
    "FEA": ("fear", "FEA"),
    "DIS": ("disgust", "DIS"),
}


def emotion(abbr: str) -> Emotion:
    """The class for an abbreviation such as ``"HAP"``; raises ``KeyError`` naming the valid ones."""
    try:
        return _BY_ABBR[abbr.upper()]
    except KeyError:
        raise KeyError(f"unknown emotion {abbr!r}; expected one of {', '.join(CLASSES)}") from None


def label_id(abbr: str) -> int:
    return emotion(abbr).index
