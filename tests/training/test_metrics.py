from __future__ import annotations

import json

import numpy as np
import pytest

from mmer.labels import CLASSES
from mmer.training.metrics import (
    calibration_report,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    format_metrics_table,
    negative_log_likelihood,
    softmax,
    summarize_folds,
)

# Six classes, FEA (4) absent from y_true but predicted once.
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 3, 5, 5]
Y_PRED = [0, 0, 1, 1, 1, 2, 0, 3, 4, 5]


def _overconfident(n: int = 20_000, n_classes: int = 6, scale: float = 3.0, seed: int = 0):
    """Labels drawn from softmax(z), but the model reports scale * z: calibrated at T = scale."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, n_classes))
    p = softmax(z)
    u = rng.random((n, 1))
    y = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), n_classes - 1)
    return scale * z, y


def test_softmax_is_stable_and_normalised() -> None:
    logits = np.array([[1000.0, 1000.0, 0.0], [-1000.0, 0.0, 1.0]])
    p = softmax(logits)
    assert p.dtype == np.float64
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(softmax(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]])
    np.testing.assert_allclose(softmax(np.array([[0.0, 2.0 * np.log(3.0)]]), temperature=2.0), [[0.25, 0.75]])
    with pytest.raises(ValueError):
        softmax(logits, temperature=0.0)


def test_hand_computed_metrics_with_an_absent_class() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED)

    assert m["n"] == 10
    assert m["confusion"] == [
        [2, 1, 0, 0, 0, 0],
        [0, 2, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 1],
    ]
    assert m["classes_present"] == ["NEU", "HAP", "SAD", "ANG", "DIS"]
    assert m["war"] == pytest.approx(0.7)
    # Recalls 2/3, 1, 1/2, 1, 1/2 over the five present classes; FEA is left out of the mean.
    assert m["uar"] == pytest.approx((2 / 3 + 1 + 0.5 + 1 + 0.5) / 5)
    # F1s 2/3, 0.8, 2/3, 1, 2/3 over the same five classes (FEA's F1 of 0 is not averaged in).
    assert m["macro_f1"] == pytest.approx(3.8 / 5)

    pc = m["per_class"]
    assert list(pc) == list(CLASSES)
    assert pc["NEU"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert pc["HAP"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert pc["SAD"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert pc["FEA"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert pc["DIS"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})


def test_never_predicted_class_has_zero_precision_without_warnings() -> None:
    with np.errstate(all="raise"):
        m = classification_metrics([0, 1, 2], [0, 0, 2], labels=("A", "B", "C"))
    assert m["per_class"]["B"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["uar"] == pytest.approx(2 / 3)


def test_perfect_predictions_score_one() -> None:
    y = np.repeat(np.arange(6), 4)
    m = classification_metrics(y, y)
    assert m["war"] == m["uar"] == m["macro_f1"] == 1.0
    assert all(row["precision"] == row["recall"] == row["f1"] == 1.0 for row in m["per_class"].values())
    assert np.array_equal(np.array(m["confusion"]), 4 * np.eye(6, dtype=int))


def test_result_is_plain_json() -> None:
    m = classification_metrics(np.array(Y_TRUE, dtype=np.int32), np.array(Y_PRED, dtype=np.int64))
    assert json.loads(json.dumps(m)) == m
    assert type(m["n"]) is int and type(m["war"]) is float
    assert type(m["confusion"][0][0]) is int
    assert type(m["per_class"]["NEU"]["support"]) is int


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([], [], "empty"),
        ([0, 1], [0], "length"),
        ([0, 6], [0, 1], "outside"),
        ([0, -1], [0, 1], "outside"),
        ([0, 1], [0, 7], "outside"),
        ([0.5, 1], [0, 1], "integer"),
    ],
)
def test_invalid_input_raises(y_true: list, y_pred: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        classification_metrics(y_true, y_pred)


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, [0, 0, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(np.eye(3), [0, 1, 2]) == pytest.approx(0.0, abs=1e-12)


def test_ece_hand_computed() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    y = [0, 1, 0, 1]
    # Bin (0.867, 0.933]: acc 0.5 vs conf 0.9, weight 1/2; bin (0.533, 0.6]: acc 1 vs conf 0.6, weight 1/2.
    assert expected_calibration_error(probs, y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    # One bin: overall accuracy 0.75 equals mean confidence 0.75, so the errors cancel.
    assert expected_calibration_error(probs, y, n_bins=1) == pytest.approx(0.0, abs=1e-12)


def test_nll_hand_computed() -> None:
    logits = np.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    assert negative_log_likelihood(logits, [1, 0]) == pytest.approx(-(np.log(0.75) + np.log(0.25)) / 2)
    assert negative_log_likelihood(np.array([[0.0, 1000.0]]), [0]) == pytest.approx(1000.0)


def test_fit_temperature_recovers_overconfidence() -> None:
    logits, y = _overconfident()
    t = fit_temperature(logits, y)
    assert t == pytest.approx(3.0, rel=0.05)
    nll = negative_log_likelihood(logits, y, t)
    assert nll <= negative_log_likelihood(logits, y, t * 1.05)
    assert nll <= negative_log_likelihood(logits, y, t / 1.05)
    assert np.array_equal(softmax(logits, t).argmax(axis=1), logits.argmax(axis=1))
    assert fit_temperature(logits, y) == t  # deterministic


def test_fit_temperature_empty_returns_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        assert fit_temperature(np.empty((0, 6)), []) == 1.0
    assert "no samples" in caplog.text


def test_calibration_report_improves_overconfident_model() -> None:
    logits, y = _overconfident(seed=1)
    t = fit_temperature(logits, y)
    report = calibration_report(logits, y, t)
    assert set(report) == {"temperature", "ece_before", "ece_after", "nll_before", "nll_after"}
    assert report["temperature"] == t
    assert report["ece_after"] < report["ece_before"]
    assert report["ece_after"] < 0.02
    assert report["nll_after"] < report["nll_before"]
    assert json.loads(json.dumps(report)) == report


def test_summarize_folds() -> None:
    folds = [{"war": 0.5, "uar": 0.4, "macro_f1": 0.3}, {"war": 0.7, "uar": 0.8, "macro_f1": 0.3}]
    s = summarize_folds(folds)
    assert s["war"]["mean"] == pytest.approx(0.6)
    assert s["war"]["std"] == pytest.approx(0.1)  # population std: sqrt(((0.1)^2 + (0.1)^2) / 2)
    assert s["war"]["values"] == [0.5, 0.7]
    assert s["uar"]["mean"] == pytest.approx(0.6)
    assert s["uar"]["std"] == pytest.approx(0.2)
    assert s["macro_f1"]["std"] == 0.0
    assert summarize_folds(folds, keys=("war",)).keys() == {"war"}
    with pytest.raises(KeyError, match="fold 1"):
        summarize_folds([{"war": 0.5, "uar": 0.4, "macro_f1": 0.3}, {"war": 0.5}])
    with pytest.raises(ValueError):
        summarize_folds([])


def test_format_metrics_table_contains_the_numbers() -> None:
    text = format_metrics_table(classification_metrics(Y_TRUE, Y_PRED))
    lines = text.splitlines()
    assert lines[0] == "WAR 0.700  UAR 0.733  macro-F1 0.760  (n=10)"
    hap = next(line for line in lines if line.startswith("HAP"))
    assert hap.split() == ["HAP", "0.667", "1.000", "0.800", "2"]
    assert sum(line.split()[0] in CLASSES for line in lines[1:]) == 6


def test_no_answer_counts_as_an_error_and_falls_in_no_cell() -> None:
    """A voice clip in which no speech was heard (-1) is wrong for WAR and its class's recall."""
    m = classification_metrics([0, 0, 1, 1, 2, 2], [0, -1, 1, 1, 2, 0], abstain=True)
    assert m["no_answer"] == 1 and m["per_class"]["NEU"]["no_answer"] == 1
    assert m["war"] == pytest.approx(4 / 6)
    assert m["per_class"]["NEU"]["recall"] == 0.5 and m["per_class"]["NEU"]["support"] == 2
    assert np.sum(m["confusion"]) == 5 and m["confusion"][0][0] == 1
    with pytest.raises(ValueError):
        classification_metrics([0, 1], [0, -1])  # without abstain, -1 is not a class
