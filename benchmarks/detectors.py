"""Face detectors on real photos: how often each finds the face, how many false alarms, how fast.

Each backend runs with the dataset settings (``{}``: the class defaults, as `mmer faces` builds it)
and the serving settings (``mmer.predictor.base.DETECTOR_OPTIONS``: max_side 320, min_face 0.1), on

(a) the 2,000 labelled photos of ``faces-in-the-wild`` as they are (each holds one face, most are
    350×350 crops): the share of photos with at least one box, and the median time per photo;
(b) 1280×720 frames made by pasting those photos (drawn with a fixed seed) onto a face-free
    synthetic backdrop (a smooth colour field, flat boxes and bars, blur, sensor grain; JPEG q90),
    each photo 15–40 % of the frame's height at a random place: recall (a box with IoU ≥ 0.3
    against the pasted photo, which is a tight face crop), false positives per frame (boxes whose
    centre lies on the backdrop, outside the photo), and the median time per frame.

Times are the wall clock of ``detect()`` alone (decoding excluded), with one thread per library
(``--threads``; torch and OpenCV size their pools to every core otherwise, and on a shared
two-core machine a spinning pool makes small networks many times slower), and the process CPU
time beside it. MTCNN needs its weights once: ``mmer weights fetch``.

    .venv/bin/python benchmarks/detectors.py [--limit N] [--frames 300] [--data DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mmer.faces import Detection, FaceDetectorUnavailable, get_detector, iou
from mmer.predictor.base import DETECTOR_OPTIONS

REPO = Path(__file__).resolve().parents[1]
FRAME_W, FRAME_H = 1280, 720
FACE_SHARE = (0.15, 0.40)  # pasted photo height / frame height
MATCH_IOU = 0.3
SETTINGS: dict[str, dict[str, Any]] = {"dataset": {}, "serving": dict(DETECTOR_OPTIONS)}


def data_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    for root in (os.environ.get("MMER_DATA"), REPO.parent / "shared" / "data"):
        if root and (Path(root) / "faces-in-the-wild" / "labels.csv").is_file():
            return Path(root) / "faces-in-the-wild"
    raise SystemExit("faces-in-the-wild not found: pass --data DIR or set MMER_DATA (see ../shared/data/README.md)")


def photo_names(root: Path) -> list[str]:
    with open(root / "labels.csv", newline="") as fh:
        return [row["image"] for row in csv.DictReader(fh)]


def evenly(items: list[Any], limit: int | None) -> list[Any]:
    """``limit`` items spread through ``items`` (all of them without a limit)."""
    if limit is None or limit >= len(items):
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def decode(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def backdrop(rng: np.random.Generator) -> np.ndarray:
    """A face-free 1280×720 scene: what a detector must not fire on around the face."""
    field_ = cv2.resize(rng.uniform(30, 225, (5, 9, 3)).astype(np.float32), (FRAME_W, FRAME_H),
                        interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 9))):
        x, y = int(rng.integers(0, FRAME_W)), int(rng.integers(0, FRAME_H))
        size = int(rng.integers(40, 500)), int(rng.integers(40, 400))
        cv2.rectangle(field_, (x, y), (x + size[0], y + size[1]), rng.uniform(20, 235, 3).tolist(), -1)
    for _ in range(int(rng.integers(2, 6))):
        ends = [(int(rng.integers(0, FRAME_W)), int(rng.integers(0, FRAME_H))) for _ in range(2)]
        cv2.line(field_, ends[0], ends[1], rng.uniform(20, 235, 3).tolist(), int(rng.integers(2, 12)))
    field_ = cv2.GaussianBlur(field_, (0, 0), 2.0) + rng.normal(0, 5, field_.shape).astype(np.float32)
    return np.clip(field_, 0, 255).astype(np.uint8)


def make_frames(photos: list[bytes], count: int, seed: int) -> list[tuple[bytes, Detection]]:
    """``count`` frames (JPEG) with one pasted photo each, and where it was pasted."""
    rng = np.random.default_rng(seed)
    frames = []
    for index in rng.choice(len(photos), size=min(count, len(photos)), replace=False):
        photo = decode(photos[index])
        ph, pw = photo.shape[:2]
        th = round(rng.uniform(*FACE_SHARE) * FRAME_H)
        tw = min(FRAME_W, max(1, round(pw * th / ph)))
        tile = cv2.resize(photo, (tw, th), interpolation=cv2.INTER_AREA if th < ph else cv2.INTER_CUBIC)
        frame = backdrop(rng)
        x, y = int(rng.integers(0, FRAME_W - tw + 1)), int(rng.integers(0, FRAME_H - th + 1))
        frame[y:y + th, x:x + tw] = tile
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        frames.append((jpeg.tobytes(), Detection(x, y, x + tw, y + th, 1.0)))
    return frames


@dataclass
class Timings:
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def run(self, detector: Any, image: np.ndarray) -> list[Detection]:
        cpu, wall = time.process_time(), time.perf_counter()
        found = detector.detect(image)
        self.wall_ms.append((time.perf_counter() - wall) * 1000)
        self.cpu_ms.append((time.process_time() - cpu) * 1000)
        return found

    def median(self) -> str:
        return f"{statistics.median(self.wall_ms):.1f} ({statistics.median(self.cpu_ms):.1f})"


def measure(detector: Any, photos: list[bytes], frames: list[tuple[bytes, Detection]]) -> dict[str, str]:
    detector.detect(decode(photos[0]))  # warm-up (first-call allocations), untimed
    on_photos, found = Timings(), 0
    for data in photos:
        found += bool(on_photos.run(detector, decode(data)))
    on_frames, hits, false_pos = Timings(), 0, 0
    for data, truth in frames:
        dets = on_frames.run(detector, decode(data))
        hits += any(iou(d, truth) >= MATCH_IOU for d in dets)
        false_pos += sum(not (truth.x1 <= d.center[0] <= truth.x2 and truth.y1 <= d.center[1] <= truth.y2)
                         for d in dets)
    return {"photos found %": f"{100 * found / len(photos):.1f}", "photos ms (CPU)": on_photos.median(),
            "frames recall %": f"{100 * hits / len(frames):.1f}",
            "false pos. / frame": f"{false_pos / len(frames):.3f}", "frames ms (CPU)": on_frames.median()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the faces-in-the-wild folder (labels.csv, images/)")
    parser.add_argument("--limit", type=int, help="only N photos (evenly spaced) and at most N frames")
    parser.add_argument("--frames", type=int, default=300, help="1280×720 frames to make (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="which photos are pasted, where and how large")
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1)")
    parser.add_argument("--detectors", nargs="+", default=["opencv", "mtcnn"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    root = data_dir(args.data)
    names = photo_names(root)
    everything = [(root / "images" / n).read_bytes() for n in names]
    frames = make_frames(everything, args.frames, args.seed)[:args.limit]
    photos = evenly(everything, args.limit)

    start = time.perf_counter()
    rows = []
    for name in args.detectors:
        for label, options in SETTINGS.items():
            try:
                detector = get_detector(name, **options)
            except FaceDetectorUnavailable as exc:
                sys.exit(f"{name}: {exc}")
            t0 = time.perf_counter()
            rows.append({"detector": name, "settings": f"{label} {options or '{}'}",
                         **measure(detector, photos, frames)})
            print(f"{name} {label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    print(f"{len(photos)} of {len(names)} photos from {root}; {len(frames)} frames {FRAME_W}×{FRAME_H} (seed "
          f"{args.seed}); {args.threads} thread(s); torch {torch.__version__}, OpenCV {cv2.__version__}; "
          f"ms = median wall (CPU) per detect(); {time.perf_counter() - start:.0f} s in all\n")
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row[c] for c in columns) + " |")


if __name__ == "__main__":
    main()
