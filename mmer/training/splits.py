"""Which actors train, tune and test: one actor-disjoint split, or K folds over actors.

Splitting is done per dataset and the parts are joined, so a combined RAVDESS + CREMA-D run has
actors of both corpora in every split and fold (the 24 RAVDESS actors would otherwise be swamped by
CREMA-D's 91 in a hash ranking). Validation actors for a fold come from that fold's training
actors, never from its test fold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mmer.datasets import DatasetError, actor_folds, assign_actor_splits


@dataclass(frozen=True)
class ActorSplit:
    name: str  # "split" for a single split, "fold_1" … for K-fold
    train: frozenset[str]
    val: frozenset[str]
    test: frozenset[str]

    def __post_init__(self) -> None:
        if (self.train & self.val) or (self.train & self.test) or (self.val & self.test):
            raise DatasetError(f"{self.name}: an actor appears in more than one of train/val/test")
        if not self.train or not self.val:
            raise DatasetError(f"{self.name}: needs at least one training and one validation actor "
                               f"(got {len(self.train)} and {len(self.val)}); add actors or change the fractions")

    def as_dict(self) -> dict[str, list[str]]:
        return {"train": sorted(self.train), "val": sorted(self.val), "test": sorted(self.test)}


def _by_dataset(actors: Iterable[str], datasets: Sequence[str] | None = None) -> dict[str, list[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    if datasets is None:
        for actor in actors:
            groups[actor.split("_", 1)[0]].add(actor)
    else:
        for actor, dataset in zip(actors, datasets, strict=True):
            groups[dataset].add(actor)
    return {k: sorted(v) for k, v in sorted(groups.items())}


def actor_split(actors: Sequence[str], datasets: Sequence[str] | None = None, *, val_fraction: float = 0.15,
                test_fraction: float = 0.15, seed: int = 0) -> ActorSplit:
    """One seeded train/val/test split of the actors, made per dataset."""
    parts: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    groups = list(_by_dataset(actors, datasets).values())
    if any(len(group) < 3 for group in groups):  # too few to split a corpus on its own: split them together
        groups = [sorted({a for group in groups for a in group})]
    for group in groups:
        for actor, split in assign_actor_splits(group, val_fraction=val_fraction, test_fraction=test_fraction,
                                                seed=seed).items():
            parts[split].add(actor)
    return ActorSplit("split", frozenset(parts["train"]), frozenset(parts["val"]), frozenset(parts["test"]))


def manifest_split(actors: Sequence[str], splits: Sequence[str]) -> ActorSplit:
    """The split written in the manifest's ``split`` column (checked to be actor-disjoint)."""
    parts: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for actor, split in zip(actors, splits, strict=True):
        if split not in parts:
            raise DatasetError(f"manifest split {split!r} for actor {actor} is not train, val or test")
        parts[split].add(actor)
    return ActorSplit("split", frozenset(parts["train"]), frozenset(parts["val"]), frozenset(parts["test"]))


def fold_splits(actors: Sequence[str], datasets: Sequence[str] | None = None, *, k: int, val_fraction: float = 0.15,
                seed: int = 0) -> list[ActorSplit]:
    """K folds: fold i tests on the i-th actor fold of every dataset and validates on a seeded
    ``val_fraction`` of the remaining actors."""
    groups = _by_dataset(actors, datasets)
    for name, group in groups.items():
        if len(group) < k:
            raise DatasetError(f"{k} folds need at least {k} {name} actors, found {len(group)}")
    per_dataset = {name: actor_folds(group, k, seed) for name, group in groups.items()}
    splits = []
    for i in range(k):
        test: set[str] = set()
        train: set[str] = set()
        val: set[str] = set()
        for name, folds in per_dataset.items():
            test |= folds[i]
            rest = [a for a in groups[name] if a not in folds[i]]
            fraction = val_fraction if len(rest) >= 3 else 0.5  # two actors left: one of them validates
            for actor, split in assign_actor_splits(rest, val_fraction=fraction, test_fraction=0.0,
                                                    seed=seed + i).items():
                (val if split == "val" else train).add(actor)
        splits.append(ActorSplit(f"fold_{i + 1}", frozenset(train), frozenset(val), frozenset(test)))
    return splits
