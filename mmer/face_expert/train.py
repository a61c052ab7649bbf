"""The face-expression recipe: FER2013 Training's faces, FER+'s votes as targets, webcam-like
augmentation, resumable epochs, and the weights of the epoch that reads PublicTest best.

Targets are chosen by measurement between the votes' distribution (``soft``: ten annotators who
split 6/4 between two emotions are a 6/4 target, which FER+'s authors found best) and FER+'s
single majority (``majority``, one-hot; faces without one are left out of training). Every epoch
ends with PublicTest read as FER+'s majority (faces without one left out) and the whole training
state written atomically, so a stopped run goes on from its last epoch with the same result as one
that never stopped. PrivateTest is never read here.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmer.datasets.fer2013 import Fer2013Split, ferplus_majority, ferplus_soft
from mmer.errors import InvalidValue
from mmer.face_expert.model import ExpressionNet, ExpressionNetConfig
from mmer.faces.augment import FaceAugment, augment_faces
from mmer.fsutil import atomic_path

log = logging.getLogger(__name__)

TARGETS = ("soft", "majority")


@dataclass(frozen=True)
class FaceRecipe:
    """Every setting of a run; stored with its state (a resumed run must have the same)."""

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    target: str = "soft"
    augment: FaceAugment = field(default_factory=FaceAugment)
    net: ExpressionNetConfig = field(default_factory=ExpressionNetConfig)
    seed: int = 0

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # tuples → lists: what a stored state holds


@dataclass(frozen=True, eq=False)
class FaceSet:
    """Faces and what to learn from them: ``images`` (N, 48, 48) uint8, ``targets`` (N, 8) rows
    summing to 1 (soft or one-hot), ``majority`` (N,) FER+'s majority or -1."""

    images: np.ndarray
    targets: np.ndarray
    majority: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def face_set(data: Fer2013Split, votes: np.ndarray, target: str = "soft") -> FaceSet:
    """The faces of ``data`` with targets from their FER+ ``votes``: the votes' distribution over the
    eight emotions (``soft``) or FER+'s majority one-hot (``majority``). Faces no annotator gave an
    emotion, or (``majority``) without a single majority, are left out."""
    if target not in TARGETS:
        raise InvalidValue(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    soft = ferplus_soft(votes)
    majority = ferplus_majority(votes)
    if target == "soft":
        keep = soft.sum(axis=1) > 0
        targets = soft
    else:
        keep = majority >= 0
        targets = np.eye(soft.shape[1])[np.maximum(majority, 0)]
    return FaceSet(data.images[keep], targets[keep].astype(np.float32), majority[keep])


def _batch(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().div_(255.0)[:, None]


def predict(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, 8) probabilities of ``model`` for (N, 48, 48) uint8 faces, no augmentation."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            out.append(torch.softmax(model(_batch(images[start:start + batch_size])), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.num_classes), np.float32)


def majority_accuracy(probs: np.ndarray, majority: np.ndarray) -> float:
    """Accuracy against FER+'s majority over the faces that have one."""
    clear = majority >= 0
    return float((probs[clear].argmax(axis=1) == majority[clear]).mean()) if clear.any() else float("nan")


def train_expression_net(train: FaceSet, val: FaceSet, recipe: FaceRecipe = FaceRecipe(), *,
                         state_path: Path | None = None,
                         progress: Callable[[dict], None] | None = None) -> tuple[ExpressionNet, dict]:
    """Train on ``train``; after each epoch measure ``val`` (FER+ majority accuracy) and keep the best
    epoch's weights. With ``state_path``, the whole state is written there after every epoch and a
    run finds it and goes on (the same recipe only). Returns the best model and a report (best epoch,
    its validation accuracy, one history row per epoch)."""
    if not len(train) or not len(val):
        raise InvalidValue("training and validation faces are both needed")
    torch.manual_seed(recipe.seed)
    model = ExpressionNet(recipe.net).to(memory_format=torch.channels_last)  # a fifth faster on CPU
    steps = (len(train) + recipe.batch_size - 1) // recipe.batch_size
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=recipe.learning_rate,
                                                   total_steps=recipe.epochs * steps)
    state = {"epoch": 0, "best_epoch": 0, "best_accuracy": -1.0, "best_weights": None, "history": []}
    if state_path is not None and state_path.exists():
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
        if saved["recipe"] != recipe.to_dict():
            raise InvalidValue(f"{state_path} belongs to a run with another recipe: remove it to start afresh")
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        state = {k: saved[k] for k in state}
        log.info("resuming %s after epoch %d of %d", state_path, state["epoch"], recipe.epochs)
    targets = torch.from_numpy(train.targets)
    for epoch in range(state["epoch"] + 1, recipe.epochs + 1):
        start = time.perf_counter()
        g = torch.Generator().manual_seed(recipe.seed * 100_003 + epoch)  # the epoch's own: resumable
        order = torch.randperm(len(train), generator=g)
        model.train()
        total = 0.0
        for first in range(0, len(train), recipe.batch_size):
            idx = order[first:first + recipe.batch_size]
            x = augment_faces(_batch(train.images[idx.numpy()]), recipe.augment, generator=g)
            x = x.contiguous(memory_format=torch.channels_last)
            loss = -(targets[idx] * torch.log_softmax(model(x), dim=1)).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        accuracy = majority_accuracy(predict(model, val.images), val.majority)
        row = {"epoch": epoch, "loss": total / len(train), "val_accuracy": accuracy,
               "seconds": round(time.perf_counter() - start, 1)}
        state["history"].append(row)
        if accuracy > state["best_accuracy"]:
            state.update(best_epoch=epoch, best_accuracy=accuracy, best_weights=copy.deepcopy(model.state_dict()))
        state["epoch"] = epoch
        log.info("epoch %d/%d: loss %.4f, validation FER+ accuracy %.4f (%.0f s)", epoch, recipe.epochs,
                 row["loss"], accuracy, row["seconds"])
        if state_path is not None:
            with atomic_path(state_path) as tmp:
                torch.save({**state, "recipe": recipe.to_dict(), "model": model.state_dict(),
                            "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict()}, tmp)
        if progress is not None:
            progress(row)
    best = ExpressionNet(recipe.net)
    best.load_state_dict(state["best_weights"] if state["best_weights"] is not None else model.state_dict())
    best.eval()
    report = {"best_epoch": state["best_epoch"], "val_accuracy": state["best_accuracy"],
              "history": state["history"], "recipe": recipe.to_dict(), "train_faces": len(train),
              "val_faces": len(val)}
    return best, report
