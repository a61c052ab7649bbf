"""FER2013 (Goodfellow et al. 2013): 48×48 grey face crops in seven classes, read into memory.

The corpus circulates in two shapes, and both are read here into the same :class:`Fer2013Split`:

* the official folder layout, ``<root>/{Training,PublicTest,PrivateTest}/<class>/*.jpg``;
* Kaggle's single ``fer2013.csv`` with columns ``emotion,pixels,Usage`` (``emotion`` 0-6 in
  :data:`FER2013_CLASSES` order, ``pixels`` 2304 space-separated values, ``Usage`` the split).

FER2013 is an image corpus, not clips with actors, so it has no manifest: it is only used to
measure the face expert (see :mod:`mmer.benchmark.face`). Labels stay in the dataset's own seven
classes, which is also the face model's output order; :func:`six_labels` maps them onto
:data:`mmer.labels.CLASSES`, dropping surprise exactly as :func:`mmer.features.fer.to_six` does.

Beside the folders, ``ferplus.csv`` holds the FER+ relabelling: ten annotators' votes per image
(:func:`load_ferplus_votes`), read as soft targets (:func:`ferplus_soft`) or as FER+'s majority
(:func:`ferplus_majority`), the cleaner target for training and measuring a face expert.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mmer.datasets.manifest import DatasetError
from mmer.errors import InvalidValue
from mmer.labels import CLASSES

log = logging.getLogger(__name__)

DATASET = "fer2013"
#: The seven classes in Kaggle's ``emotion`` id order, which is also the face model's output order
#: (``mmer.features.fer.FER_CLASSES``; kept separate so reading images never imports torch).
FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: The official usage splits, as folder names and as csv ``Usage`` values.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: FER2013 class → project class abbreviation; surprise has no class here and is dropped.
FER2013_TO_ABBR: dict[str, str | None] = {
    "angry": "ANG", "disgust": "DIS", "fear": "FEA", "happy": "HAP", "sad": "SAD", "surprise": None,
    "neutral": "NEU",
}
IMAGE_SIZE = 48
CSV_NAME = "fer2013.csv"
#: The FER+ relabelling (Barsoum et al. 2016, MIT): ten annotators' votes per image, beside the folders.
FERPLUS_NAME = "ferplus.csv"
#: FER+'s eight emotions, in its column order; its last two columns count "unknown" and "not a face".
FERPLUS_CLASSES: tuple[str, ...] = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                                    "contempt")
FERPLUS_COLUMNS: tuple[str, ...] = (*FERPLUS_CLASSES, "unknown", "NF")
CSV_COLUMNS: tuple[str, ...] = ("emotion", "pixels", "Usage")
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
#: With ``progress=True``, one log line per this many images read.
_PROGRESS_EVERY = 5000

_SIX_OF_SEVEN = np.array([CLASSES.index(a) if a is not None else -1
                          for a in (FER2013_TO_ABBR[c] for c in FER2013_CLASSES)], dtype=np.int64)


@dataclass(frozen=True, eq=False)  # arrays inside: identity, not element-wise, equality
class Fer2013Split:
    """One usage split in memory: ``images`` (N, 48, 48) uint8 grey, ``labels`` (N,) int64 indices
    into :data:`FER2013_CLASSES`, ``ids`` one name per image (file stem, or ``row<k>`` for the csv)."""

    split: str
    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    source: Path

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        """Images per FER2013 class (all seven, zeros included), in :data:`FER2013_CLASSES` order."""
        counts = np.bincount(self.labels, minlength=len(FER2013_CLASSES))
        return {name: int(n) for name, n in zip(FER2013_CLASSES, counts, strict=True)}

    @property
    def six_labels(self) -> np.ndarray:
        """(N,) project class ids (:data:`mmer.labels.CLASSES` order), -1 for surprise."""
        return six_labels(self.labels)

    def rgb(self) -> np.ndarray:
        """(N, 48, 48, 3) uint8: the grey images as the RGB frames the face backbone takes
        (equal channels, so its RGB→grey conversion gives the original pixels back)."""
        return np.repeat(self.images[..., None], 3, axis=-1)


def load_ferplus_votes(data: Fer2013Split) -> np.ndarray:
    """(N, 10) the FER+ votes of each image of ``data`` (read from the folder layout), in
    :data:`FERPLUS_COLUMNS` order, from ``ferplus.csv`` beside the split folders. The cleaner target
    than FER2013's own labels (they disagree with the votes' majority for 38 % of images)."""
    path = data.source / FERPLUS_NAME
    if not path.is_file():
        raise DatasetError(f"no {FERPLUS_NAME} in {data.source}: the FER+ votes come with the folder layout")
    wanted = {f"{data.split}/{FER2013_CLASSES[label]}/{name}": i
              for i, (label, name) in enumerate(zip(data.labels.tolist(), data.ids, strict=True))}
    votes = np.full((len(data), len(FERPLUS_COLUMNS)), -1, np.int64)
    with path.open(newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.DictReader(f), start=1):
            i = wanted.get(str(row.get("image", "")).rsplit(".", 1)[0])
            if i is None:
                continue
            try:
                votes[i] = [int(row[c]) for c in FERPLUS_COLUMNS]
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{_where(path, number)}: bad FER+ votes ({exc})") from exc
    missing = np.flatnonzero(votes[:, 0] < 0)
    if len(missing):
        raise DatasetError(f"{path} has no votes for {len(missing)} of the {len(data)} {data.split} images "
                           f"(first: {data.ids[missing[0]]})")
    return votes


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """(N,) the index into :data:`FERPLUS_CLASSES` of each image's most-voted emotion, or -1 where
    that is not one emotion: a tie, or as many "unknown" / "not a face" votes (FER+'s own rule for
    leaving an image out of majority-vote accuracy)."""
    votes = np.asarray(votes, np.int64)
    emotions = votes[:, :len(FERPLUS_CLASSES)]
    top = emotions.max(axis=1)
    single = (emotions == top[:, None]).sum(axis=1) == 1
    clear = single & (top > votes[:, len(FERPLUS_CLASSES):].max(axis=1))
    return np.where(clear, emotions.argmax(axis=1), -1)


#: FER+ emotion → FER2013 class (contempt has none).
_FERPLUS_TO_FER2013 = np.array([FER2013_CLASSES.index(c) if c is not None else -1 for c in
                                ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", None)], np.int64)


def ferplus_majority7(votes: np.ndarray) -> np.ndarray:
    """(N,) each image's FER+ majority as a FER2013 class id (:data:`FER2013_CLASSES`), -1 where
    there is no single majority or it is contempt (no FER2013 class): the target of "FER+ majority
    accuracy" for a seven-class net."""
    majority = ferplus_majority(votes)
    return np.where(majority >= 0, _FERPLUS_TO_FER2013[np.maximum(majority, 0)], -1)


