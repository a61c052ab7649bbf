"""The face-expression recipe: targets from FER+'s votes, the network, learning, and a stopped run
that goes on to the same result as one that never stopped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mmer.datasets.fer2013 import Fer2013Split, load_fer2013, load_ferplus_votes
from mmer.errors import InvalidValue
from mmer.face_expert.model import ExpressionNet, ExpressionNetConfig
from mmer.face_expert.train import FaceRecipe, face_set, majority_accuracy, predict, train_expression_net
from mmer.faces.augment import NONE

SMALL = ExpressionNetConfig(widths=(8, 16), blocks_per_stage=1, dropout=0.0)


def _split(images: np.ndarray) -> Fer2013Split:
    return Fer2013Split("Training", images, np.zeros(len(images), np.int64), tuple(f"f{i}" for i in range(len(images))),
                        Path("."))


def _two_kinds(n: int, seed: int) -> tuple[Fer2013Split, np.ndarray]:
    """Faces bright above (all ten votes 'happiness') or bright below (all 'sadness'), with noise."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    for i, k in enumerate(kind):
        images[i, :24] += 150 if k == 0 else 0
        images[i, 24:] += 150 if k == 1 else 0
    votes = np.zeros((n, 10), np.int64)
    votes[np.arange(n), np.where(kind == 0, 1, 3)] = 10
    return _split(images), votes


def test_targets_from_the_votes() -> None:
    votes = np.array([[6, 4, 0, 0, 0, 0, 0, 0, 0, 0],   # 6/4 neutral / happy
                      [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],   # a tie: no majority
                      [0, 0, 0, 0, 0, 0, 0, 0, 4, 6]])  # nobody named an emotion
    data = _split(np.zeros((3, 48, 48), np.uint8))
    soft = face_set(data, votes, "soft")
    assert len(soft) == 2 and np.allclose(soft.targets[0], [0.6, 0.4, 0, 0, 0, 0, 0, 0])
    assert soft.majority.tolist() == [0, -1]
    hard = face_set(data, votes, "majority")
    assert len(hard) == 1 and hard.targets[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    with pytest.raises(InvalidValue, match="target must be one of soft, majority"):
        face_set(data, votes, "vote")


def test_the_network_reads_grey_faces_into_eight_emotions() -> None:
    net = ExpressionNet()
    assert net(torch.rand(2, 1, 48, 48)).shape == (2, 8)
    assert 0.5e6 < sum(p.numel() for p in net.parameters()) < 3e6  # small enough to serve on a CPU
    assert ExpressionNetConfig.from_dict(net.config.to_dict()) == net.config


def test_the_recipe_learns_and_a_stopped_run_goes_on_to_the_same_weights(tmp_path: Path) -> None:
    train_data, train_votes = _two_kinds(256, 0)
    val_data, val_votes = _two_kinds(64, 1)
    train, val = face_set(train_data, train_votes), face_set(val_data, val_votes)
    recipe = FaceRecipe(epochs=3, batch_size=32, learning_rate=3e-3, augment=NONE, net=SMALL)
    model, report = train_expression_net(train, val, recipe)
    assert report["val_accuracy"] > 0.9 and len(report["history"]) == 3
    assert majority_accuracy(predict(model, val.images), val.majority) == pytest.approx(report["val_accuracy"])

    state = tmp_path / "state.pt"

    def stop_after_the_first_epoch(row: dict) -> None:
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_expression_net(train, val, recipe, state_path=state, progress=stop_after_the_first_epoch)
    assert state.exists() and not list(tmp_path.glob("*.tmp*"))
    epochs: list[int] = []
    resumed, report2 = train_expression_net(train, val, recipe, state_path=state,
                                            progress=lambda row: epochs.append(row["epoch"]))
    assert epochs == [2, 3] and [r["epoch"] for r in report2["history"]] == [1, 2, 3]
    for key, value in model.state_dict().items():
        assert torch.allclose(value.float(), resumed.state_dict()[key].float(), atol=1e-5), key
    with pytest.raises(InvalidValue, match="another recipe"):
        train_expression_net(train, val, replace(recipe, learning_rate=1e-3), state_path=state)


def test_publictest_targets_from_the_real_votes(shared_data: Path) -> None:
    data = load_fer2013(shared_data, "PublicTest")
    soft = face_set(data, load_ferplus_votes(data), "soft")
    hard = face_set(data, load_ferplus_votes(data), "majority")
    assert len(data) - 10 < len(soft) <= len(data) and 0.9 * len(data) < len(hard) < len(soft)
    assert np.allclose(soft.targets.sum(axis=1), 1.0) and (hard.majority >= 0).all()
