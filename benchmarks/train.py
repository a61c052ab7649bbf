"""Training speed on a corpus the size of RAVDESS + CREMA-D: seconds per epoch on this machine.

Synthetic features of the real backbones' shapes stand in for the datasets (speed does not
depend on the values): 24 RAVDESS-like and 91 CREMA-D-like actors × 6 classes × 13 clips = 8,970
clips, close to the 8.7k clips of both corpora after label mapping. Two
feature sets: ViViT (16 × 768) + Wav2Vec2 (1024), and the offline fer (32 × 128) + logmel (269).
An epoch's time includes the validation pass; peak RSS is the whole process's.

    .venv/bin/python benchmarks/train.py [--epochs 2] [--batch-size 32] [--sets vivit fer]
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from pathlib import Path

import torch

from mmer.training.config import TrainConfig
from mmer.training.data import load_features
from mmer.training.sample_features import make_sample_features
from mmer.training.trainer import train

SETS = {
    "vivit": {"video_frames": 16, "video_dim": 768, "audio_dim": 1024, "label": "ViViT 16×768 + Wav2Vec2 1024"},
    "fer": {"video_frames": 32, "video_dim": 128, "audio_dim": 269, "label": "fer 32×128 + logmel 269"},
}
ACTORS = {"ravdess": 24, "cremad": 91}
CLIPS_PER_CLASS = 13


def make_corpus(root: Path, name: str) -> Path:
    dims = {k: v for k, v in SETS[name].items() if k != "label"}
    return make_sample_features(root, actors=ACTORS, clips_per_class=CLIPS_PER_CLASS, **dims)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = []
    for name in args.sets:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = make_corpus(Path(tmp) / "features", name)
            root = manifest.parent
            started = time.perf_counter()
            features, _ = load_features(manifest, root)
            load_s = time.perf_counter() - started
            config = TrainConfig(manifest=str(manifest), features=str(root), out=str(Path(tmp) / "runs"),
                                 run_id=name, epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs,
                                 device="cpu")
            result = train(config)
            history = (result.run_dir / "history.csv").read_text().splitlines()[1:]
            seconds = [float(line.split(",")[-1]) for line in history]
            clips = result.metrics["clips"]
            rows.append((SETS[name]["label"], len(features), clips["train"], sum(seconds) / len(seconds),
                         clips["train"] / (sum(seconds) / len(seconds)), load_s, peak_rss_mb()))

    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, CPU, batch {args.batch_size}, "
          f"fusion dim {TrainConfig.dim}, {TrainConfig.layers} layer")
    print("| features | clips | train clips | s / epoch | train clips / s | load s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for label, n, n_train, sec, rate, load_s, rss in rows:
        print(f"| {label} | {n} | {n_train} | {sec:.1f} | {rate:.0f} | {load_s:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
