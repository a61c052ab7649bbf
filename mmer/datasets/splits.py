"""Actor-independent splits: no actor's clips appear on both sides of an evaluation.

A model evaluated on actors it was trained on scores the actors' voices and faces, not their
emotions. Actors are ranked by a hash of ``(seed, actor)`` rather than shuffled: the result does
not depend on input order or on Python's random module, and adding an actor keeps the others'
relative order, so an existing split changes little when a dataset grows.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

from mmer.errors import InvalidValue


def _ranked(actors: Iterable[str], seed: int) -> list[str]:
    def key(actor: str) -> tuple[str, str]:
        return hashlib.sha256(f"{seed}\0{actor}".encode()).hexdigest(), actor

    return sorted(set(actors), key=key)


def _count(n: int, fraction: float) -> int:
    count = math.floor(n * fraction + 0.5)
    # Once there are enough actors for three splits, a split that was asked for is never empty.
    return max(count, 1) if n >= 3 and fraction > 0 else count


def assign_actor_splits(actors: Iterable[str], *, val_fraction: float = 0.15, test_fraction: float = 0.15,
                        seed: int = 0) -> dict[str, str]:
    """Map each distinct actor to ``"train"``, ``"val"`` or ``"test"``.

    Split sizes are the fractions of the number of actors, rounded; with at least three actors
    every split with a positive fraction gets at least one, and train always keeps at least one.
    With fewer than three actors, rounding decides (so one or two actors all go to train).
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise InvalidValue(f"{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1:
        raise InvalidValue(f"val_fraction + test_fraction must be below 1, got {val_fraction + test_fraction}")
    ranked = _ranked(actors, seed)
    n = len(ranked)
    n_test, n_val = _count(n, test_fraction), _count(n, val_fraction)
    while n and n_test + n_val > n - 1:  # keep at least one training actor
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    split = {a: "test" for a in ranked[:n_test]}
    split.update({a: "val" for a in ranked[n_test:n_test + n_val]})
    split.update({a: "train" for a in ranked[n_test + n_val:]})
    return split


def actor_folds(actors: Iterable[str], k: int, seed: int = 0) -> list[set[str]]:
    """``k`` disjoint folds of actors covering all of them, sizes differing by at most one."""
    ranked = _ranked(actors, seed)
    if not 2 <= k <= len(ranked):
        raise InvalidValue(f"k must be between 2 and the number of actors ({len(ranked)}), got {k}")
    return [set(ranked[i::k]) for i in range(k)]
