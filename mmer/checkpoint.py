"""Checkpoints: a directory the trainer writes and the service serves unchanged.

``model.safetensors`` holds the weights (including the feature standardisation fitted on the
training split); ``config.json`` holds what is needed to rebuild and use them: the format version,
the label list, the fusion hyper-parameters, the identity of the video and audio backbones whose
features the model expects, preprocessing parameters, the calibration temperature and a summary
of the training metrics. Nothing is unpickled: safetensors for our own checkpoints, and
``torch.load(weights_only=True)`` for a seed-style ``model.pth`` state dict.

A model may use one modality only (a voice-only model trained on audio-only RAVDESS, say): then
``backbones.<other>`` is null, ``model.modalities`` lists what it uses, and the fusion config keeps a
stand-in width for the other branch (it is built but only ever sees length 0). Such checkpoints are
format version 2, so an mmer that predates them refuses them with "upgrade mmer" instead of failing
on the null; checkpoints with both modalities are still written as version 1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mmer.errors import InvalidValue
from mmer.fsutil import PARTIAL_MARK
from mmer.labels import CLASSES
from mmer.model import FusionConfig, MultimodalEmotionModel

log = logging.getLogger(__name__)

FORMAT = "mmer-checkpoint"
#: The newest format this mmer reads and writes (2: single-modality checkpoints).
FORMAT_VERSION = 2
#: What a checkpoint that uses both modalities is written as, so that older mmer versions keep reading it.
_BOTH_MODALITIES_VERSION = 1
#: The modalities a model can use, in the order its inputs take them.
MODALITIES: tuple[str, ...] = ("video", "audio")
WEIGHTS_FILE = "model.safetensors"
SEED_WEIGHTS_FILE = "model.pth"
CONFIG_FILE = "config.json"


class CheckpointError(InvalidValue):
    """A checkpoint directory that cannot be loaded (missing, damaged, or from another format)."""


@dataclass
class Checkpoint:
    """A loaded model plus its config; :meth:`probabilities` applies the stored calibration."""

    model: MultimodalEmotionModel
    config: dict[str, Any]
    path: Path

    @property
    def labels(self) -> list[str]:
        return list(self.config["labels"])

    @property
    def temperature(self) -> float:
        return float(self.config.get("calibration", {}).get("temperature", 1.0))

    @property
    def backbones(self) -> dict[str, dict[str, Any] | None]:
        """``{"video": {...}, "audio": {...}}``: the feature extractors the model was trained on
        (``None`` for a modality the model does not use)."""
        return self.config["backbones"]

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities the model uses, e.g. ``("audio",)`` for a voice-only model."""
        return checkpoint_modalities(self.config)

    @torch.inference_mode()
    def probabilities(self, video: torch.Tensor | None, audio: torch.Tensor | None,
                      video_lengths: torch.Tensor | None = None,
                      audio_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Calibrated class probabilities (softmax of logits / temperature), in :attr:`labels` order.

        ``None`` for a modality stands for "absent in every sample" (what a single-modality model
        always gets); the model's stand-in input of length 0 is built here.
        """
        if video is None and audio is None:
            raise ValueError("give video or audio features (or both)")
        self.model.eval()
        if video is None:
            video, video_lengths = self._absent(audio, self.model.config.video_dim)
        if audio is None:
            audio, audio_lengths = self._absent(video, self.model.config.audio_dim)
        logits = self.model(video, audio, video_lengths, audio_lengths)
        return torch.softmax(logits.float() / self.temperature, dim=-1)

    @staticmethod
    def _absent(other: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        batch = other.shape[0]
        return (torch.zeros(batch, 1, dim, dtype=other.dtype, device=other.device),
                torch.zeros(batch, dtype=torch.long, device=other.device))


def checkpoint_modalities(config: dict[str, Any]) -> tuple[str, ...]:
    """The modalities a checkpoint config says its model uses: ``model.modalities`` where written,
    else the backbones that are not null (checkpoints written before single-modality models: both)."""
    declared = (config.get("model") or {}).get("modalities")
    if declared is not None:
        return tuple(declared)
    backbones = config.get("backbones") or {}
    return tuple(m for m in MODALITIES if backbones.get(m, {}) is not None)


def save_checkpoint(directory: str | os.PathLike[str], model: MultimodalEmotionModel, metadata: dict[str, Any]) -> Path:
    """Write the checkpoint directory atomically: built next to its destination, then renamed.

    ``metadata`` must name ``backbones`` (video and audio; ``None`` for a modality the model does
    not use, at most one); anything else (calibration, metrics, preprocessing, training) is stored
    as given. ``model.modalities`` is derived from the backbones.
    """
    directory = Path(directory)
    reserved = {"format", "format_version", "labels", "model"} & set(metadata)
    if reserved:
        raise ValueError(f"checkpoint metadata may not set {', '.join(sorted(reserved))} (written by save_checkpoint)")
    backbones = metadata.get("backbones")
    if not isinstance(backbones, dict) or not set(MODALITIES) <= set(backbones):
        raise ValueError("checkpoint metadata must describe the video and audio backbones (None for one the "
                         "model does not use)")
    modalities = [m for m in MODALITIES if backbones[m] is not None]
    if not modalities:
        raise ValueError("checkpoint metadata backbones: at least one of video and audio must be described")
    version = _BOTH_MODALITIES_VERSION if len(modalities) == len(MODALITIES) else FORMAT_VERSION
    config = {"format": FORMAT, "format_version": version, "labels": list(CLASSES),
              "model": {"class": type(model).__name__, "fusion": model.config.to_dict(), "modalities": modalities},
              **metadata}
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}{PARTIAL_MARK}", dir=directory.parent))
    try:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT, "format_version": str(version)})
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}{PARTIAL_MARK}old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
    return directory


def resolve_checkpoint_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or its ``model/`` when given a training-run folder (which holds one checkpoint)."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() and (path / "model" / CONFIG_FILE).is_file():
        return path / "model"
    if (path / CONFIG_FILE).is_file() and (path / "model" / CONFIG_FILE).is_file():
        try:
            if json.loads((path / CONFIG_FILE).read_text(encoding="utf-8")).get("format") != FORMAT:
                return path / "model"
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return path / "model"
    return path


def read_checkpoint_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's config.json, checked for format and version (no weights loaded)."""
    directory = resolve_checkpoint_dir(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint {directory} is not a directory (expected {CONFIG_FILE} + {WEIGHTS_FILE})")
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {CONFIG_FILE}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{config_path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{config_path} is not an mmer checkpoint config (format {FORMAT!r} expected)")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{config_path}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{config_path}: checkpoint format version {version!r} is newer than this mmer "
                              f"understands ({FORMAT_VERSION}); upgrade mmer")
    if config.get("labels") != list(CLASSES):
        raise CheckpointError(f"{config_path}: labels {config.get('labels')} differ from mmer's {list(CLASSES)}")
    try:
        modalities = checkpoint_modalities(config)
    except (AttributeError, TypeError) as exc:
        raise CheckpointError(f"{config_path}: unreadable model modalities or backbones ({exc})") from exc
    if not modalities or not set(modalities) <= set(MODALITIES) or len(set(modalities)) != len(modalities):
        raise CheckpointError(f"{config_path}: model modalities {list(modalities)} must be one or both of "
                              f"{', '.join(MODALITIES)}")
    undescribed = [m for m in modalities if not isinstance((config.get("backbones") or {}).get(m), dict)]
    if undescribed:
        raise CheckpointError(f"{config_path}: the model uses {', '.join(undescribed)} but its backbone is not "
                              "described under backbones")
    return config


def load_checkpoint(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from ``directory`` in eval mode on ``device``."""
    directory = resolve_checkpoint_dir(directory)
    config = read_checkpoint_config(directory)
    try:
        fusion = FusionConfig.from_dict(config["model"]["fusion"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: bad model settings ({exc})") from exc
    weights = directory / WEIGHTS_FILE
    seed_weights = directory / SEED_WEIGHTS_FILE
    try:
        if weights.is_file():
            state = load_file(str(weights))
        elif seed_weights.is_file():
            state = torch.load(seed_weights, map_location="cpu", weights_only=True)
        else:
            raise CheckpointError(f"checkpoint {directory} has neither {WEIGHTS_FILE} nor {SEED_WEIGHTS_FILE}")
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors and torch raise several types for a damaged file
        raise CheckpointError(f"cannot read the weights in {directory}: {exc}") from exc
    model = MultimodalEmotionModel(fusion)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as exc:
        raise CheckpointError(f"weights in {directory} do not fit the model its config describes: {exc}") from exc
    model.to(device).eval()
    return Checkpoint(model=model, config=config, path=directory)
