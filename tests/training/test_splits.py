"""Actor-independent splits and folds, checked on real manifests written from `mmer sample-data` clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmer.datasets import DatasetError, build_manifest, read_manifest
from mmer.synthetic import make_sample_data
from mmer.training.splits import actor_split, fold_splits, manifest_split


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list:
    """RAVDESS (6 actors) and CREMA-D (5 actors) manifests from synthetic clips with the datasets' names."""
    root = tmp_path_factory.mktemp("split_data")
    out = []
    for dataset, actors in (("ravdess", 6), ("cremad", 5)):
        make_sample_data(root / dataset, dataset, clips_per_class=1, actors=actors, seconds=0.3, fps=5,
                         size=(64, 48))
        build_manifest(dataset, root / dataset, root / f"{dataset}.csv")
        out += read_manifest(root / f"{dataset}.csv")
    return out


def _actors(records) -> tuple[list[str], list[str]]:
    return [r.actor for r in records], [r.dataset for r in records]


def test_actor_split_is_disjoint_complete_and_covers_both_datasets(records) -> None:
    actors, datasets = _actors(records)
    split = actor_split(actors, datasets, seed=0)
    assert not (split.train & split.val or split.train & split.test or split.val & split.test)
    assert split.train | split.val | split.test == set(actors)
    for part in (split.train, split.val, split.test):
        assert {a.split("_")[0] for a in part} == {"ravdess", "cremad"}
    clips_by_split = {name: {r.clip_id for r in records if r.actor in part}
                      for name, part in split.as_dict().items()}
    assert sum(len(c) for c in clips_by_split.values()) == len(records)  # every clip in exactly one split


def test_actor_split_repeats_for_a_seed_and_changes_with_it(records) -> None:
    actors, datasets = _actors(records)
    assert actor_split(actors, datasets, seed=4) == actor_split(list(reversed(actors)), list(reversed(datasets)),
                                                                seed=4)
    assert any(actor_split(actors, datasets, seed=s) != actor_split(actors, datasets, seed=4) for s in range(3))


def test_folds_test_each_actor_once_with_validation_outside_the_test_fold(records) -> None:
    actors, datasets = _actors(records)
    folds = fold_splits(actors, datasets, k=3, seed=1)
    tested = [a for fold in folds for a in fold.test]
    assert sorted(tested) == sorted(set(actors))
    for fold in folds:
        assert not (fold.train & fold.val or fold.train & fold.test or fold.val & fold.test)
        assert fold.train | fold.val | fold.test == set(actors)
        assert {a.split("_")[0] for a in fold.test} == {"ravdess", "cremad"}


def test_too_few_actors_for_the_folds_is_a_clear_error(records) -> None:
    actors, datasets = _actors(records)
    with pytest.raises(DatasetError, match="6 folds need at least 6 cremad actors"):
        fold_splits(actors, datasets, k=6)


def test_manifest_split_follows_the_column_and_refuses_shared_actors(records) -> None:
    ravdess = [r for r in records if r.dataset == "ravdess"]
    split = manifest_split([r.actor for r in ravdess], [r.split for r in ravdess])
    assert split.test == {r.actor for r in ravdess if r.split == "test"}
    with pytest.raises(DatasetError, match="more than one"):
        manifest_split(["ravdess_01", "ravdess_01", "ravdess_02"], ["train", "test", "val"])


def test_a_split_without_validation_actors_is_refused() -> None:
    with pytest.raises(DatasetError, match="validation"):
        actor_split(["ravdess_01", "ravdess_02"], val_fraction=0.15, test_fraction=0.15)


def test_sample_data_paths_exist(records) -> None:
    assert all(Path(r.resolved_path).is_file() for r in records)