def ferplus_soft(votes: np.ndarray) -> np.ndarray:
    """(N, 8) each image's votes over FER+'s eight emotions as a distribution (soft targets); a row
    of zeros where no annotator named an emotion."""
    emotions = np.asarray(votes, np.float64)[:, :len(FERPLUS_CLASSES)]
    total = emotions.sum(axis=1, keepdims=True)
    return np.divide(emotions, total, out=np.zeros_like(emotions), where=total > 0)


def six_labels(labels7: np.ndarray) -> np.ndarray:
    """FER2013 class ids → project class ids; surprise (no project class) → -1."""
    labels7 = np.asarray(labels7, dtype=np.int64)
    if labels7.size and (labels7.min() < 0 or labels7.max() >= len(FER2013_CLASSES)):
        raise InvalidValue(f"FER2013 labels must be in [0, {len(FER2013_CLASSES)}), got {np.unique(labels7)}")
    return _SIX_OF_SEVEN[labels7]


def resolve_source(path: Path) -> Path:
    """The folder (holding the split folders) or csv that ``path`` names.

    Accepts the fer2013 folder itself, a parent holding ``fer2013/`` (such as ``../shared/data``),
    a folder holding ``fer2013.csv``, or the csv file. Raises :class:`DatasetError` otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"FER2013 data {path} does not exist")
    if path.is_file():
        return path
    for candidate in (path, path / DATASET):
        if any((candidate / s).is_dir() for s in SPLITS):
            return candidate
    for candidate in (path / CSV_NAME, path / DATASET / CSV_NAME):
        if candidate.is_file():
            return candidate
    entries = sorted(p.name for p in path.iterdir())[:8]
    raise DatasetError(f"{path} is neither FER2013 layout: expected split folders {', '.join(SPLITS)} "
                       f"(each with {'/'.join(FER2013_CLASSES)}) or a {CSV_NAME}, here or in {DATASET}/; "
                       f"found {', '.join(entries) or 'nothing'}")


def load_fer2013(source: Path, split: str = "PrivateTest", *, limit: int | None = None,
                 progress: bool = False) -> Fer2013Split:
    """Read one split of FER2013 from the folder layout or Kaggle's csv (see :func:`resolve_source`).

    ``limit`` keeps that many images evenly spaced through the split (in sorted class-then-file
    order, or csv order), so a subset keeps roughly the class proportions; only those are read.
    ``progress`` logs a line every few thousand images (the Training split is 28,709 files).
    """
    split = _split_name(split)
    if limit is not None and limit < 1:
        raise InvalidValue(f"limit must be at least 1, got {limit}")
    resolved = resolve_source(source)
    if resolved.is_file():
        data = _load_csv(resolved, split, limit, progress)
    else:
        data = _load_folder(resolved, split, limit, progress)
    log.info("fer2013 %s: %d images from %s", split, len(data), resolved)
    return data


def _split_name(split: str) -> str:
    for name in SPLITS:
        if split.lower() == name.lower():
            return name
    raise DatasetError(f"unknown FER2013 split {split!r}; expected one of {', '.join(SPLITS)}")


def _spaced(n: int, limit: int | None) -> np.ndarray:
    """Indices of ``limit`` items evenly spaced over ``n`` (all of them without a limit)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return (np.arange(limit) * n) // limit


