"""Actor-independent splits and folds."""

from __future__ import annotations

import random

import pytest

from mmer.datasets import actor_folds, assign_actor_splits

RAVDESS_ACTORS = [f"ravdess_{a:02d}" for a in range(1, 25)]


def by_split(assignment: dict[str, str]) -> dict[str, set[str]]:
    return {s: {a for a, t in assignment.items() if t == s} for s in ("train", "val", "test")}


def test_every_actor_gets_exactly_one_split() -> None:
    assignment = assign_actor_splits(RAVDESS_ACTORS)
    assert sorted(assignment) == sorted(RAVDESS_ACTORS)
    assert set(assignment.values()) == {"train", "val", "test"}


def test_same_inputs_and_seed_give_the_same_split_in_any_order() -> None:
    shuffled = RAVDESS_ACTORS[:]
    random.Random(7).shuffle(shuffled)
    reference = assign_actor_splits(RAVDESS_ACTORS, seed=3)
    assert assign_actor_splits(shuffled, seed=3) == reference
    assert assign_actor_splits(reversed(RAVDESS_ACTORS), seed=3) == reference
    assert assign_actor_splits(RAVDESS_ACTORS * 60, seed=3) == reference  # one entry per clip is fine


def test_the_seed_changes_the_split() -> None:
    splits = {tuple(sorted(by_split(assign_actor_splits(RAVDESS_ACTORS, seed=s))["test"])) for s in range(5)}
    assert len(splits) == 5


def test_fractions_are_respected_with_24_actors() -> None:
    for seed in range(10):
        groups = by_split(assign_actor_splits(RAVDESS_ACTORS, val_fraction=0.15, test_fraction=0.15, seed=seed))
        assert abs(len(groups["val"]) - 0.15 * 24) <= 1 and abs(len(groups["test"]) - 0.15 * 24) <= 1
        assert len(groups["train"]) == 24 - len(groups["val"]) - len(groups["test"])
    groups = by_split(assign_actor_splits(RAVDESS_ACTORS, val_fraction=0.25, test_fraction=0.5))
    assert [len(groups[s]) for s in ("train", "val", "test")] == [6, 6, 12]


@pytest.mark.parametrize("n", [3, 4, 5, 7, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_three_or_more_actors_fill_every_split(n: int, seed: int) -> None:
    groups = by_split(assign_actor_splits([f"a{i}" for i in range(n)], seed=seed))
    assert all(groups[s] for s in ("train", "val", "test"))


def test_large_fractions_still_leave_a_training_actor() -> None:
    groups = by_split(assign_actor_splits(["a", "b", "c"], val_fraction=0.5, test_fraction=0.45))
    assert [len(groups[s]) for s in ("train", "val", "test")] == [1, 1, 1]


@pytest.mark.parametrize(("actors", "expected"), [([], {}), (["x"], {"x": "train"}),
                                                  (["x", "y"], {"x": "train", "y": "train"})])
def test_too_few_actors_all_train(actors: list[str], expected: dict[str, str]) -> None:
    assert assign_actor_splits(actors) == expected


def test_a_zero_fraction_leaves_that_split_empty() -> None:
    groups = by_split(assign_actor_splits(RAVDESS_ACTORS, val_fraction=0.0, test_fraction=0.2))
    assert not groups["val"] and len(groups["test"]) == 5 and len(groups["train"]) == 19


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.1, 1.0), (0.5, 0.5), (0.7, 0.4)])
def test_impossible_fractions_are_refused(val: float, test: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        assign_actor_splits(RAVDESS_ACTORS, val_fraction=val, test_fraction=test)


@pytest.mark.parametrize("k", [2, 5, 10, 24])
def test_folds_are_disjoint_and_cover_every_actor(k: int) -> None:
    folds = actor_folds(RAVDESS_ACTORS, k, seed=1)
    assert len(folds) == k
    assert sum(len(f) for f in folds) == 24 and set().union(*folds) == set(RAVDESS_ACTORS)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def test_folds_are_deterministic_and_order_independent() -> None:
    folds = actor_folds(RAVDESS_ACTORS, 5, seed=4)
    assert actor_folds(RAVDESS_ACTORS[::-1] + RAVDESS_ACTORS, 5, seed=4) == folds
    assert actor_folds(RAVDESS_ACTORS, 5, seed=5) != folds


@pytest.mark.parametrize("k", [0, 1, 25])
def test_impossible_fold_counts_are_refused(k: int) -> None:
    with pytest.raises(ValueError, match="k must be between 2 and the number of actors"):
        actor_folds(RAVDESS_ACTORS, k)
