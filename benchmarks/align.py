"""How tilted real faces are, and what cutting them upright costs.

On the first ``--limit`` (300) photos of ``faces-in-the-wild`` (in ``labels.csv`` order), MTCNN runs
with the dataset settings (``{}``, as `mmer faces` builds it) and the serving settings
(``mmer.predictor.base.DETECTOR_OPTIONS``); for the main face of each photo it reports the roll
angle of the eye line (:func:`mmer.faces.align.roll_angle`): how many faces an aligned crop would
turn, and by how much.

Then, per face (dataset settings), the wall time of today's crop (:func:`mmer.faces.crop.crop_face`)
and of the aligned one (:func:`mmer.faces.crop.aligned_crop`) for the crops the project cuts: 48
pixels with the default model's MTCNN margin (0.09), 64 pixels, and `mmer crop`'s 224 pixels with
the 25 % margin. Each crop is timed ``--repeat`` times, its median kept; the table gives the median
and 90th percentile over faces, and the time alignment adds. Landmarks cost nothing extra: O-Net
computed them before they were kept. One thread (``--threads``), as the service's per-request pools.

    .venv/bin/python benchmarks/align.py [--limit 300] [--repeat 15] [--data DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detectors import data_dir  # noqa: E402  (this folder: the one place that finds the photos)

from mmer.faces import Detection, get_detector  # noqa: E402
from mmer.faces.align import roll_angle  # noqa: E402
from mmer.faces.crop import aligned_crop, crop_face  # noqa: E402
from mmer.predictor.base import DETECTOR_OPTIONS  # noqa: E402

SETTINGS: dict[str, dict[str, Any]] = {"dataset": {}, "serving": dict(DETECTOR_OPTIONS)}
#: (size, margin) of the crops timed.
CROPS = ((48, 0.09), (64, 0.09), (224, 0.25))


def photo_paths(root: Path, limit: int) -> list[Path]:
    with open(root / "labels.csv", newline="") as fh:
        return [root / "images" / row["image"] for row in csv.DictReader(fh)][:limit]


def timed_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` calls, in ms."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000


def roll_row(label: str, options: dict[str, Any], rolls: list[float], photos: int, ms: list[float]) -> dict[str, str]:
    a = np.abs(np.asarray(rolls))
    q = np.percentile(a, [50, 75, 90, 95, 99]) if len(a) else [float("nan")] * 5
    return {
        "settings": f"{label} {options or '{}'}",
        "faces": f"{len(a)} / {photos}",
        "signed mean": f"{np.mean(rolls):+.1f}°",
        "abs median": f"{q[0]:.1f}°",
        "p75": f"{q[1]:.1f}°",
        "p90": f"{q[2]:.1f}°",
        "p95": f"{q[3]:.1f}°",
        "p99": f"{q[4]:.1f}°",
        "max": f"{a.max():.1f}°",
        "> 5°": f"{(a > 5).mean():.0%}",
        "> 10°": f"{(a > 10).mean():.0%}",
        "> 20°": f"{(a > 20).mean():.0%}",
        "detect ms": f"{np.median(ms):.1f}",
    }


def table(rows: list[dict[str, str]]) -> None:
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row[c] for c in columns) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="photos, from the start of labels.csv")
    parser.add_argument("--repeat", type=int, default=15, help="timings per crop (the median is kept)")
    parser.add_argument("--data", type=Path, help="the faces-in-the-wild folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    root = data_dir(args.data)
    paths = photo_paths(root, args.limit)
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]

    start = time.perf_counter()
    roll_rows, faces = [], []
    for label, options in SETTINGS.items():
        detector = get_detector("mtcnn", **options)
        rolls, ms = [], []
        for image in images:
            t0 = time.perf_counter()
            dets = detector.detect(image)
            ms.append((time.perf_counter() - t0) * 1000)
            if dets and dets[0].landmarks is not None:
                rolls.append(roll_angle(dets[0].landmarks))
                if label == "dataset":
                    faces.append((image, dets[0]))
        roll_rows.append(roll_row(label, options, rolls, len(images), ms))

    time_rows = []
    for size, margin in CROPS:
        plain, aligned = [], []
        for image, face in faces:
            bare = Detection(*face.box, face.score)
            plain.append(timed_ms(lambda i=image, b=bare, s=size, m=margin: crop_face(i, b, s, m), args.repeat))
            aligned.append(timed_ms(lambda i=image, f=face, s=size, m=margin: aligned_crop(i, f, None, s, m),
                                    args.repeat))
        added = np.asarray(aligned) - np.asarray(plain)
        sides = [face.width for _, face in faces]
        time_rows.append({
            "crop": f"{size} px, margin {margin}",
            "face box (median side)": f"{np.median(sides):.0f} px",
            "crop_face ms (median / p90)": f"{np.median(plain):.3f} / {np.percentile(plain, 90):.3f}",
            "aligned_crop ms (median / p90)": f"{np.median(aligned):.3f} / {np.percentile(aligned, 90):.3f}",
            "added ms (median / p90)": f"{np.median(added):.3f} / {np.percentile(added, 90):.3f}",
        })

    shape = shapes(images)
    print(f"{len(images)} photos from {root} ({shape}); MTCNN main face per photo; {args.threads} thread(s); "
          f"torch {torch.__version__}, OpenCV {cv2.__version__}; {time.perf_counter() - start:.0f} s in all\n")
    print("Roll angle of the eye line (0° = level; |roll| quantiles over the faces found):\n")
    table(roll_rows)
    print(f"Time per face, dataset-settings boxes ({len(faces)} faces), median of {args.repeat} runs each:\n")
    table(time_rows)


def shapes(images: list[np.ndarray]) -> str:
    """The commonest photo sizes, for the header."""
    common = Counter(f"{im.shape[1]}×{im.shape[0]}" for im in images).most_common(2)
    return ", ".join(f"{n} at {s}" for s, n in common)


if __name__ == "__main__":
    main()
