"""Training losses: focal loss against cross-entropy, make_loss, and the class weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmer.losses import FocalLoss, class_weights, make_loss


def _batch(n: int = 32, classes: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    return 3 * torch.randn(n, classes), torch.randint(0, classes, (n,))


# --- focal loss against cross-entropy ----------------------------------------------------------------


def test_gamma_zero_is_cross_entropy() -> None:
    logits, target = _batch()
    torch.testing.assert_close(FocalLoss(gamma=0)(logits, target), F.cross_entropy(logits, target))


def test_gamma_zero_with_alpha_is_weighted_cross_entropy() -> None:
    # The documented normalisation: sum(w * loss) / sum(w), as cross_entropy does with weights.
    logits, target = _batch()
    alpha = torch.tensor([0.5, 2.0, 1.0, 0.25, 3.0, 1.5])
    focal = FocalLoss(gamma=0, alpha=alpha)(logits, target)
    torch.testing.assert_close(focal, F.cross_entropy(logits, target, weight=alpha))
    assert not torch.allclose(focal, F.cross_entropy(logits, target))  # the weights did matter


def test_focal_with_alpha_matches_hand_computation() -> None:
    logits, target = _batch(n=8)
    alpha = torch.tensor([0.5, 2.0, 1.0, 0.25, 3.0, 1.5])
    p = torch.softmax(logits, -1)[torch.arange(8), target]
    per_sample = -((1 - p) ** 2) * torch.log(p)
    expected = (alpha[target] * per_sample).sum() / alpha[target].sum()
    torch.testing.assert_close(FocalLoss(gamma=2, alpha=alpha)(logits, target), expected)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 5.0])
def test_focal_never_exceeds_cross_entropy(gamma: float) -> None:
    logits, target = _batch()
    focal = FocalLoss(gamma=gamma)
    for k in range(len(target)):  # batches of one give the per-sample losses
        fl, ce = focal(logits[k:k + 1], target[k:k + 1]), F.cross_entropy(logits[k:k + 1], target[k:k + 1])
        assert 0 <= fl <= ce
        assert fl < ce or ce == 0


def test_focal_down_weights_easy_examples() -> None:
    # Two classes: logit gaps log(99) and log(1/9) give p_true = 0.99 (easy) and 0.1 (hard).
    easy, hard = torch.tensor([[math.log(99.0), 0.0]]), torch.tensor([[math.log(1 / 9), 0.0]])
    target = torch.tensor([0])
    focal = FocalLoss(gamma=2)
    ce_ratio = F.cross_entropy(easy, target) / F.cross_entropy(hard, target)
    focal_ratio = focal(easy, target) / focal(hard, target)
    # (1 - 0.99)^2 / (1 - 0.1)^2 = 1e-4 / 0.81: the easy clip counts ~8000x less than under CE.
    torch.testing.assert_close(focal_ratio / ce_ratio, torch.tensor(1e-4 / 0.81), rtol=1e-3, atol=0)
    assert focal_ratio < ce_ratio / 1000


def test_focal_hand_computed_two_class_value() -> None:
    p = 1 / (1 + math.exp(-2.0))  # softmax([2, 0])[0] = sigmoid(2)
    expected = -((1 - p) ** 2) * math.log(p)
    loss = FocalLoss(gamma=2)(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)  # float32: 1 - p loses a few digits


def test_focal_accepts_half_precision_logits() -> None:
    logits, target = _batch(n=4)
    loss = FocalLoss(gamma=2)(logits.to(torch.bfloat16), target)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, FocalLoss(gamma=2)(logits.to(torch.bfloat16).float(), target))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
def test_gradient_is_finite_for_extreme_logits(gamma: float) -> None:
    logits = torch.tensor([[50.0, -50.0, -50.0], [-50.0, 50.0, -50.0], [20.0, 0.0, 0.0], [-50.0, -50.0, 50.0]],
                          requires_grad=True)
    target = torch.tensor([0, 0, 0, 1])  # confidently right, confidently wrong, right, wrong
    alpha = torch.tensor([1.0, 2.0, 0.5])
    for loss_fn in (FocalLoss(gamma), FocalLoss(gamma, alpha)):
        logits.grad = None
        loss = loss_fn(logits, target)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(logits.grad).all()
        # The confidently wrong samples still push their true class up.
        assert logits.grad[1, 0] < 0 and logits.grad[3, 1] < 0


def test_alpha_is_a_buffer_that_moves_with_the_module() -> None:
    loss = FocalLoss(alpha=torch.tensor([1.0, 2.0]))
    assert "alpha" in loss.state_dict()
    assert loss.to(torch.float64).alpha.dtype == torch.float64


# --- make_loss ---------------------------------------------------------------------------------------


def test_make_loss_builds_focal_loss() -> None:
    weights = torch.tensor([1.0, 2.0, 1.0, 1.0, 0.5, 1.0])
    loss = make_loss("focal", gamma=1.5, class_weights=weights)
    assert isinstance(loss, FocalLoss)
    assert loss.gamma == 1.5
    assert torch.equal(loss.alpha, weights)
    assert make_loss("focal").alpha is None


def test_make_loss_builds_weighted_cross_entropy() -> None:
    weights = torch.tensor([1.0, 2.0, 1.0, 1.0, 0.5, 1.0])
    loss = make_loss("ce", class_weights=weights)
    assert isinstance(loss, nn.CrossEntropyLoss)
    logits, target = _batch()
    torch.testing.assert_close(loss(logits, target), F.cross_entropy(logits, target, weight=weights))


def test_make_loss_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="focal, ce"):
        make_loss("mse")


def test_negative_gamma_is_an_error() -> None:
    with pytest.raises(ValueError, match="gamma"):
        make_loss("focal", gamma=-0.5)
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1)


# --- class weights -----------------------------------------------------------------------------------


def test_class_weights_are_inverse_frequency() -> None:
    # counts [2, 1, 0, 1]: class 0 is twice as common as 1 and 3, so half their weight; class 2 absent.
    weights = class_weights(torch.tensor([0, 0, 1, 3]), 4)
    assert weights.shape == (4,)
    assert torch.isfinite(weights).all()
    assert weights[2] == 0
    torch.testing.assert_close(weights[0] / weights[1], torch.tensor(0.5))
    torch.testing.assert_close(weights[1], weights[3])
    # As computed: N / (present classes * count), so the average weight per training sample is 1.
    torch.testing.assert_close(weights, torch.tensor([4 / 6, 4 / 3, 0.0, 4 / 3]))
    torch.testing.assert_close(weights[torch.tensor([0, 0, 1, 3])].mean(), torch.tensor(1.0))


def test_balanced_class_weights_are_all_one() -> None:
    torch.testing.assert_close(class_weights(torch.arange(6).repeat(3), 6), torch.ones(6))


@pytest.mark.parametrize("labels", [[2, 2, 2], []], ids=["one-class", "empty"])
def test_class_weights_degenerate_cases_are_finite(labels: list[int]) -> None:
    weights = class_weights(torch.tensor(labels, dtype=torch.long), 6)
    assert torch.isfinite(weights).all()
    expected = torch.zeros(6)
    if labels:
        expected[2] = 1.0
    torch.testing.assert_close(weights, expected)
