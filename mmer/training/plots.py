"""PNG figures for training reports: the confusion matrix and the learning curves.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, never through
``pyplot``: no global figure registry to leak memory across many folds, no GUI backend needed on a
headless training box, and safe to call from worker threads. Files are written through
:func:`mmer.fsutil.atomic_path` so an interrupted run never leaves a truncated PNG behind.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mmer.fsutil import atomic_path
from mmer.labels import CLASSES

log = logging.getLogger(__name__)

_DPI = 100


def plot_confusion(
    confusion: Sequence[Sequence[int]],
    path: Path,
    *,
    labels: Sequence[str] = CLASSES,
    title: str = "Confusion matrix",
) -> Path:
    """Draw a confusion matrix (rows = true, columns = predicted) to the PNG ``path``; returns ``path``.

    Colours are row-normalised fractions (per-class recall), so a rare class is as visible as a
    frequent one; each cell also shows the raw count and the row percentage. A class with no
    support draws as an all-zero row.
    """
    counts = np.asarray(confusion, dtype=np.int64)
    n_classes = len(labels)
    if counts.shape != (n_classes, n_classes):
        raise ValueError(f"confusion must be {n_classes}x{n_classes} to match labels, got shape {counts.shape}")
    if (counts < 0).any():
        raise ValueError("confusion counts must be non-negative")
    support = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(
        counts.astype(np.float64), support, out=np.zeros(counts.shape, dtype=np.float64), where=support > 0
    )

    side = max(5.0, 0.9 * n_classes + 2.0)
    fig = Figure(figsize=(side + 1.0, side), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    cbar = fig.colorbar(image, ax=ax, shrink=0.85)
    cbar.set_label("fraction of true class (recall)")

    for i in range(n_classes):
        for j in range(n_classes):
            colour = "white" if fractions[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{counts[i, j]}\n{100.0 * fractions[i, j]:.1f}%",
                ha="center",
                va="center",
                fontsize=8,
                color=colour,
            )

    ax.set_xticks(range(n_classes))
    ax.set_xticklabels(list(labels))
    ax.set_yticks(range(n_classes))
    ax.set_yticklabels([f"{abbr} ({int(support[i, 0])})" for i, abbr in enumerate(labels)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} (n={int(counts.sum())})")
    return _save(fig, path)


def plot_curves(history: Sequence[dict], path: Path) -> Path:
    """Draw learning curves from per-epoch history rows to the PNG ``path``; returns ``path``.

    Rows carry ``epoch`` and any of ``train_loss``, ``val_loss``, ``train_uar``, ``val_uar``,
    ``val_war`` and ``lr``; missing, ``None`` or NaN values are skipped, so partial histories (an
    epoch without validation, a resumed run) still plot. Panels: loss, UAR/WAR with the best
    val-UAR epoch marked (the checkpoint-selection criterion), and the learning rate on a log
    scale when any is recorded. Points carry markers so a single-epoch history is visible.
    Raises ``ValueError`` for an empty history.
    """
    if not history:
        raise ValueError("cannot plot learning curves of an empty history")
    epochs = [_epoch(row, i) for i, row in enumerate(history)]

    def series(key: str) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        for x, row in zip(epochs, history, strict=True):
            value = _finite(row.get(key))
            if value is not None:
                xs.append(x)
                ys.append(value)
        return xs, ys

    lr_x, lr_y = series("lr")
    n_panels = 3 if lr_y else 2
    fig = Figure(figsize=(5.0 * n_panels, 4.0), dpi=_DPI)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, n_panels, k + 1) for k in range(n_panels)]

    loss_ax, score_ax = axes[0], axes[1]
    for key, label, style in (("train_loss", "train", "-"), ("val_loss", "val", "--")):
        xs, ys = series(key)
        if ys:
            loss_ax.plot(xs, ys, style, marker="o", markersize=3, label=label)
    _finish(loss_ax, "loss", "loss", epochs)

    for key, label, style in (
        ("train_uar", "train UAR", "-"),
        ("val_uar", "val UAR", "--"),
        ("val_war", "val WAR", ":"),
    ):
        xs, ys = series(key)
        if ys:
            score_ax.plot(xs, ys, style, marker="o", markersize=3, label=label)
    val_x, val_y = series("val_uar")
    if val_y:
        best = int(np.argmax(val_y))  # first epoch reaching the maximum, as checkpointing keeps it
        score_ax.axvline(val_x[best], color="grey", linewidth=0.8, linestyle="-.")
        score_ax.plot(
            [val_x[best]],
            [val_y[best]],
            marker="*",
            markersize=12,
            color="tab:red",
            linestyle="none",
            label=f"best val UAR {val_y[best]:.3f} @ {val_x[best]:g}",
        )
    _finish(score_ax, "UAR / WAR", "score", epochs)

    if lr_y:
        lr_ax = axes[2]
        lr_ax.plot(lr_x, lr_y, marker="o", markersize=3, color="tab:green")
        if all(v > 0 for v in lr_y):
            lr_ax.set_yscale("log")
        _finish(lr_ax, "learning rate", "lr", epochs)

    fig.tight_layout()
    return _save(fig, path)


def _finish(ax: Axes, title: str, ylabel: str, epochs: Sequence[float]) -> None:
    """Common decoration; a panel without data says so instead of showing empty axes."""
    first, last = min(epochs), max(epochs)
    if last - first < 2:  # one or two epochs: widen so the integer epoch ticks have room
        ax.set_xlim(first - 1, last + 1)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    elif not ax.lines:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")


def _epoch(row: dict, index: int) -> float:
    """The row's epoch number, or its 1-based position when the row has none."""
    value = _finite(row.get("epoch"))
    return value if value is not None else float(index + 1)


def _finite(value: object) -> float | None:
    """``value`` as a float, or ``None`` if it is missing, not a number, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` atomically as PNG and release its artists (no pyplot registry holds it)."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=_DPI)
    finally:
        fig.clear()
    log.debug("wrote %s", path)
    return path
