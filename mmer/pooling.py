"""How the embedded default combines its experts: weighted log-linear pooling.

Each expert gives calibrated probabilities over the six classes from its own modality (the face
expert from the frames, the voice expert from the speech). If the two observations are
independent given the emotion and the classes equally likely a priori, the posterior given both
is proportional to the product of the two posteriors (a "product of experts"). Log-linear
pooling is that product with a weight per expert:

    log p(c | face, voice) = w_face · log p_face(c) + w_voice · log p_voice(c) + const

A weight of 1 trusts an expert's calibration as measured; a weight below 1 flattens an expert
that is less reliable on the data at hand than its calibration claims. An expert that has nothing
to say for a segment (no face, no speech) is left out of the sum: it contributes nothing, rather
than a uniform guess. The expert that "dominated" is the one that pulled the pooled answer
hardest towards its top class (largest weighted log-odds of that class against the expert's
average class).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

EXPERTS = ("face", "voice")
_FLOOR = 1e-6  # keeps log() finite when an expert rules a class out entirely


@dataclass(frozen=True)
class Pooled:
    probs: np.ndarray | None
    used: tuple[str, ...]
    dominant: str | None
    agree: bool | None  # whether every expert used has the pooled answer as its own top class


def pool(opinions: Mapping[str, np.ndarray | None], weights: Mapping[str, float]) -> Pooled:
    """Pool the experts that have an opinion; None when none has."""
    present = {name: np.asarray(p, np.float64) for name, p in opinions.items() if p is not None}
    if not present:
        return Pooled(None, (), None, None)
    logp = {name: np.log(np.clip(p / p.sum(), _FLOOR, 1.0)) for name, p in present.items()}
    total = sum(float(weights.get(name, 1.0)) * lp for name, lp in logp.items())
    total = total - total.max()
    probs = np.exp(total)
    probs /= probs.sum()
    top = int(np.argmax(probs))
    pull = {name: float(weights.get(name, 1.0)) * (lp[top] - lp.mean()) for name, lp in logp.items()}
    dominant = max(pull, key=pull.get) if len(present) > 1 else next(iter(present))
    agree = all(int(np.argmax(p)) == top for p in present.values()) if len(present) > 1 else None
    return Pooled(probs, tuple(name for name in EXPERTS if name in present), dominant, agree)


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` over the last axis: temperature scaling for an expert that gives
    probabilities rather than logits (the face CNN's are softmax outputs). T > 1 softens an
    overconfident expert; T is fitted on held-out data (``mmer benchmark face`` fits the face's)."""
    logp = np.log(np.clip(np.asarray(probs, np.float64), _FLOOR, 1.0)) / float(temperature)
    logp -= logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)
