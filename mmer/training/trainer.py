"""``mmer train``: fit the fusion model on cached features, actor-independently, and write a run folder.

Read top to bottom: load and pair features → plan actor splits → per split: standardise with
training statistics, fit with AdamW + ReduceLROnPlateau + early stopping on validation UAR,
restore the best epoch, fit a temperature on validation, score the test actors, write the
checkpoint and reports. A feature root with one modality (audio features of audio-only clips)
trains a single-modality model: the other is absent for every clip, and the checkpoint says so
(``backbones.<other>`` null, ``model.modalities``). Every epoch ends with a resume state on disk, so an interrupted run
picks up at the next epoch and ends exactly where an uninterrupted one would (on CPU: the
shuffling order comes from the seed and the epoch, and the global RNG state is saved).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mmer import __version__
from mmer.checkpoint import save_checkpoint
from mmer.datasets import DatasetError, read_manifest
from mmer.faces.recipe import FaceRecipe
from mmer.features.cache import FeatureCache
from mmer.features.hub import select_device
from mmer.fsutil import atomic_path, write_json_atomic
from mmer.labels import CLASSES
from mmer.losses import class_weights, make_loss
from mmer.model import MultimodalEmotionModel
from mmer.training import metrics as M
from mmer.training.config import CONFIG_FILE, RunError, TrainConfig
from mmer.training.data import MISSING_FILE, FeatureSet, PairingReport, backbone_meta, feature_statistics, load_features
from mmer.training.evaluate import batch_tensors, iter_batches, predict, split_metrics, write_attention
from mmer.training.plots import plot_confusion, plot_curves
from mmer.training.splits import ActorSplit, actor_split, fold_splits, manifest_split

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
RESUME_FILE = "resume.pt"
HISTORY_COLUMNS = ("epoch", "train_loss", "train_uar", "val_loss", "val_war", "val_uar", "val_macro_f1", "lr",
                   "seconds")


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]


EpochHook = Callable[[int, dict[str, float]], None]


def train(config: TrainConfig, *, resume: bool = False, on_epoch_end: EpochHook | None = None) -> RunResult:
    """Run (or with ``resume`` continue) the training run ``config`` describes."""
    run_dir = config.run_dir
    if resume:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunError(f"{run_dir} is not a training run folder (no {CONFIG_FILE}); nothing to resume")
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"run folder {run_dir} already exists; resume it with --resume {run_dir} or pick another "
                       "--run-id")
    if resume and (run_dir / METRICS_FILE).is_file():
        log.info("%s is already complete; nothing to resume", run_dir)
        return RunResult(run_dir, json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8")))
    select_device(config.device)  # an impossible device fails now, before a run folder exists
    features, report = load_features(Path(config.manifest), Path(config.features), dataset=config.dataset)
    metas = {m: meta if m in features.modalities else None for m, meta in backbone_meta(Path(config.features)).items()}
    if len(features.modalities) == 1:
        log.info("training a single-modality model: %s only (no %s features are used)", features.modalities[0],
                 " or ".join(m for m in metas if m not in features.modalities))
    splits = plan_splits(config, features)
    planned = {s.name: s.as_dict() for s in splits}
    if resume:
        started = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8")).get("splits")
        if started is not None and started != planned:
            raise RunError(f"the manifest or features changed since {run_dir} started (its actor splits differ); "
                           "start a new run instead of resuming")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        write_json_atomic(run_dir / CONFIG_FILE, {"arguments": asdict(config), "mmer_version": __version__,
                                                  "created": _now(), "backbones": _identity(metas),
                                                  "modalities": list(features.modalities),
                                                  "pairing": report.counts(), "splits": planned})
    _write_missing(report, run_dir)
    log.info("run folder: %s", run_dir)

    if len(splits) == 1:
        result = fit_split(config, features, splits[0], metas, run_dir, on_epoch_end=on_epoch_end)
        result["pairing"] = report.counts()
        result["modalities"] = list(features.modalities)
        write_json_atomic(run_dir / METRICS_FILE, result)
        return RunResult(run_dir, result)

    per_fold = []
    for split in splits:
        fold_dir = run_dir / split.name
        done = fold_dir / METRICS_FILE
        if resume and done.is_file():
            per_fold.append(json.loads(done.read_text(encoding="utf-8")))
            log.info("%s already finished; skipping", split.name)
            continue
        fold = fit_split(config, features, split, metas, fold_dir, on_epoch_end=on_epoch_end)
        write_json_atomic(done, fold)
        per_fold.append(fold)
    summary = {
        "folds": len(splits),
        "test": M.summarize_folds([f["test"] for f in per_fold]),
        "val": M.summarize_folds([f["val"] for f in per_fold]),
        "splits": {f"fold_{i + 1}": f["splits"] for i, f in enumerate(per_fold)},
        "per_fold": [{"fold": i + 1, "test": _headline(f["test"]), "val": _headline(f["val"]),
                      "best_epoch": f["best_epoch"]} for i, f in enumerate(per_fold)],
        "pairing": report.counts(),
        "modalities": list(features.modalities),
    }
    write_json_atomic(run_dir / METRICS_FILE, summary)
    t = summary["test"]
    log.info("%d-fold test: WAR %.3f ± %.3f  UAR %.3f ± %.3f  macro-F1 %.3f ± %.3f", len(splits),
             t["war"]["mean"], t["war"]["std"], t["uar"]["mean"], t["uar"]["std"],
             t["macro_f1"]["mean"], t["macro_f1"]["std"])
    return RunResult(run_dir, summary)


def plan_splits(config: TrainConfig, features: FeatureSet) -> list[ActorSplit]:
    if config.folds:
        return fold_splits(features.actors, features.datasets, k=config.folds, val_fraction=config.val_fraction,
                           seed=config.seed)
    if config.split == "manifest":
        chosen = set(features.clip_ids)
        rows = [r for r in read_manifest(Path(config.manifest)) if r.clip_id in chosen]
        return [manifest_split([r.actor for r in rows], [r.split for r in rows])]
    return [actor_split(features.actors, features.datasets, val_fraction=config.val_fraction,
                        test_fraction=config.test_fraction, seed=config.seed)]


def fit_split(config: TrainConfig, features: FeatureSet, split: ActorSplit, metas: dict[str, dict[str, Any] | None],
              out_dir: Path, *, on_epoch_end: EpochHook | None = None) -> dict[str, Any]:
    """Train on one actor split, then calibrate, test, and write ``out_dir``'s reports and checkpoint."""
    train_set, val_set, test_set = (features.where_actors(set(a)) for a in (split.train, split.val, split.test))
    for name, part in (("training", train_set), ("validation", val_set)):
        if not len(part):
            raise DatasetError(f"{split.name}: the {name} actors have no clips with features")
    log.info("%s: %d train / %d val / %d test clips (%d / %d / %d actors)", split.name, len(train_set),
             len(val_set), len(test_set), len(split.train), len(split.val), len(split.test))
    out_dir.mkdir(parents=True, exist_ok=True)
    device = select_device(config.device)
    torch.manual_seed(config.seed)

    model = MultimodalEmotionModel(config.fusion(features.video_dim, features.audio_dim))
    model.video_norm.set_statistics(*feature_statistics(train_set, "video"))
    model.audio_norm.set_statistics(*feature_statistics(train_set, "audio"))
    model.to(device)
    weights = class_weights(train_set.labels, len(CLASSES)) if config.class_weights else None
    loss_fn = make_loss(config.loss, gamma=config.gamma, class_weights=weights).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=config.lr_factor,
                                                           patience=config.lr_patience)
    amp_dtype = _amp_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    state = _TrainState()
    resume_path = out_dir / RESUME_FILE
    if resume_path.is_file():
        state = _load_resume(resume_path, model, optimizer, scheduler, scaler, device)
        log.info("%s: resuming after epoch %d", split.name, state.epoch)

    while state.epoch < config.epochs and state.bad_epochs < config.patience:
        epoch = state.epoch + 1
        started = time.perf_counter()
        train_loss, train_uar = _train_epoch(config, model, train_set, loss_fn, optimizer, scaler, amp_dtype,
                                             device, epoch)
        val_logits, _ = predict(model, val_set, device=device)
        val_labels = val_set.labels.numpy()
        val = M.classification_metrics(val_labels, val_logits.argmax(axis=1))
        with torch.no_grad():
            val_loss = float(loss_fn(torch.from_numpy(val_logits).to(device), val_set.labels.to(device)))
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step(val["uar"])
        row = {"epoch": epoch, "train_loss": train_loss, "train_uar": train_uar, "val_loss": val_loss,
               "val_war": val["war"], "val_uar": val["uar"], "val_macro_f1": val["macro_f1"], "lr": lr,
               "seconds": round(time.perf_counter() - started, 3)}
        state.history.append(row)
        # Best = highest val UAR; among equal UARs (common on small validation sets), the lower val loss.
        if val["uar"] > state.best_uar + 1e-6 or (abs(val["uar"] - state.best_uar) <= 1e-6
                                                 and val_loss < state.best_loss):
            state.best_uar, state.best_loss, state.best_epoch, state.bad_epochs = val["uar"], val_loss, epoch, 0
            state.best_state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        log.info("%s epoch %d/%d: train loss %.4f UAR %.3f | val loss %.4f WAR %.3f UAR %.3f | lr %.2g | %.1fs",
                 split.name, epoch, config.epochs, train_loss, train_uar, val_loss, val["war"], val["uar"], lr,
                 row["seconds"])
        _save_resume(resume_path, state, model, optimizer, scheduler, scaler, device)
        _write_history(out_dir / HISTORY_FILE, state.history)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    if state.bad_epochs >= config.patience:
        log.info("%s: stopped early after epoch %d (no better val UAR for %d epochs); best epoch %d", split.name,
                 state.epoch, config.patience, state.best_epoch)

    model.load_state_dict(state.best_state)
    val_logits, _ = predict(model, val_set, device=device)
    temperature = _fit_temperature(val_logits, val_set.labels.numpy())
    result: dict[str, Any] = {"split": split.name, "val": split_metrics(val_logits, val_set.labels.numpy(),
                                                                        temperature)}
    report_set, report_name = (test_set, "test") if len(test_set) else (val_set, "val")
    if len(test_set):
        test_logits, records = predict(model, test_set, device=device, attention=config.save_attention)
        result["test"] = split_metrics(test_logits, test_set.labels.numpy(), temperature)
    else:
        log.warning("%s: no test actors; reporting validation metrics only", split.name)
        test_logits, records = predict(model, val_set, device=device, attention=config.save_attention)
        result["test"] = None
    result.update({"splits": split.as_dict(), "best_epoch": state.best_epoch, "epochs_run": state.epoch,
                   "temperature": temperature,
                   "clips": {"train": len(train_set), "val": len(val_set), "test": len(test_set)}})

    window_s = _window_seconds(Path(config.features), train_set.clip_ids, metas)
    save_checkpoint(out_dir / "model", model, _checkpoint_metadata(config, split, metas, result, temperature,
                                                                    window_s))
    _write_history(out_dir / HISTORY_FILE, state.history)
    plot_curves(state.history, out_dir / "curves.png")
    plot_confusion(result[report_name]["confusion"], out_dir / "confusion.png",
                   title=f"{report_name} actors" + ("" if split.name == "split" else f" ({split.name})"))
    if records is not None:
        write_attention(out_dir / "attention.jsonl", report_set, test_logits, records, temperature)
    resume_path.unlink(missing_ok=True)
    headline = result[report_name]
    log.info("%s %s: WAR %.3f  UAR %.3f  macro-F1 %.3f  ECE %.3f → %.3f (T=%.2f)", split.name, report_name,
             headline["war"], headline["uar"], headline["macro_f1"], headline["calibration"]["ece_before"],
             headline["calibration"]["ece_after"], temperature)
    return result