def _load_folder(root: Path, split: str, limit: int | None, progress: bool) -> Fer2013Split:
    split_dir = root / split
    if not split_dir.is_dir():
        present = [s for s in SPLITS if (root / s).is_dir()]
        raise DatasetError(f"{root} has no {split}/ folder (it has {', '.join(present) or 'no split folder'})")
    files: list[tuple[Path, int]] = []
    for entry in sorted(split_dir.iterdir()):
        if entry.name.startswith("."):  # .DS_Store, .ipynb_checkpoints, …
            continue
        if not entry.is_dir():
            log.debug("ignoring %s: not a class folder", entry)
            continue
        if entry.name not in FER2013_CLASSES:
            raise DatasetError(f"unknown FER2013 class folder {entry}: expected only "
                               f"{', '.join(FER2013_CLASSES)} under {split_dir}")
        label = FER2013_CLASSES.index(entry.name)
        files.extend((p, label) for p in sorted(entry.iterdir())
                     if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"no images under {split_dir}: expected {split}/<class>/*.jpg")
    chosen = [files[i] for i in _spaced(len(files), limit)]
    images = np.empty((len(chosen), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for i, (path, _) in enumerate(chosen):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise DatasetError(f"cannot read image {path}")
        if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
            raise DatasetError(f"{path} is {image.shape[1]}×{image.shape[0]}, FER2013 images are "
                               f"{IMAGE_SIZE}×{IMAGE_SIZE}")
        images[i] = image
        _progress(progress, i + 1, len(chosen), split)
    labels = np.array([label for _, label in chosen], dtype=np.int64)
    return Fer2013Split(split, images, labels, tuple(p.stem for p, _ in chosen), root)


def _load_csv(path: Path, split: str, limit: int | None, progress: bool) -> Fer2013Split:
    """Every row's ``emotion`` and ``Usage`` are checked; ``pixels`` only for the rows loaded
    (parsing all 35,887 pixel strings to read one split would triple the time)."""
    rows: list[tuple[int, int, str]] = []  # (data row number, label, pixels)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise DatasetError(f"{path}: not a FER2013 csv, missing column(s) {', '.join(missing)} "
                                   f"(expected {','.join(CSV_COLUMNS)}; header is {reader.fieldnames})")
            for number, row in enumerate(reader, start=1):
                label = _csv_label(path, number, row)
                usage = (row.get("Usage") or "").strip()
                if usage not in SPLITS:
                    raise DatasetError(f"{_where(path, number)}: Usage {usage!r} is not one of {', '.join(SPLITS)}")
                if usage == split:
                    rows.append((number, label, row.get("pixels") or ""))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise DatasetError(f"{path} has no {split} rows")
    chosen = [rows[i] for i in _spaced(len(rows), limit)]
    images = np.empty((len(chosen), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for i, (number, _, pixels) in enumerate(chosen):
        images[i] = _csv_pixels(path, number, pixels)
        _progress(progress, i + 1, len(chosen), split)
    labels = np.array([label for _, label, _ in chosen], dtype=np.int64)
    return Fer2013Split(split, images, labels, tuple(f"row{n}" for n, _, _ in chosen), path)


def _where(path: Path, number: int) -> str:
    # Data row k is file line k + 1 (the header is line 1).
    return f"{path.name} row {number} (line {number + 1})"


def _csv_label(path: Path, number: int, row: dict[str, str | None]) -> int:
    text = (row.get("emotion") or "").strip()
    if not text.isdigit() or int(text) >= len(FER2013_CLASSES):
        raise DatasetError(f"{_where(path, number)}: emotion {text!r} is not an id 0-{len(FER2013_CLASSES) - 1} "
                           f"({', '.join(f'{i}={c}' for i, c in enumerate(FER2013_CLASSES))})")
    return int(text)


def _csv_pixels(path: Path, number: int, text: str) -> np.ndarray:
    values = text.split()
    expected = IMAGE_SIZE * IMAGE_SIZE
    if len(values) != expected:
        raise DatasetError(f"{_where(path, number)}: pixels has {len(values)} values, expected {expected} "
                           f"({IMAGE_SIZE}×{IMAGE_SIZE})")
    try:
        array = np.array(values, dtype=np.int64)
    except ValueError:
        bad = next(v for v in values if not v.lstrip("-").isdigit())
        raise DatasetError(f"{_where(path, number)}: pixel value {bad!r} is not an integer") from None
    if array.min() < 0 or array.max() > 255:
        raise DatasetError(f"{_where(path, number)}: pixel values must be 0-255, got {array.min()}..{array.max()}")
    return array.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


def _progress(enabled: bool, done: int, total: int, split: str) -> None:
    if enabled and (done % _PROGRESS_EVERY == 0 or done == total):
        log.info("fer2013 %s: %d/%d images read", split, done, total)


def write_csv(path: Path, splits: Sequence[Fer2013Split]) -> None:
    """Write ``splits`` as a Kaggle-style ``fer2013.csv`` (for tests and for converting the folder
    layout into the single-file form)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for data in splits:
            for image, label in zip(data.images, data.labels, strict=True):
                writer.writerow([int(label), " ".join(map(str, image.reshape(-1).tolist())), data.split])
