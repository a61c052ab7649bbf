"""The arguments of a training run: one dataclass, light to import (the CLI builds its parser from it).

``config.json`` in a run folder stores these fields under ``arguments``; ``--resume`` reads them back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mmer.errors import InvalidValue
from mmer.labels import CLASSES

if TYPE_CHECKING:
    from mmer.model import FusionConfig

CONFIG_FILE = "config.json"
DATASET_CHOICES = ("all", "ravdess", "cremad")
SPLIT_MODES = ("actor", "manifest")
LOSS_CHOICES = ("focal", "ce")


class RunError(InvalidValue):
    """A run folder that cannot be started or resumed as asked."""


@dataclass
class TrainConfig:
    """Every argument of a run; written to ``config.json`` and read back by ``--resume``."""

    manifest: str
    features: str
    out: str = "training_runs"
    run_id: str = ""
    dataset: str = "all"
    split: str = "actor"
    folds: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    loss: str = "focal"
    gamma: float = 2.0
    class_weights: bool = True
    dim: int = 128
    heads: int = 4
    layers: int = 1
    dropout: float = 0.2
    modality_dropout: float = 0.2
    patience: int = 10
    lr_patience: int = 3
    lr_factor: float = 0.5
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    save_attention: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.dataset in DATASET_CHOICES, f"dataset must be one of {', '.join(DATASET_CHOICES)}"),
            (self.split in SPLIT_MODES, f"split must be one of {', '.join(SPLIT_MODES)}"),
            (self.folds == 0 or self.folds >= 2, "folds must be 0 (one split) or at least 2"),
            (self.loss in LOSS_CHOICES, f"loss must be one of {', '.join(LOSS_CHOICES)}"),
            (self.epochs >= 1 and self.batch_size >= 1, "epochs and batch size must be positive"),
            (self.learning_rate > 0 and self.weight_decay >= 0, "learning rate must be > 0, weight decay >= 0"),
            (0 <= self.modality_dropout <= 0.5, "modality dropout must be in [0, 0.5]"),
            (self.gamma >= 0, "gamma must be >= 0"),
            (self.patience >= 1 and self.lr_patience >= 0, "patience must be >= 1"),
            (0 < self.lr_factor < 1, "lr factor must be in (0, 1)"),
            (self.grad_clip >= 0, "grad clip must be >= 0 (0 turns it off)"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidValue(message)
        if not self.run_id:
            self.run_id = datetime.now().strftime("%Y%m%d-%H%M%S")

    @property
    def run_dir(self) -> Path:
        return Path(self.out) / self.run_id

    def fusion(self, video_dim: int, audio_dim: int) -> FusionConfig:
        from mmer.model import FusionConfig

        return FusionConfig(video_dim=video_dim, audio_dim=audio_dim, num_classes=len(CLASSES), dim=self.dim,
                            heads=self.heads, layers=self.layers, dropout=self.dropout)


def load_run_config(run_dir: Path) -> TrainConfig:
    """The :class:`TrainConfig` a run folder was started with (for ``--resume``)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not a training run folder (no {CONFIG_FILE})")
    try:
        arguments = json.loads(path.read_text(encoding="utf-8"))["arguments"]
        known = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in arguments.items() if k in known})
    except (ValueError, KeyError, TypeError) as exc:
        raise RunError(f"{path} is not a readable run config: {exc}") from exc
    # The folder may have moved since: resume where it is now.
    config.out, config.run_id = str(Path(run_dir).parent), Path(run_dir).name
    return config