@dataclass
class _TrainState:
    epoch: int = 0
    best_uar: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None


def _train_epoch(config: TrainConfig, model: MultimodalEmotionModel, data: FeatureSet, loss_fn: torch.nn.Module,
                 optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, amp_dtype: torch.dtype | None,
                 device: torch.device, epoch: int) -> tuple[float, float]:
    model.train()
    # The order depends on (seed, epoch) only, so a resumed run shuffles as the uninterrupted one did.
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
    total, seen, preds, truth = 0.0, 0, [], []
    batches = iter_batches(len(data), config.batch_size, order)
    bar = tqdm(batches, total=math.ceil(len(data) / config.batch_size), desc=f"epoch {epoch}/{config.epochs}",
               unit="batch", leave=False, disable=None)
    for idx in bar:
        video, audio, vl, al = batch_tensors(data, idx, device)
        vl, al = _modality_dropout(vl, al, config.modality_dropout)
        labels = data.labels[idx].to(device)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(video, audio, vl, al)
            loss = loss_fn(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
        preds.append(logits.argmax(dim=1).cpu())
        truth.append(labels.cpu())
        bar.set_postfix(loss=f"{total / seen:.4f}")
    uar = M.classification_metrics(torch.cat(truth).numpy(), torch.cat(preds).numpy())["uar"]
    return total / max(seen, 1), uar


def _modality_dropout(video_lengths: torch.Tensor, audio_lengths: torch.Tensor,
                      p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """With probability ``p`` hide a sample's video, with ``p`` its audio (never both, never the only
    one it has): the model learns to answer from either modality alone."""
    if p <= 0:
        return video_lengths, audio_lengths
    draw = torch.rand(video_lengths.shape[0]).to(video_lengths.device)
    drop_video = (draw < p) & (audio_lengths > 0)
    drop_audio = (draw >= p) & (draw < 2 * p) & (video_lengths > 0)
    return video_lengths.masked_fill(drop_video, 0), audio_lengths.masked_fill(drop_audio, 0)


def _fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature scaling on validation; skipped when validation is classified perfectly, where the
    likelihood keeps growing as T → 0 and the "fit" would only make every later answer look certain."""
    if len(labels) and bool((logits.argmax(axis=1) == labels).all()):
        log.warning("validation clips are all classified correctly: temperature scaling is ill-posed, keeping T = 1")
        return 1.0
    return M.fit_temperature(logits, labels)


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if not config.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _save_resume(path: Path, state: _TrainState, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: Any, scaler: torch.amp.GradScaler, device: torch.device) -> None:
    payload = {"epoch": state.epoch, "best_uar": state.best_uar, "best_loss": state.best_loss,
               "best_epoch": state.best_epoch, "bad_epochs": state.bad_epochs, "history": state.history,
               "best_state": state.best_state,
               "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "scaler": scaler.state_dict(), "rng": torch.get_rng_state(),
               "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else []}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _load_resume(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                 scaler: torch.amp.GradScaler, device: torch.device) -> _TrainState:
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        scaler.load_state_dict(payload["scaler"])
    except Exception as exc:  # a damaged or foreign file: say which, do not guess
        raise RunError(f"cannot resume from {path}: {exc}") from exc
    torch.set_rng_state(payload["rng"].cpu())
    if device.type == "cuda" and payload["cuda_rng"]:
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["cuda_rng"]])
    return _TrainState(epoch=payload["epoch"], best_uar=payload["best_uar"], best_loss=payload["best_loss"],
                       best_epoch=payload["best_epoch"],
                       bad_epochs=payload["bad_epochs"], history=payload["history"],
                       best_state={k: v.cpu() for k, v in payload["best_state"].items()})


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(history)


def _write_missing(report: PairingReport, run_dir: Path) -> None:
    if report.missing:
        report.write(run_dir / MISSING_FILE)
        log.warning("%d clip(s) lack a modality; listed in %s", len(report.missing), run_dir / MISSING_FILE)


def _identity(metas: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, Any] | None]:
    """Each used modality's backbone identity; ``None`` for one the model does not use."""
    return {m: None if meta is None else {k: meta.get(k) for k in ("backbone", "source", "dim", "config_hash",
                                                                   "config")}
            for m, meta in metas.items()}


def _headline(result: dict[str, Any] | None) -> dict[str, float] | None:
    return None if result is None else {k: result[k] for k in ("war", "uar", "macro_f1")}


def _preprocessing(identity: dict[str, dict[str, Any] | None], window_s: float | None) -> dict[str, Any]:
    """What serving must redo as extraction did: the face record (detector and its options, stride,
    tracking, crop geometry) and frames for video, the rate and the tracks' formats for audio, and
    the window length (the training clips' median). A modality the model does not use contributes
    no keys."""
    video, audio = identity["video"], identity["audio"]
    video_cfg = (video or {}).get("config") or {}
    prep: dict[str, Any] = {}
    if video is not None:
        faces = FaceRecipe.from_dict(video_cfg.get("faces") or {})
        prep.update(num_frames=video_cfg.get("num_frames"), faces=faces.as_dict(), face_size=faces.face_size,
                    face_margin=faces.face_margin)
    if audio is not None:
        prep["sample_rate"] = (audio.get("config") or {}).get("sample_rate")
        if (audio.get("config") or {}).get("tracks") is not None:
            prep["audio_tracks"] = audio["config"]["tracks"]
    if window_s is not None:
        prep["window_s"] = round(window_s, 3)
    return prep


def _window_seconds(root: Path, clip_ids: Sequence[str], metas: dict[str, dict[str, Any] | None]) -> float | None:
    """The median length of the training clips, as the feature caches recorded it (None for
    caches written before lengths were recorded)."""
    wanted = set(clip_ids)
    lengths: dict[str, float] = {}
    for modality, meta in metas.items():
        if meta is not None:
            lengths.update({c: s for c, s in FeatureCache(root, modality).seconds().items() if c in wanted})
    return float(np.median(list(lengths.values()))) if lengths else None


def _checkpoint_metadata(config: TrainConfig, split: ActorSplit, metas: dict[str, dict[str, Any] | None],
                         result: dict[str, Any], temperature: float, window_s: float | None) -> dict[str, Any]:
    identity = _identity(metas)
    report = result["test"] or result["val"]
    return {
        "backbones": identity,
        "preprocessing": _preprocessing(identity, window_s),
        "calibration": {"temperature": temperature, "fitted_on": "val", **{
            k: report["calibration"][k] for k in ("ece_before", "ece_after")}},
        "metrics": {"val": _headline(result["val"]), "test": _headline(result["test"])},
        "splits": split.as_dict(),
        "training": {"run_id": config.run_id, "split": split.name, "created": _now(), "mmer_version": __version__,
                     "best_epoch": result["best_epoch"], "epochs_run": result["epochs_run"], "loss": config.loss,
                     "seed": config.seed, "dataset": config.dataset},
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
