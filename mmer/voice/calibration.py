"""The voice expert's confidence: a temperature that grows with how unfamiliar the voice is.

One temperature for every input cannot be right both at home and abroad. Fitted on RAVDESS's
unseen actors the voice is sure of itself (T ≈ 1.2) and is then confidently wrong on other
languages and rooms; fitted on TurEV-DB it is flat everywhere (T ≈ 10.7), and an answer that is
right two times in three on RAVDESS-like speech is outvoted by a weaker face (measured by
``benchmarks/fusion_av.py``). What differs between the two is measurable per window: how far the
encoder's statistics of the speech lie outside the directions in which the training voices varied
(:meth:`mmer.voice.model.EncoderHead.unfamiliarity`, the log mean squared residual off the training
set's principal subspace). So the temperature is

    T(d) = T₀ · exp(slope · (d − d₀)),   slope ≥ 0,

with ``d₀`` the median unfamiliarity of the training examples (``T₀`` is the temperature of a
typical training-like voice). ``T₀`` and ``slope`` are fitted together by NLL on two development
sets the card's final figures never use, weighted equally: RAVDESS actors read by cross-validation
models that never heard them (not the shipped model's validation actors), and the TurEV-DB
calibration speakers read by the shipped model. A slope of 0 is the classic single temperature.
The argmax never changes: only how sure the answer says it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

#: Fitted temperatures stay within these (as :func:`mmer.training.metrics.fit_temperature`'s bounds).
BOUNDS = (0.05, 50.0)


@dataclass(frozen=True)
class Calibration:
    """``T(d) = temperature · exp(slope · (d − reference))`` per window (see the module docstring)."""

    temperature: float = 1.0
    slope: float = 0.0
    reference: float = 0.0

    def temperatures(self, unfamiliarity: np.ndarray | None, n: int) -> np.ndarray:
        """(n,) the temperature of each window; the base temperature where no unfamiliarity is known."""
        if unfamiliarity is None or self.slope == 0.0:
            return np.full(n, self.temperature)
        d = np.asarray(unfamiliarity, np.float64).reshape(n)
        return np.clip(self.temperature * np.exp(self.slope * (d - self.reference)), *BOUNDS)

    def to_dict(self) -> dict:
        return {"rule": "T = temperature * exp(slope * (unfamiliarity - reference))",
                "temperature": self.temperature, "slope": self.slope, "reference": self.reference}

    @classmethod
    def from_config(cls, config: dict) -> Calibration:
        """The calibration a voice model's ``config.json`` holds (older models: one temperature)."""
        c = config.get("calibration") or {}
        return cls(float(c.get("temperature", config.get("temperature", 1.0))), float(c.get("slope", 0.0)),
                   float(c.get("reference", 0.0)))


def _nll(logits: torch.Tensor, labels: torch.Tensor, temps: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits / temps[:, None], labels)


def fit_calibration(groups: Sequence[tuple[np.ndarray, np.ndarray | None, np.ndarray]], reference: float,
                    *, with_slope: bool = True) -> Calibration:
    """``T₀`` and ``slope`` minimising the mean over ``groups`` of each group's mean NLL (so a larger
    development set does not outweigh a smaller one). Each group is (logits (N, 6), unfamiliarity
    (N,) or None, labels (N,)). Without ``with_slope`` (or without unfamiliarity) only ``T₀`` is fitted."""
    groups = [g for g in groups if len(g[2])]
    if not groups:
        log.warning("fit_calibration: nothing to fit on; temperature 1.0")
        return Calibration(1.0, 0.0, reference)
    with_slope = with_slope and all(g[1] is not None for g in groups)
    data = [(torch.as_tensor(np.asarray(z), dtype=torch.float64),
             torch.as_tensor(np.asarray(d if d is not None else np.zeros(len(y))), dtype=torch.float64) - reference,
             torch.as_tensor(np.asarray(y), dtype=torch.int64)) for z, d, y in groups]
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    raw_slope = torch.full((1,), -3.0, dtype=torch.float64, requires_grad=with_slope)  # slope = softplus(raw) ≥ 0
    params = [log_t, raw_slope] if with_slope else [log_t]
    optimiser = torch.optim.LBFGS(params, lr=0.5, max_iter=200, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def slope() -> torch.Tensor:
        return torch.nn.functional.softplus(raw_slope) if with_slope else torch.zeros(1, dtype=torch.float64)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = sum(_nll(z, y, torch.exp(log_t + slope() * d).clamp(*BOUNDS)) for z, d, y in data) / len(data)
        loss.backward()
        return loss

    optimiser.step(closure)
    with torch.no_grad():
        return Calibration(float(torch.exp(log_t).clamp(*BOUNDS)), float(slope()), float(reference))
