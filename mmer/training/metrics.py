"""Evaluation metrics and probability calibration for the six-class emotion classifier.

Emotion datasets are imbalanced (RAVDESS has twice as many neutral clips as any other class once
calm is merged in), so accuracy alone (WAR) rewards a model that favours the big class; the field
reports UAR (mean per-class recall) next to it, and we select checkpoints on UAR. The service shows
probabilities, so they are calibrated with a single temperature fitted on validation data.

Everything here is plain numpy and returns plain Python types, so results go straight into JSON
reports without conversion.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from mmer.labels import CLASSES

log = logging.getLogger(__name__)

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 1/phi, the golden-section shrink factor


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` as float64 ``(N, C)``.

    The row maximum is subtracted first so that large logits (an overconfident model, or a small
    temperature) cannot overflow ``exp``.
    """
    z = _as_logits(logits)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = z / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    labels: Sequence[str] = CLASSES,
    *,
    abstain: bool = False,
) -> dict:
    """WAR, UAR, macro-F1, per-class precision/recall/F1 and the confusion matrix.

    ``confusion[i][j]`` counts clips of true class ``i`` predicted as ``j``. Conventions, chosen so
    that a test fold missing a class (small actor-independent folds can) gives comparable numbers:

    * WAR (weighted average recall) is plain accuracy.
    * UAR and macro-F1 average only over the classes with support > 0 in ``y_true``; those are listed
      in ``classes_present``. An absent class has no defined recall, and counting it as 0 would
      penalise the fold for a property of the split, not of the model.
    * Precision of a class that is never predicted is 0.0 (zero division → 0), as is the F1 of a
      class whose precision and recall are both 0, and the recall of an absent class.

    With ``abstain``, a prediction of -1 means "no answer" (the voice expert heard no speech): it
    counts as an error in WAR and in its class's recall, falls in no confusion cell, and is counted
    in ``no_answer`` (and per class).

    The result holds only Python ``int``/``float``/``list``/``dict``, so ``json.dumps`` works on it.
    Raises ``ValueError`` for empty input, different lengths, or labels outside ``[0, len(labels))``.
    """
    n_classes = len(labels)
    if n_classes == 0:
        raise ValueError("labels must name at least one class")
    t = _as_labels(y_true, n_classes, "y_true")
    raw = np.asarray(y_pred)
    silent = (raw == -1) if abstain and raw.size else np.zeros(raw.shape, bool)
    p = _as_labels(np.where(silent, 0, raw) if abstain else y_pred, n_classes, "y_pred")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    n = int(t.shape[0])
    if n == 0:
        raise ValueError("cannot compute metrics on an empty set of predictions (n == 0)")

    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (t[~silent], p[~silent]), 1)
    tp = np.diag(confusion).astype(np.float64)
    unanswered = np.bincount(t[silent], minlength=n_classes)
    support = confusion.sum(axis=1) + unanswered
    predicted = confusion.sum(axis=0)

    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2.0 * precision * recall, precision + recall)
    present = support > 0

    per_class = {
        abbr: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            **({"no_answer": int(unanswered[i])} if abstain else {}),
        }
        for i, abbr in enumerate(labels)
    }
    return {
        "n": n,
        **({"no_answer": int(silent.sum())} if abstain else {}),
        "war": float(tp.sum() / n),
        "uar": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "classes_present": [abbr for i, abbr in enumerate(labels) if present[i]],
    }


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int] | np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (Naeini et al. 2015, Guo et al. 2017).

    Confidences (max probability) fall into ``n_bins`` equal-width bins over (0, 1]; the result is
    ``sum_b |B_b|/N * |accuracy(B_b) - mean confidence(B_b)|`` with accuracy of the argmax prediction.
    It tells whether "80 % sure" means right 80 % of the time, which accuracy cannot show.
    Empty input gives 0.0.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    pr = _as_logits(probs, name="probs")
    t = _as_labels(y_true, pr.shape[1], "y_true")
    _check_rows(pr, t)
    n = pr.shape[0]
    if n == 0:
        return 0.0
    confidence = pr.max(axis=1)
    correct = (pr.argmax(axis=1) == t).astype(np.float64)
    # Bin b covers (b/n_bins, (b+1)/n_bins]; confidence 0 (impossible for a distribution) joins bin 0.
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    return float(np.abs(acc_sum - conf_sum).sum() / n)


