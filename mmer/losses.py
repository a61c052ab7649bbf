"""Training losses: focal loss, and the weighted cross-entropy it is compared against.

Emotion corpora are imbalanced (RAVDESS has twice the neutral clips once calm is mapped to
neutral; CREMA-D has fewer neutral ones) and many clips are easy. Focal loss (Lin et al., 2017)
scales each clip's cross-entropy by ``(1 - p_true) ** gamma`` so easy, confidently right clips
stop dominating the gradient; ``alpha`` adds a per-class weight.

Normalisation follows ``torch.nn.functional.cross_entropy``: with per-class weights the mean is
taken over the weights of the batch's labels, so ``gamma = 0`` gives exactly weighted cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOSSES = ("focal", "ce")


class FocalLoss(nn.Module):
    def __init__(self, gamma: float = 2.0, alpha: Tensor | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer("alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        log_p = F.log_softmax(logits.float(), dim=-1).gather(1, target[:, None]).squeeze(1)
        loss = -log_p
        if self.gamma:
            loss = (1 - log_p.exp()).clamp_min(0).pow(self.gamma) * loss
        if self.alpha is None:
            return loss.mean()
        weight = self.alpha[target]
        return (weight * loss).sum() / weight.sum()


def make_loss(name: str, *, gamma: float = 2.0, class_weights: Tensor | None = None) -> nn.Module:
    """``"focal"`` (gamma, alpha = class weights) or ``"ce"`` (weighted cross-entropy)."""
    if name == "focal":
        return FocalLoss(gamma, class_weights)
    if name == "ce":
        return nn.CrossEntropyLoss(weight=class_weights)
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")


def class_weights(labels: Tensor, num_classes: int) -> Tensor:
    """"Balanced" inverse-frequency weights from the training labels: ``n / (classes present × count)``,
    so the average weight per training clip is 1 and the loss keeps its usual scale.

    A class absent from training gets weight 0 (nothing to weight) instead of infinity.
    """
    counts = torch.bincount(labels.long(), minlength=num_classes).float()
    weights = torch.where(counts > 0, counts.sum() / (counts.clamp_min(1) * (counts > 0).sum()), torch.zeros(()))
    return weights
