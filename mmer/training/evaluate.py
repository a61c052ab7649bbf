"""Running a model over a :class:`FeatureSet`, and evaluating any checkpoint on any manifest.

The trainer and ``mmer evaluate`` share :func:`predict` and :func:`split_metrics`, so a
checkpoint evaluated later on the same clips gives the numbers its training run reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mmer.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint_dir
from mmer.datasets import DatasetError
from mmer.errors import InvalidValue
from mmer.features.hub import select_device
from mmer.fsutil import atomic_path, write_json_atomic
from mmer.labels import CLASSES
from mmer.model import FusionAttention, MultimodalEmotionModel
from mmer.training import metrics as M
from mmer.training.data import FeatureSet, backbone_meta, load_features
from mmer.training.plots import plot_confusion

log = logging.getLogger(__name__)

EVAL_SPLITS = ("all", "train", "val", "test")


def batch_tensors(features: FeatureSet, idx: Tensor, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One batch as float32 on ``device``, trimmed to its longest sequences (padding costs time)."""
    vl, al = features.video_lengths[idx], features.audio_lengths[idx]
    tv, ta = max(int(vl.max()), 1), max(int(al.max()), 1)
    video = features.video[idx, :tv].to(device).float()
    audio = features.audio[idx, :ta].to(device).float()
    return video, audio, vl.to(device), al.to(device)


def iter_batches(n: int, batch_size: int, order: Tensor | None = None) -> Iterator[Tensor]:
    order = torch.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@torch.no_grad()
def predict(model: MultimodalEmotionModel, features: FeatureSet, *, device: torch.device, batch_size: int = 256,
            attention: bool = False) -> tuple[np.ndarray, list[dict[str, Any]] | None]:
    """Logits (N, C) in eval mode, and with ``attention`` one record per clip (see :func:`attention_record`)."""
    model.eval()
    logits, records = [], [] if attention else None
    for idx in iter_batches(len(features), batch_size):
        video, audio, vl, al = batch_tensors(features, idx, device)
        out = model(video, audio, vl, al, return_attention=attention)
        if attention:
            out, maps = out
            records.extend(attention_record(maps, j, int(vl[j]), int(al[j])) for j in range(len(idx)))
        logits.append(out.float().cpu())
    if not logits:
        return np.zeros((0, len(CLASSES)), dtype=np.float32), records
    return torch.cat(logits).numpy(), records


def attention_record(maps: FusionAttention, j: int, video_len: int, audio_len: int) -> dict[str, Any]:
    """Sample ``j``'s attention, trimmed to its real lengths (an absent modality gives empty lists)."""
    def trim(x: Tensor, rows: int, cols: int) -> list:
        return np.round(x[j, :rows, :cols].cpu().numpy().astype(float), 5).tolist()

    return {
        "video_share": round(float(maps.video_share[j]), 5),
        "video_pool": np.round(maps.video_pool[j, :video_len].cpu().numpy().astype(float), 5).tolist(),
        "audio_pool": np.round(maps.audio_pool[j, :audio_len].cpu().numpy().astype(float), 5).tolist(),
        "audio_to_video": [trim(m, audio_len if video_len else 0, video_len) for m in maps.audio_to_video],
        # With one audio vector per clip every frame's attention to it is trivially 1: left out.
        "video_to_audio": [trim(m, video_len if audio_len > 1 else 0, audio_len) for m in maps.video_to_audio],
    }


def split_metrics(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, Any]:
    """Classification metrics plus calibration (ECE before/after ``temperature``) for one split."""
    result = M.classification_metrics(labels, logits.argmax(axis=1))
    result["calibration"] = M.calibration_report(logits, labels, temperature)
    return result


def write_attention(path: Path, features: FeatureSet, logits: np.ndarray, records: list[dict[str, Any]],
                    temperature: float) -> None:
    """``attention.jsonl``: per clip, its label, prediction, calibrated scores and attention maps."""
    probs = M.softmax(logits, temperature)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for i, record in enumerate(records):
            line = {"clip_id": features.clip_ids[i], "label": CLASSES[int(features.labels[i])],
                    "predicted": CLASSES[int(probs[i].argmax())],
                    "scores": {c: round(float(p), 5) for c, p in zip(CLASSES, probs[i], strict=True)}, **record}
            fh.write(json.dumps(line) + "\n")


