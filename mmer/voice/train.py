"""The voice expert's recipe: speaker-independent K-fold measurement, then the model that ships.

Protocol (what the model card reports): actors are split into K folds (seeded); for fold k the
test actors are fold k, the validation actors (early stopping, temperature) are fold k+1, and the
model learns from the rest. Every test clip is read on its own, as one upload would be: its
speech found by the VAD, normalised within itself (:mod:`mmer.voice.features`), nothing from the
speaker's other clips. The shipped model is trained the same way on all folds but one (kept for
early stopping and calibration); the K-fold figures measure the recipe that made it.

Augmentation while training, all on the waveform or the spectrogram: random time shift and crop,
speed perturbation (tempo and pitch together, which also varies the apparent speaker), gain, noise
at a random SNR, and SpecAugment's time and frequency masks.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmer import media
from mmer.datasets.splits import actor_folds
from mmer.errors import InvalidValue
from mmer.labels import CLASSES, NUM_CLASSES
from mmer.training.metrics import (
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    softmax,
    summarize_folds,
)
from mmer.voice import vad
from mmer.voice.features import SAMPLE_RATE, voice_frames
from mmer.voice.model import VoiceNet, VoiceNetConfig

log = logging.getLogger(__name__)


@dataclass
class VoiceClip:
    clip_id: str
    actor: str
    label: int
    wave: np.ndarray  # the clip's speech (VAD span), float32 16 kHz
    path: Path | None = None  # the file, read again whole when the clip is a test upload


@dataclass
class RecipeConfig:
    """Every setting of a run; written into the run's report and the shipped model's config."""

    folds: int = 6
    seed: int = 0
    epochs: int = 30
    patience: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    label_smoothing: float = 0.1
    crop_s: float = 2.0
    normalisation: str = "utterance"
    # augmentation
    speed: tuple[float, float] = (0.9, 1.1)
    gain_db: float = 6.0
    noise_p: float = 0.5
    snr_db: tuple[float, float] = (10.0, 40.0)
    freq_masks: int = 2
    freq_mask_bins: int = 8
    time_masks: int = 2
    time_mask_frames: int = 20
    mixup: float = 0.0
    net: VoiceNetConfig = field(default_factory=VoiceNetConfig)
    threads: int = 0  # torch threads; 0 leaves torch's default

    def to_dict(self) -> dict:
        out = asdict(self)
        out["net"] = self.net.to_dict()
        return out


# --- data ---------------------------------------------------------------------------------------


def speech_of(wave: np.ndarray) -> np.ndarray:
    """The stretch of ``wave`` from its first word to its last, as the VAD finds them; all of it
    when no speech is found (a training clip is labelled speech, so it is never dropped)."""
    span = vad.speech_span(vad.speech_regions(wave))
    if span is None:
        return wave
    return wave[int(span.start * SAMPLE_RATE):int(math.ceil(span.end * SAMPLE_RATE))]


_CACHE_VERSION = "1"  # bump when speech_of or the VAD's settings change


def _cache_file(cache: Path, clip_id: str, path: Path) -> Path:
    """One file per clip, named by what it was made from (path, size, mtime, VAD settings), so an
    edited corpus or a new VAD setting is re-read instead of served stale."""
    import hashlib

    st = path.stat()
    key = f"{_CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{vad.THRESHOLD}|{vad.MIN_SPEECH_MS}|" \
          f"{vad.MIN_SILENCE_MS}|{vad.SPEECH_PAD_MS}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in clip_id)
    return cache / f"{safe}-{digest}.npy"


def _read_speech(path: Path, cache: Path | None, clip_id: str) -> np.ndarray:
    from mmer.fsutil import atomic_path

    target = _cache_file(cache, clip_id, path) if cache is not None else None
    if target is not None and target.exists():
        try:
            return np.load(target).astype(np.float32, copy=False)
        except (OSError, ValueError) as exc:  # a damaged cache file is re-made, not fatal
            log.warning("%s: unreadable cache file %s (%s); reading the clip again", clip_id, target, exc)
    wave = media.decode_audio(path, SAMPLE_RATE)
    if wave.size < SAMPLE_RATE // 4:
        raise media.MediaError("less than 0.25 s of sound")
    speech = speech_of(wave).astype(np.float32, copy=False)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.save(fh, speech)
    return speech


def load_clips(items: Sequence[tuple[str, str | Path, str, int]],
               progress: Callable[[int, int], None] | None = None, *,
               cache: str | Path | None = None) -> tuple[list[VoiceClip], list[tuple[str, str]]]:
    """``(clip_id, path, actor, label)`` → clips trimmed to their speech, and ``(clip_id, error)``
    for each file that could not be read (reported, not fatal).

    Decoding and the VAD cost about a tenth of a second per clip; with ``cache`` (a folder) each
    clip's speech is kept there, so a second run, or one resumed after an interruption, starts
    training at once."""
    cache_dir = Path(cache) if cache is not None else None
    clips, failures = [], []
    for i, (clip_id, path, actor, label) in enumerate(items):
        try:
            clips.append(VoiceClip(clip_id, actor, int(label), _read_speech(Path(path), cache_dir, clip_id),
                                   Path(path)))
        except (media.MediaError, OSError) as exc:
            failures.append((clip_id, str(exc)))
            log.warning("%s: %s", clip_id, exc)
        if progress is not None:
            progress(i + 1, len(items))
    return clips, failures


# --- augmentation -------------------------------------------------------------------------------


def augment_wave(wave: np.ndarray, cfg: RecipeConfig, rng: np.random.Generator) -> np.ndarray:
    lo, hi = cfg.speed
    if hi > lo:
        factor = rng.uniform(lo, hi)
        n = max(2, int(len(wave) / factor))
        wave = np.interp(np.linspace(0, len(wave) - 1, n), np.arange(len(wave)), wave).astype(np.float32)
    crop = int(cfg.crop_s * SAMPLE_RATE)
    if len(wave) > crop:
        start = rng.integers(0, len(wave) - crop + 1)
        wave = wave[start:start + crop]
    if cfg.gain_db:
        wave = wave * np.float32(10 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20))
    if rng.random() < cfg.noise_p:
        power = float(np.mean(wave**2)) + 1e-10
        snr = rng.uniform(*cfg.snr_db)
        noise = rng.standard_normal(len(wave)).astype(np.float32)
        if rng.random() < 0.5:  # pink-ish: low frequencies stronger, like room and traffic noise
            noise = np.cumsum(noise).astype(np.float32)
            noise -= np.convolve(noise, np.ones(64) / 64, mode="same").astype(np.float32)
        noise *= np.float32(math.sqrt(power / (10 ** (snr / 10)) / (float(np.mean(noise**2)) + 1e-10)))
        wave = wave + noise
    return wave.astype(np.float32, copy=False)


def spec_augment(x: np.ndarray, cfg: RecipeConfig, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    t, f = x.shape
    for _ in range(cfg.freq_masks):
        w = int(rng.integers(0, cfg.freq_mask_bins + 1))
        f0 = int(rng.integers(0, max(1, f - w)))
        x[:, f0:f0 + w] = 0.0
    for _ in range(cfg.time_masks):
        w = int(rng.integers(0, min(cfg.time_mask_frames, t // 5) + 1))
        t0 = int(rng.integers(0, max(1, t - w)))
        x[t0:t0 + w] = 0.0
    return x


def _batch(frames: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(x) for x in frames])
    out = torch.zeros(len(frames), int(lengths.max()), frames[0].shape[1])
    for i, x in enumerate(frames):
        out[i, :len(x)] = torch.from_numpy(x)
    return out, lengths


# --- training -----------------------------------------------------------------------------------


@dataclass
class FoldResult:
    model: VoiceNet
    best_epoch: int
    val_uar: float
    history: list[dict]


def predict_logits(model: VoiceNet, clips: Sequence[VoiceClip], normalisation: str,
                   batch_size: int = 32) -> np.ndarray:
    """(N, 6) logits of each clip's whole speech span, read alone: the quick reading used for early
    stopping and the temperature (the test folds are read as uploads, :func:`read_as_uploads`)."""
    model.eval()
    order = sorted(range(len(clips)), key=lambda i: len(clips[i].wave))  # similar lengths: less padding
    logits = np.zeros((len(clips), NUM_CLASSES), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x, lengths = _batch([voice_frames(clips[i].wave, normalisation) for i in idx])
            logits[idx] = model(x, lengths).numpy()
    return logits


def read_as_uploads(model: VoiceNet, clips: Sequence[VoiceClip], normalisation: str,
                    temperature: float) -> np.ndarray:
    """(N, 6) probabilities, each clip read exactly as the service reads an upload of it
    (:func:`mmer.voice.expert.read_windows`: the VAD over the whole file, 3-second windows, only
    windows with speech scored, averaged by speech); a row of NaN where no window had speech (the
    service gives no voice answer there)."""
    from mmer.voice.expert import clip_probabilities, read_windows, speech_logits

    def probabilities(pieces: list[np.ndarray]) -> np.ndarray:
        return softmax(speech_logits(model, pieces, normalisation), temperature)

    out = np.full((len(clips), NUM_CLASSES), np.nan)
    for i, clip in enumerate(clips):
        if clip.path is None:
            raise InvalidValue(f"{clip.clip_id}: no file to read it from as an upload")
        windows, _ = read_windows(media.decode_audio(clip.path, SAMPLE_RATE), probabilities)
        probs = clip_probabilities(windows)
        if probs is not None:
            out[i] = probs
    return out


def train_model(train: Sequence[VoiceClip], val: Sequence[VoiceClip], cfg: RecipeConfig, *, seed: int,
                tag: str = "") -> FoldResult:
    """Train on ``train``, keep the weights of the epoch with the best validation UAR."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = VoiceNet(cfg.net)
    labels = np.array([c.label for c in train])
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    weights = torch.tensor(counts.sum() / np.maximum(counts, 1) / NUM_CLASSES, dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(train) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=cfg.learning_rate, total_steps=steps,
                                                   pct_start=0.15)
    best = (-1.0, 0, None)
    history: list[dict] = []
    val_labels = [c.label for c in val]
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            if len(idx) < 2:
                continue
            frames = [spec_augment(voice_frames(augment_wave(train[i].wave, cfg, rng), cfg.normalisation), cfg, rng)
                      for i in idx]
            x, lengths = _batch(frames)
            y = torch.tensor(labels[idx])
            if cfg.mixup > 0:
                lam = float(rng.beta(cfg.mixup, cfg.mixup))
                perm = torch.randperm(len(idx))
                x = lam * x + (1 - lam) * x[perm]
                lengths = torch.maximum(lengths, lengths[perm])
                out = model(x, lengths)
                loss = lam * loss_fn(out, y) + (1 - lam) * loss_fn(out, y[perm])
            else:
                loss = loss_fn(model(x, lengths), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        val_pred = predict_logits(model, val, cfg.normalisation).argmax(1)
        uar = classification_metrics(val_labels, val_pred)["uar"]
        history.append({"epoch": epoch, "loss": total / len(train), "val_uar": uar,
                        "seconds": time.perf_counter() - t0})
        log.info("%sepoch %d loss %.3f val UAR %.3f (%.1f s)", tag, epoch, total / len(train), uar,
                 time.perf_counter() - t0)
        if uar > best[0]:
            best = (uar, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        elif epoch - best[1] >= cfg.patience:
            break
    model.load_state_dict(best[2])
    return FoldResult(model=model.eval(), best_epoch=best[1], val_uar=best[0], history=history)


def fold_plan(actors: Sequence[str], k: int, seed: int) -> list[tuple[set[str], set[str], set[str]]]:
    """(train, val, test) actor sets per fold: test fold k, validation fold k+1."""
    folds = actor_folds(sorted(set(actors)), k, seed)
    plan = []
    for i in range(k):
        test, val = folds[i], folds[(i + 1) % k]
        train = set().union(*folds) - test - val
        plan.append((train, val, test))
    return plan


def cross_validate(clips: Sequence[VoiceClip], cfg: RecipeConfig) -> dict:
    """The model card's figures: per fold and mean ± std over folds, pooled confusion, calibration."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    folds = []
    all_true: list[int] = []
    all_pred: list[int] = []
    for i, (train_actors, val_actors, test_actors) in enumerate(fold_plan([c.actor for c in clips], cfg.folds,
                                                                          cfg.seed)):
        train = [c for c in clips if c.actor in train_actors]
        val = [c for c in clips if c.actor in val_actors]
        test = [c for c in clips if c.actor in test_actors]
        t0 = time.perf_counter()
        result = train_model(train, val, cfg, seed=cfg.seed * 100 + i, tag=f"fold {i + 1}/{cfg.folds} ")
        temperature = fit_temperature(predict_logits(result.model, val, cfg.normalisation), [c.label for c in val])
        y = np.array([c.label for c in test])
        raw = read_as_uploads(result.model, test, cfg.normalisation, 1.0)
        calibrated = read_as_uploads(result.model, test, cfg.normalisation, temperature)
        heard = ~np.isnan(raw).any(axis=1)
        predicted = np.where(heard, np.nan_to_num(calibrated).argmax(1), -1)
        metrics = classification_metrics(y, predicted, abstain=True)
        metrics["calibration"] = {"temperature": temperature,
                                  "ece_before": expected_calibration_error(raw[heard], y[heard]),
                                  "ece_after": expected_calibration_error(calibrated[heard], y[heard])}
        metrics.update(fold=i + 1, test_actors=sorted(test_actors), val_actors=sorted(val_actors),
                       best_epoch=result.best_epoch, val_uar=result.val_uar,
                       seconds=round(time.perf_counter() - t0, 1), clips=len(test))
        folds.append(metrics)
        all_true += y.tolist()
        all_pred += predicted.tolist()
        log.info("fold %d: test UAR %.3f WAR %.3f (best epoch %d, %.0f s)", i + 1, metrics["uar"], metrics["war"],
                 result.best_epoch, metrics["seconds"])
    summary = summarize_folds(folds, ("war", "uar", "macro_f1"))
    summary["ece_after"] = summarize_folds([f["calibration"] for f in folds], ("ece_before", "ece_after"))
    pooled = classification_metrics(all_true, all_pred, abstain=True)
    return {"protocol": f"{cfg.folds}-fold over actors (seed {cfg.seed}), each test clip read as an upload",
            "folds": folds, "summary": summary, "pooled": pooled, "classes": list(CLASSES)}


# --- the shipped model ----------------------------------------------------------------------------


def fit_final(clips: Sequence[VoiceClip], cfg: RecipeConfig) -> tuple[VoiceNet, float, dict]:
    """The model that ships: trained on all actors but one fold, which picks the epoch and the
    temperature (so the calibration is fitted on speakers the model never heard)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    folds = actor_folds(sorted({c.actor for c in clips}), cfg.folds, cfg.seed)
    val_actors = folds[0]
    train = [c for c in clips if c.actor not in val_actors]
    val = [c for c in clips if c.actor in val_actors]
    result = train_model(train, val, cfg, seed=cfg.seed * 100 + 99, tag="final ")
    logits = predict_logits(result.model, val, cfg.normalisation)
    temperature = fit_temperature(logits, [c.label for c in val])
    final = {"val_actors": sorted(val_actors), "train_actors": sorted({c.actor for c in train}),
             "best_epoch": result.best_epoch, "val_uar": result.val_uar, "train_clips": len(train),
             "val_clips": len(val)}
    return result.model, temperature, final


def save_voice_model(model: VoiceNet, cfg: RecipeConfig, temperature: float, out_dir: str | Path, *,
                     name: str, data: str, figures: dict, final: dict) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (with the weights' sha256) atomically."""
    import json

    from safetensors.torch import save_file

    from mmer.fsutil import atomic_path, write_json_atomic
    from mmer.voice.expert import CONFIG_NAME, FORMAT, FORMAT_VERSION, WEIGHTS_NAME, sha256

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_NAME
    with atomic_path(weights) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "data": data,
              "classes": list(CLASSES), "net": cfg.net.to_dict(), "normalisation": cfg.normalisation,
              "sample_rate": SAMPLE_RATE, "temperature": temperature, "recipe": cfg.to_dict(), "final": final,
              "figures": figures, "parameters": sum(p.numel() for p in model.parameters()),
              "sha256": sha256(weights)}
    json.dumps(config)  # fail before writing anything if a value is not JSON
    write_json_atomic(out / CONFIG_NAME, config)
    return out