def negative_log_likelihood(logits: np.ndarray, y_true: Sequence[int] | np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes under ``softmax(logits / temperature)``.

    Computed with log-sum-exp so that confident wrong predictions give a large finite loss
    instead of ``log(0)``. Empty input gives 0.0.
    """
    z = _as_logits(logits)
    t = _as_labels(y_true, z.shape[1], "y_true")
    _check_rows(z, t)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if z.shape[0] == 0:
        return 0.0
    return _nll(z, t, temperature)


def fit_temperature(
    logits: np.ndarray,
    y_true: Sequence[int] | np.ndarray,
    *,
    bounds: tuple[float, float] = (0.05, 20.0),
) -> float:
    """Temperature scaling (Guo et al. 2017): the T > 0 minimising mean NLL of ``softmax(logits / T)``.

    One scalar divides all logits, so the argmax (and therefore every accuracy metric) is unchanged;
    only the confidence is rescaled. Fit it on the validation split only, never on the test data
    it will be judged on. The NLL is convex in 1/T, hence unimodal in log T, so a deterministic
    golden-section search on log T within ``bounds`` (to 1e-4 in log T) finds the minimum; a result
    at a bound means the optimum lies outside it. Empty input returns 1.0 with a warning.
    """
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")
    z = _as_logits(logits)
    t = _as_labels(y_true, z.shape[1], "y_true")
    _check_rows(z, t)
    if z.shape[0] == 0:
        log.warning("fit_temperature: no samples to fit on; using temperature 1.0")
        return 1.0

    def objective(log_temp: float) -> float:
        return _nll(z, t, math.exp(log_temp))

    a, b = math.log(lo), math.log(hi)
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc, fd = objective(c), objective(d)
    while b - a > 1e-4:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = objective(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = objective(d)
    temperature = math.exp((a + b) / 2.0)
    if math.isclose(temperature, lo, rel_tol=1e-3) or math.isclose(temperature, hi, rel_tol=1e-3):
        log.warning("fit_temperature: optimum %.4g is at the search bound %s", temperature, bounds)
    return float(temperature)


def calibration_report(logits: np.ndarray, y_true: Sequence[int] | np.ndarray, temperature: float) -> dict:
    """ECE and NLL before (T = 1) and after dividing the logits by ``temperature``, for the run report.

    Evaluate on data the temperature was not fitted on, or the "after" numbers flatter it.
    """
    z = _as_logits(logits)
    return {
        "temperature": float(temperature),
        "ece_before": expected_calibration_error(softmax(z), y_true),
        "ece_after": expected_calibration_error(softmax(z, temperature), y_true),
        "nll_before": negative_log_likelihood(z, y_true),
        "nll_after": negative_log_likelihood(z, y_true, temperature),
    }


def summarize_folds(results: Sequence[dict], keys: Sequence[str] = ("war", "uar", "macro_f1")) -> dict:
    """Mean and population standard deviation (ddof=0) of each metric across cross-validation folds.

    ``results`` are dicts such as :func:`classification_metrics` returns, one per fold; the raw
    per-fold values are kept so the spread can be inspected. Every fold must carry every key:
    a missing one raises ``KeyError`` naming the fold, rather than silently averaging fewer folds.
    An empty ``results`` raises ``ValueError``.
    """
    if not results:
        raise ValueError("summarize_folds needs at least one fold result")
    summary: dict[str, dict] = {}
    for key in keys:
        values = []
        for i, result in enumerate(results):
            if key not in result:
                raise KeyError(f"fold {i} result has no metric {key!r} (has: {', '.join(map(str, result))})")
            values.append(float(result[key]))
        arr = np.asarray(values, dtype=np.float64)
        summary[key] = {"mean": float(arr.mean()), "std": float(arr.std(ddof=0)), "values": values}
    return summary


def format_metrics_table(metrics: dict, labels: Sequence[str] = CLASSES) -> str:
    """A short plain-text table of a :func:`classification_metrics` result, for logs and the CLI.

    First line: ``WAR 0.812  UAR 0.790  macro-F1 0.785  (n=123)``; then one row per class with
    precision, recall, F1 and support. Classes missing from ``metrics["per_class"]`` are skipped.
    """
    lines = [
        f"WAR {metrics['war']:.3f}  UAR {metrics['uar']:.3f}  macro-F1 {metrics['macro_f1']:.3f}  (n={metrics['n']})",
        f"{'class':<6}{'prec':>8}{'recall':>8}{'F1':>8}{'support':>9}",
    ]
    per_class = metrics.get("per_class", {})
    for abbr in labels:
        row = per_class.get(abbr)
        if row is None:
            continue
        lines.append(
            f"{abbr:<6}{row['precision']:>8.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}{int(row['support']):>9d}"
        )
    return "\n".join(lines)


def _nll(z: np.ndarray, t: np.ndarray, temperature: float) -> float:
    """Mean NLL of validated, non-empty logits; the inner loop of :func:`fit_temperature`."""
    s = z / temperature
    m = s.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(s - m).sum(axis=1)) + m[:, 0]
    return float(np.mean(log_norm - s[np.arange(s.shape[0]), t]))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (the zero-division convention of the metrics)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _as_logits(values: np.ndarray, name: str = "logits") -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, C), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one class column, got shape {arr.shape}")
    return arr


def _as_labels(values: Sequence[int] | np.ndarray, n_classes: int, name: str) -> np.ndarray:
    """Validated 1-D int64 class ids in ``[0, n_classes)``; floats are accepted only if integral."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    integral = arr.dtype.kind in "iub" or (
        arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr))) and bool(np.all(arr == np.round(arr)))
    )
    if not integral:
        raise ValueError(f"{name} must hold integer class ids, got dtype {arr.dtype}")
    ids = arr.astype(np.int64)
    bad = (ids < 0) | (ids >= n_classes)
    if bad.any():
        raise ValueError(f"{name} has class ids outside [0, {n_classes}): {sorted(set(ids[bad].tolist()))[:10]}")
    return ids


def _check_rows(scores: np.ndarray, labels: np.ndarray) -> None:
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(f"got {scores.shape[0]} rows of scores but {labels.shape[0]} labels")
