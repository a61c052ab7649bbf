"""FER2013 reader: both layouts (split folders, Kaggle's csv) into one in-memory split, and its errors.

Layout tests write tiny corpora in tmp_path; the counting tests read the real corpus in
``../shared/data`` (``$MMER_DATA``) and skip when it is absent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmer.datasets import DatasetError
from mmer.datasets.fer2013 import (
    FER2013_CLASSES,
    FER2013_TO_ABBR,
    FERPLUS_CLASSES,
    FERPLUS_COLUMNS,
    IMAGE_SIZE,
    SPLITS,
    Fer2013Split,
    ferplus_majority,
    ferplus_soft,
    load_fer2013,
    load_ferplus_votes,
    resolve_source,
    six_labels,
    write_csv,
)
from mmer.labels import CLASSES

#: The copy's image counts (shared/data/README.md): the official release's 35,887 rows less the 177
#: that the FER+ annotators marked "not a face" (16 of them in PrivateTest).
SPLIT_TOTALS = {"Training": 28558, "PublicTest": 3579, "PrivateTest": 3573}
PRIVATE_TEST_COUNTS = {"angry": 489, "disgust": 55, "fear": 525, "happy": 876, "neutral": 624, "sad": 589,
                       "surprise": 415}


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)


def _write_folder(root: Path, split: str, labels: list[int], seed: int = 0) -> np.ndarray:
    """PNG (lossless) images under ``root/split/<class>/``; returns them in the reader's order."""
    images = _images(len(labels), seed)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / split / FER2013_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / f"{split}_{i:04d}.png"), image)
    order = sorted(range(len(labels)), key=lambda i: (FER2013_CLASSES[labels[i]], i))
    return images[order]


def _kaggle_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(rows)
    return path


def _pixels(image: np.ndarray) -> str:
    return " ".join(str(v) for v in image.reshape(-1))


# --- the real corpus --------------------------------------------------------------------------


def test_private_test_has_the_readme_counts(shared_data: Path) -> None:
    data = load_fer2013(shared_data, "PrivateTest")  # the parent of fer2013/ is accepted
    assert len(data) == SPLIT_TOTALS["PrivateTest"]
    assert data.class_counts() == {c: PRIVATE_TEST_COUNTS[c] for c in FER2013_CLASSES}
    assert data.images.shape == (SPLIT_TOTALS["PrivateTest"], 48, 48) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and len(set(data.ids)) == len(data)
    assert int((data.six_labels == -1).sum()) == PRIVATE_TEST_COUNTS["surprise"]
    assert 40 < data.images.mean() < 200  # real faces, not blank files


def test_private_test_has_ten_ferplus_votes_per_face_and_a_cleaner_majority(shared_data: Path) -> None:
    """The README's FER+ facts on PrivateTest: ten votes per image, and a majority that often differs
    from FER2013's own label (38 % over the whole corpus) while agreeing on most happy faces."""
    data = load_fer2013(shared_data, "PrivateTest")
    votes = load_ferplus_votes(data)
    assert votes.shape == (len(data), len(FERPLUS_COLUMNS)) and (votes.sum(axis=1) >= 9).all()
    majority = ferplus_majority(votes)
    assert 0.9 < (majority >= 0).mean() < 1.0  # ties and "unknown" majorities are left out
    same = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness", "sad": "sadness",
            "surprise": "surprise", "neutral": "neutral"}
    agree = np.array([FERPLUS_CLASSES[m] == same[FER2013_CLASSES[y]] if m >= 0 else False
                      for m, y in zip(majority, data.labels, strict=True)])
    assert 0.5 < agree.mean() < 0.8
    assert agree[data.labels == FER2013_CLASSES.index("happy")].mean() > 0.85
    soft = ferplus_soft(votes)
    assert soft.shape == (len(data), 8) and np.allclose(soft[soft.sum(axis=1) > 0].sum(axis=1), 1.0)


