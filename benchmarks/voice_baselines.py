"""The voice recipe's baselines on the same speaker-independent folds as ``mmer train-voice``.

Each clip's speech (the same VAD trim and cache as the recipe) → the built-in ``logmel``
statistics (:func:`mmer.features.audio_stats.logmel_stats`, 269 numbers per clip, computed from the
clip alone, so serving could reproduce them) → a classifier: multinomial logistic regression or a
one-hidden-layer MLP, features standardised with the training actors' statistics. The CNN the
product ships is measured by ``mmer train-voice --cv-only``; this prints the table to compare it with.

    .venv/bin/python benchmarks/voice_baselines.py --manifest data/ravdess-audio.csv [--folds 6] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmer.datasets import read_manifest
from mmer.features.audio_stats import logmel_stats
from mmer.labels import NUM_CLASSES
from mmer.training.metrics import classification_metrics, summarize_folds
from mmer.voice.train import fold_plan, load_clips


def fit_classifier(x: np.ndarray, y: np.ndarray, *, hidden: int, seed: int, epochs: int = 300) -> nn.Module:
    """Full-batch AdamW with class-balanced cross-entropy; ``hidden`` 0 is logistic regression."""
    torch.manual_seed(seed)
    model: nn.Module = (nn.Linear(x.shape[1], NUM_CLASSES) if hidden == 0 else
                        nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Dropout(0.5),
                                      nn.Linear(hidden, NUM_CLASSES)))
    counts = np.bincount(y, minlength=NUM_CLASSES)
    loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / np.maximum(counts, 1) / NUM_CLASSES,
                                                      dtype=torch.float32))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2 if hidden == 0 else 3e-3, weight_decay=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        loss_fn(model(xt), yt).backward()
        opt.step()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, help="speech cache (default: <manifest>.speech/, as train-voice)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    records = read_manifest(args.manifest)
    clips, failures = load_clips([(r.clip_id, r.resolved_path, r.actor, r.label_id) for r in records],
                                 cache=args.cache or args.manifest.with_suffix(".speech"))
    feats = np.stack([logmel_stats(c.wave) for c in clips]).astype(np.float32)
    labels = np.array([c.label for c in clips])
    actors = np.array([c.actor for c in clips])
    results: dict[str, list[dict]] = {"logmel stats + logistic regression": [], "logmel stats + MLP (256)": []}
    for i, (train_actors, _, test_actors) in enumerate(fold_plan(list(actors), args.folds, args.seed)):
        tr, te = np.isin(actors, list(train_actors)), np.isin(actors, list(test_actors))
        mean, std = feats[tr].mean(0), feats[tr].std(0) + 1e-6
        x_tr, x_te = (feats[tr] - mean) / std, (feats[te] - mean) / std
        for name, hidden in zip(results, (0, 256), strict=True):
            model = fit_classifier(x_tr, labels[tr], hidden=hidden, seed=args.seed * 100 + i)
            with torch.no_grad():
                pred = model(torch.from_numpy(x_te)).argmax(1).numpy()
            results[name].append(classification_metrics(labels[te], pred))
    print(f"{args.folds}-fold over actors (seed {args.seed}), {len(clips)} clips ({len(failures)} unreadable); "
          "validation folds unused (fixed budget)")
    print(f"{'model':<38}{'WAR':>16}{'UAR':>16}{'macro-F1':>16}")
    for name, folds in results.items():
        s = summarize_folds(folds, ("war", "uar", "macro_f1"))
        print(f"{name:<38}" + "".join(f"{s[k]['mean']:>9.3f} ± {s[k]['std']:.3f}" for k in ("war", "uar", "macro_f1")))


if __name__ == "__main__":
    main()