def evaluate_checkpoint(checkpoint: Path, features_root: Path, manifest: Path, out_dir: Path, *, split: str = "all",
                        dataset: str = "all", drop: str | None = None, device: str = "auto",
                        batch_size: int = 256, save_attention: bool = False) -> dict[str, Any]:
    """Score ``checkpoint`` on the manifest's clips (or on the train/val/test actors it was trained
    with) and write ``metrics.json`` and ``confusion.png`` to ``out_dir``."""
    if split not in EVAL_SPLITS:
        raise InvalidValue(f"split must be one of {', '.join(EVAL_SPLITS)}, got {split!r}")
    torch_device = select_device(device)
    loaded = load_checkpoint(checkpoint, torch_device)
    modalities = loaded.modalities
    if drop not in (None, "video", "audio"):
        raise InvalidValue(f"drop must be video or audio, got {drop!r}")
    if drop is not None and drop not in modalities:
        log.warning("the checkpoint does not use %s: --drop %s changes nothing", drop, drop)
        drop = None
    if drop is not None and len(modalities) == 1:
        raise InvalidValue(f"the checkpoint uses {drop} only: hiding it leaves nothing to evaluate")
    check_backbones(loaded.backbones, backbone_meta(features_root), features_root, modalities)
    # Only the modalities the model uses are read: a voice-only model never sees video features.
    features, report = load_features(manifest, features_root, dataset=dataset, modalities=modalities)
    if split != "all":
        actors = loaded.config.get("splits", {}).get(split)
        if actors is None:
            raise CheckpointError(f"{checkpoint} does not record its {split} actors; use --split all")
        features = features.where_actors(set(actors))
    features = features.without(drop)
    if not len(features):
        raise DatasetError(f"no clips of the manifest are in the checkpoint's {split} split")
    logits, records = predict(loaded.model, features, device=torch_device, batch_size=batch_size,
                              attention=save_attention)
    labels = features.labels.numpy()
    result = split_metrics(logits, labels, loaded.temperature)
    metrics = {"checkpoint": str(checkpoint), "manifest": str(manifest), "features": str(features_root),
               "split": split, "dataset": dataset, "modalities": list(modalities), "dropped_modality": drop,
               "pairing": report.counts(),
               "actors": sorted(set(features.actors)), "metrics": result}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "metrics.json", metrics)
    plot_confusion(result["confusion"], out_dir / "confusion.png", title=f"{checkpoint.name} on {manifest.name}")
    if records is not None:
        write_attention(out_dir / "attention.jsonl", features, logits, records, loaded.temperature)
    return metrics


def default_output(checkpoint: Path, manifest: Path, split: str, drop: str | None) -> Path:
    """``<checkpoint>/../evaluation/<manifest stem>-<split>[-no-<modality>]``."""
    name = f"{Path(manifest).stem}-{split}" + (f"-no-{drop}" if drop else "")
    return resolve_checkpoint_dir(checkpoint).absolute().parent / "evaluation" / name


def check_backbones(expected: dict[str, dict[str, Any] | None], found: dict[str, dict[str, Any] | None], root: Path,
                    modalities: tuple[str, ...] = ("video", "audio")) -> None:
    """Refuse features from another backbone (or width) than the checkpoint was trained on, for each
    modality the checkpoint uses (``modalities``); the others are not read, so not checked."""
    for modality in modalities:
        want, have = expected[modality], found[modality]
        if have is None:
            raise CheckpointError(f"the checkpoint uses {modality} features from {want.get('backbone')}, but {root} "
                                  f"holds no {modality} features (run `mmer extract-{modality}` first)")
        if want.get("backbone") != have.get("backbone") or want.get("dim") != have.get("dim"):
            raise CheckpointError(
                f"the checkpoint expects {modality} features from {want.get('backbone')} (dim {want.get('dim')}), "
                f"but {root} holds {have.get('backbone')} (dim {have.get('dim')}) features")
        if want.get("config_hash") != have.get("config_hash"):
            log.warning("%s features in %s were made with other %s settings than the checkpoint's (%s vs %s)",
                        modality, root, have.get("backbone"), have.get("config_hash"), want.get("config_hash"))