def test_ferplus_votes_are_matched_by_path_and_read_with_fer_plus_rules(tmp_path: Path) -> None:
    _write_folder(tmp_path, "PublicTest", [0, 3, 6])  # angry, happy, neutral
    data = load_fer2013(tmp_path, "PublicTest")
    header = ["image", "usage", "fer2013_label", *FERPLUS_COLUMNS]
    rows = {"PublicTest/angry/PublicTest_0000.png": [0, 0, 0, 0, 8, 1, 1, 0, 0, 0],
            "PublicTest/happy/PublicTest_0001.png": [4, 4, 0, 0, 0, 0, 0, 0, 2, 0],  # a tie
            "PublicTest/neutral/PublicTest_0002.png": [2, 0, 0, 1, 0, 0, 0, 0, 3, 4],  # mostly not a face
            "Training/angry/other.png": [10, 0, 0, 0, 0, 0, 0, 0, 0, 0]}

    def write(table: dict[str, list]) -> None:
        with (tmp_path / "ferplus.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for image, v in table.items():
                w.writerow([image, image.split("/")[0], image.split("/")[1], *v])

    write(rows)
    votes = load_ferplus_votes(data)
    assert [FER2013_CLASSES[y] for y in data.labels] == ["angry", "happy", "neutral"]
    assert votes[0].tolist() == rows["PublicTest/angry/PublicTest_0000.png"]
    assert ferplus_majority(votes).tolist() == [FERPLUS_CLASSES.index("anger"), -1, -1]
    assert np.allclose(ferplus_soft(votes)[0], [0, 0, 0, 0, 0.8, 0.1, 0.1, 0])
    write({k: v for k, v in rows.items() if "neutral" not in k})
    with pytest.raises(DatasetError, match="no votes for 1 of the 3 PublicTest images"):
        load_ferplus_votes(data)
    write({**rows, "PublicTest/neutral/PublicTest_0002.png": ["x"] * 10})
    with pytest.raises(DatasetError, match=r"row 3 \(line 4\): bad FER\+ votes"):
        load_ferplus_votes(data)
    (tmp_path / "ferplus.csv").unlink()
    with pytest.raises(DatasetError, match="no ferplus.csv"):
        load_ferplus_votes(data)


@pytest.mark.slow
def test_every_split_has_the_readme_total(shared_data: Path) -> None:
    for split, total in SPLIT_TOTALS.items():
        assert len(load_fer2013(shared_data / "fer2013", split)) == total


# --- folder layout ----------------------------------------------------------------------------


def test_folder_layout_reads_images_labels_and_ids(tmp_path: Path) -> None:
    labels = [0, 3, 3, 5, 6, 1, 2, 4]
    expected = _write_folder(tmp_path / "fer2013", "PrivateTest", labels)
    data = load_fer2013(tmp_path / "fer2013", "privatetest")  # split names are case-insensitive
    assert data.split == "PrivateTest" and len(data) == len(labels)
    np.testing.assert_array_equal(data.images, expected)
    assert sorted(data.labels.tolist()) == sorted(labels)
    assert [FER2013_CLASSES[label] for label in data.labels] == sorted(FER2013_CLASSES[i] for i in labels)
    assert all(i.startswith("PrivateTest_") for i in data.ids)
    assert data.rgb().shape == (8, 48, 48, 3)
    np.testing.assert_array_equal(data.rgb()[..., 1], data.images)


def test_parent_folder_and_limit(tmp_path: Path) -> None:
    _write_folder(tmp_path / "fer2013", "Training", [3] * 10 + [6] * 10)
    (tmp_path / "fer2013" / "Training" / ".ipynb_checkpoints").mkdir()  # hidden entries are not classes
    (tmp_path / "fer2013" / "Training" / "README.txt").write_text("notes")
    assert resolve_source(tmp_path) == tmp_path / "fer2013"
    data = load_fer2013(tmp_path, "Training", limit=4)
    assert len(data) == 4 and data.class_counts()["happy"] == 2 and data.class_counts()["neutral"] == 2


def test_folder_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_fer2013(tmp_path / "missing")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="neither FER2013 layout.*a.jpg"):
        load_fer2013(tmp_path / "photos")
    _write_folder(tmp_path / "fer", "PrivateTest", [0, 1])
    with pytest.raises(DatasetError, match="no Training/ folder"):
        load_fer2013(tmp_path / "fer", "Training")
    with pytest.raises(DatasetError, match="unknown FER2013 split 'test'"):
        load_fer2013(tmp_path / "fer", "test")
    (tmp_path / "fer" / "PrivateTest" / "contempt").mkdir()
    with pytest.raises(DatasetError, match="unknown FER2013 class folder .*contempt"):
        load_fer2013(tmp_path / "fer", "PrivateTest")


