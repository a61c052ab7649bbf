from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib.image
import pytest

from mmer.training.plots import plot_confusion, plot_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert not [p.name for p in path.parent.iterdir() if ".partial-" in p.name]


def _confusion() -> list[list[int]]:
    return [
        [20, 3, 1, 0, 0, 1],
        [2, 18, 0, 1, 0, 0],
        [4, 0, 12, 0, 3, 1],
        [0, 1, 0, 22, 1, 2],
        [0, 0, 0, 0, 0, 0],  # FEA absent from the test fold
        [1, 0, 2, 3, 1, 9],
    ]


def test_plot_confusion_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "report" / "confusion.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the zero-support row must not divide by zero
        assert plot_confusion(_confusion(), out, title="fold 1") == out
    _assert_png(out)


def test_plot_confusion_rejects_wrong_shape_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="6x6"):
        plot_confusion([[1, 2], [3, 4]], tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


def test_plot_confusion_custom_labels(tmp_path: Path) -> None:
    out = plot_confusion([[0, 0], [0, 0]], tmp_path / "c.png", labels=("A", "B"))
    _assert_png(out)


def _history(n: int) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": 1.5 / e,
            "val_loss": 1.6 / e + 0.01 * e,
            "train_uar": 1 - 0.5 / e,
            "val_uar": 0.6 + 0.03 * e - 0.004 * e * e,
            "val_war": 0.62 + 0.02 * e,
            "lr": 1e-3 * 0.5**e,
        }
        for e in range(1, n + 1)
    ]


def test_plot_curves_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    assert plot_curves(_history(8), out) == out
    _assert_png(out)
    assert matplotlib.image.imread(out).shape[1] > matplotlib.image.imread(out).shape[0]  # panels side by side


def test_plot_curves_single_epoch(tmp_path: Path) -> None:
    _assert_png(plot_curves(_history(1), tmp_path / "one.png"))


def test_plot_curves_tolerates_missing_values(tmp_path: Path) -> None:
    history = [
        {"epoch": 1, "train_loss": 1.2, "train_uar": 0.3},  # no validation this epoch, no lr
        {"epoch": 2, "train_loss": 1.0, "val_loss": None, "val_uar": float("nan"), "train_uar": 0.4},
        {"epoch": 3, "train_loss": 0.9, "val_loss": 1.1, "val_uar": 0.5},
        {"train_loss": math.inf},  # no epoch: placed by position
    ]
    _assert_png(plot_curves(history, tmp_path / "partial.png"))
    _assert_png(plot_curves([{"epoch": 1}], tmp_path / "nothing.png"))


def test_plot_curves_empty_history_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        plot_curves([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