def test_a_wrongly_sized_or_broken_image_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "PublicTest" / "sad"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "big.png"), np.zeros((64, 64), np.uint8))
    with pytest.raises(DatasetError, match="big.png is 64×64"):
        load_fer2013(tmp_path, "PublicTest")
    (folder / "big.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="cannot read image .*big.png"):
        load_fer2013(tmp_path, "PublicTest")


# --- Kaggle csv -------------------------------------------------------------------------------


def test_kaggle_csv_round_trips(tmp_path: Path) -> None:
    images = _images(9, seed=1)
    usages = ["Training", "PublicTest", "PrivateTest"] * 3
    emotions = [0, 1, 2, 3, 4, 5, 6, 6, 3]
    path = _kaggle_csv(tmp_path / "fer2013.csv", [(str(e), _pixels(im), u)
                                                  for e, im, u in zip(emotions, images, usages, strict=True)])
    for split in SPLITS:
        rows = [i for i, u in enumerate(usages) if u == split]
        for source in (path, tmp_path):  # the csv itself, or the folder holding it
            data = load_fer2013(source, split)
            np.testing.assert_array_equal(data.images, images[rows])
            assert data.labels.tolist() == [emotions[i] for i in rows]
            assert data.ids == tuple(f"row{i + 1}" for i in rows)
    # The writer and the reader agree, whichever layout the data came from.
    splits = [load_fer2013(path, s) for s in SPLITS]
    write_csv(tmp_path / "again.csv", splits)
    for original in splits:
        again = load_fer2013(tmp_path / "again.csv", original.split)
        np.testing.assert_array_equal(again.images, original.images)
        np.testing.assert_array_equal(again.labels, original.labels)


@pytest.mark.parametrize(("row", "message"), [
    (("3", "1 2 3", "Training"), r"row 2 \(line 3\): pixels has 3 values, expected 2304"),
    (("7", None, "Training"), r"row 2 \(line 3\): emotion '7' is not an id 0-6"),
    (("happy", None, "Training"), r"row 2 \(line 3\): emotion 'happy'"),
    (("3", None, "Validation"), r"row 2 \(line 3\): Usage 'Validation' is not one of"),
    (("3", "300 " * 2304, "Training"), r"row 2 \(line 3\): pixel values must be 0-255"),
    (("3", "1.5 " * 2304, "Training"), r"row 2 \(line 3\): pixel value '1.5' is not an integer"),
])
def test_a_bad_csv_row_is_named(tmp_path: Path, row: tuple[str, str | None, str], message: str) -> None:
    good = ("0", _pixels(_images(1)[0]), "Training")
    bad = (row[0], row[1] if row[1] is not None else good[1], row[2])
    path = _kaggle_csv(tmp_path / "fer2013.csv", [good, bad])
    with pytest.raises(DatasetError, match=message):
        load_fer2013(path, "Training")


def test_csv_without_the_columns_or_the_split(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("emotion,pixels\n0," + _pixels(_images(1)[0]) + "\n")
    with pytest.raises(DatasetError, match="missing column.*Usage"):
        load_fer2013(path, "Training")
    _kaggle_csv(path, [("0", _pixels(_images(1)[0]), "Training")])
    with pytest.raises(DatasetError, match="no PrivateTest rows"):
        load_fer2013(path, "PrivateTest")


# --- labels -----------------------------------------------------------------------------------


def test_classes_and_six_class_map_match_the_face_model() -> None:
    from mmer.features.fer import FER_CLASSES, SIX_FROM_FER

    assert FER2013_CLASSES == FER_CLASSES
    mapped = six_labels(np.arange(len(FER2013_CLASSES)))
    for fer_id, six_id in enumerate(mapped.tolist()):
        abbr = FER2013_TO_ABBR[FER2013_CLASSES[fer_id]]
        if abbr is None:
            assert six_id == -1 and FER2013_CLASSES[fer_id] == "surprise"
        else:
            assert CLASSES[six_id] == abbr and SIX_FROM_FER[six_id] == fer_id  # the same map as to_six
    with pytest.raises(ValueError):
        six_labels(np.array([7]))
    split = Fer2013Split("PrivateTest", _images(2), np.array([5, 3]), ("a", "b"), Path("."))
    assert split.six_labels.tolist() == [-1, CLASSES.index("HAP")]
