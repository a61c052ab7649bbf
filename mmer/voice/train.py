"""The voice expert's recipe: speaker-independent K-fold measurement, then the model that ships.

Protocol (what the model card reports): actors are split into K folds (seeded); for fold k the
test actors are fold k, the validation actors (early stopping, temperature) are fold k+1, and the
model learns from the rest. Every test clip is read on its own, as one upload would be: its
speech found by the VAD, normalised within itself (:mod:`mmer.voice.features`), nothing from the
speaker's other clips. The shipped model is trained the same way on all folds but one (kept for
early stopping and calibration); the K-fold figures measure the recipe that made it.

Augmentation while training, all on the waveform or the spectrogram: a random crop of random length
(half a second, a single word, up to a sentence), speed perturbation (tempo and pitch together, which
also varies the apparent speaker), reverberation, band-limiting (telephone, or a low-pass as cheap
microphones and codecs give), gain, noise at a random SNR, and SpecAugment's time and frequency masks.
Each stands for a way real uploads differ from RAVDESS's studio takes; ``benchmarks/voice_levers.py``
measures what each costs the shipped model.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
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
    summarize_folds,
)
from mmer.voice import vad
from mmer.voice.calibration import Calibration, fit_calibration
from mmer.voice.features import SAMPLE_RATE, voice_frames
from mmer.voice.model import EncoderHead, VoiceNet, VoiceNetConfig

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
    #: Each training example is a random stretch of its clip, of a length drawn from this range (s).
    crop_s: tuple[float, float] = (0.4, 3.0)
    normalisation: str = "level"
    # augmentation
    speed: tuple[float, float] = (0.9, 1.1)
    gain_db: float = 20.0
    noise_p: float = 0.5
    snr_db: tuple[float, float] = (5.0, 40.0)
    reverb_p: float = 0.3
    rt60_s: tuple[float, float] = (0.2, 0.8)
    band_p: float = 0.3
    freq_masks: int = 2
    freq_mask_bins: int = 8
    time_masks: int = 2
    time_mask_frames: int = 20
    mixup: float = 0.0
    #: "encoder" head: besides each clip's whole speech, this many augmented random stretches of it
    #: (every augmentation above) are read by the encoder once, each ``example_s`` long: a word or
    #: two, since a clip's whole speech already gives the sentence (TurEV's words: median 0.75 s).
    examples_per_clip: int = 4
    example_s: tuple[float, float] = (0.5, 1.5)
    #: "encoder" head: L2 penalty on its weights (per example, on standardised statistics).
    l2: float = 0.01
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
    crop = int(rng.uniform(*cfg.crop_s) * SAMPLE_RATE)
    if len(wave) > crop:
        start = rng.integers(0, len(wave) - crop + 1)
        wave = wave[start:start + crop]
    if rng.random() < cfg.reverb_p:
        wave = reverberate(wave, rng.uniform(*cfg.rt60_s), rng)
    if rng.random() < cfg.band_p:
        wave = band_limit(wave, *((300.0, 3400.0) if rng.random() < 0.5 else (0.0, rng.uniform(2500.0, 6000.0))))
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


def reverberate(wave: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """``wave`` in a room whose sound decays by 60 dB in ``rt60_s``: convolved with a synthetic
    impulse response (the direct sound, then exponentially decaying noise), at the same loudness."""
    n = max(1, int(rt60_s * SAMPLE_RATE))
    rir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    rir[0] = 1.0
    size = len(wave) + n - 1
    out = np.fft.irfft(np.fft.rfft(wave, size) * np.fft.rfft(rir, size), size)[:len(wave)]
    out *= math.sqrt((float(np.mean(wave**2)) + 1e-12) / (float(np.mean(out**2)) + 1e-12))
    return out.astype(np.float32)


def band_limit(wave: np.ndarray, low_hz: float, high_hz: float, edge_hz: float = 150.0) -> np.ndarray:
    """``wave`` with only ``low_hz``–``high_hz`` left (cosine edges ``edge_hz`` wide): a telephone's
    band (300–3400 Hz) or a cheap microphone's or codec's low-pass."""
    spectrum = np.fft.rfft(wave)
    freqs = np.fft.rfftfreq(len(wave), 1.0 / SAMPLE_RATE)
    rise = np.clip((freqs - low_hz + edge_hz) / edge_hz, 0.0, 1.0) if low_hz > 0 else np.ones_like(freqs)
    fall = np.clip((high_hz + edge_hz - freqs) / edge_hz, 0.0, 1.0)
    mask = np.sin(0.5 * np.pi * rise) ** 2 * np.sin(0.5 * np.pi * fall) ** 2
    return np.fft.irfft(spectrum * mask, len(wave)).astype(np.float32)


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
    model: nn.Module
    best_epoch: int
    val_uar: float
    history: list[dict]
    val_logits: np.ndarray | None = None  # each validation clip's whole speech, for the temperature


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


@dataclass
class Readings:
    """Clips read as uploads, kept per scored window so that any calibration can be applied later:
    each window's ``logits``, ``unfamiliarity`` (None: the model cannot say), seconds of speech and
    the index of its clip; each clip's label and actor."""

    logits: np.ndarray
    unfamiliarity: np.ndarray | None
    speech_s: np.ndarray
    clip: np.ndarray
    labels: np.ndarray
    actors: np.ndarray

    def probabilities(self, calibration: Calibration) -> np.ndarray:
        """(N, 6) each clip's answer as the service gives it (:func:`clip_probabilities`: windows
        averaged by seconds of speech); a row of NaN where no window had speech."""
        from mmer.voice.expert import calibrated, speech_weighted

        probs = calibrated(self.logits, self.unfamiliarity, calibration)
        out = np.full((len(self.labels), NUM_CLASSES), np.nan)
        for i in np.unique(self.clip):
            w = self.clip == i
            out[i] = speech_weighted(probs[w], self.speech_s[w])
        return out

    def windows(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(logits, unfamiliarity, labels) of every window: what a calibration is fitted on."""
        return self.logits, self.unfamiliarity, self.labels[self.clip]

    def without_actors(self, actors: Sequence[str]) -> Readings:
        """The readings of every clip not spoken by ``actors``."""
        keep = ~np.isin(self.actors, list(actors))
        new_index = np.cumsum(keep) - 1
        w = keep[self.clip]
        return Readings(self.logits[w], None if self.unfamiliarity is None else self.unfamiliarity[w],
                        self.speech_s[w], new_index[self.clip[w]], self.labels[keep], self.actors[keep])

    @staticmethod
    def join(parts: Sequence[Readings]) -> Readings:
        offsets = np.cumsum([0] + [len(r.labels) for r in parts])
        d = [r.unfamiliarity for r in parts]
        return Readings(np.concatenate([r.logits for r in parts]),
                        None if any(x is None for x in d) else np.concatenate(d),
                        np.concatenate([r.speech_s for r in parts]),
                        np.concatenate([r.clip + o for r, o in zip(parts, offsets, strict=False)]),
                        np.concatenate([r.labels for r in parts]), np.concatenate([r.actors for r in parts]))


def read_uploads(model: nn.Module, clips: Sequence[VoiceClip], normalisation: str,
                 encoder: nn.Module | None = None) -> Readings:
    """Each clip read exactly as the service reads an upload of it
    (:func:`mmer.voice.expert.read_windows`: the VAD over the whole file, 3-second windows, only
    windows with speech scored), keeping every scored window's reading (:class:`Readings`)."""
    from mmer.voice.expert import read_windows, speech_readings

    logits, distances, seconds, index = [], [], [], []
    for i, clip in enumerate(clips):
        if clip.path is None:
            raise InvalidValue(f"{clip.clip_id}: no file to read it from as an upload")

        def record(pieces: list[np.ndarray]) -> np.ndarray:
            z, d = speech_readings(model, pieces, normalisation, encoder)
            logits.append(z)
            distances.append(d)
            return z

        windows, _ = read_windows(media.decode_audio(clip.path, SAMPLE_RATE), record)
        for w in windows:
            if w.probs is not None:
                seconds.append(w.speech_s)
                index.append(i)
    unknown = any(d is None for d in distances)
    return Readings(np.concatenate(logits) if logits else np.zeros((0, NUM_CLASSES), np.float32),
                    None if unknown else np.concatenate(distances) if distances else np.zeros(0),
                    np.array(seconds, np.float64), np.array(index, np.int64),
                    np.array([c.label for c in clips], np.int64), np.array([c.actor for c in clips]))


def read_as_uploads(model: nn.Module, clips: Sequence[VoiceClip], normalisation: str,
                    temperature: float) -> np.ndarray:
    """(N, 6) probabilities, each clip read as the service reads an upload of it
    (:func:`read_uploads`) at one ``temperature``; a row of NaN where no window had speech (the
    service gives no voice answer there)."""
    return read_uploads(model, clips, normalisation).probabilities(Calibration(temperature))


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


# --- the encoder head ----------------------------------------------------------------------------


@dataclass
class EncoderExamples:
    """What the encoder made of the training material, computed once for every fold: ``stats``
    (M, D) per example, its ``label``, the index of its ``clip``, and whether it is the clip's
    ``whole`` speech (the rest are augmented stretches)."""

    stats: np.ndarray
    label: np.ndarray
    clip: np.ndarray
    whole: np.ndarray

    def of(self, clip_indices: set[int], *, whole_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        keep = np.isin(self.clip, sorted(clip_indices)) & (self.whole if whole_only else True)
        return self.stats[keep], self.label[keep]


def encoder_examples(clips: Sequence[VoiceClip], cfg: RecipeConfig,
                     progress: Callable[[int, int], None] | None = None) -> EncoderExamples:
    """Each clip's whole speech and ``cfg.examples_per_clip`` augmented random stretches of it
    (:func:`augment_wave`: a word to a sentence long, reverberant, band-limited, noisy, …), read by
    the speech encoder. Seeded per clip, so the examples do not depend on which clips are read."""
    from mmer.voice.encoder import encoder_statistics, load_encoder

    encoder = load_encoder()
    stretch = replace(cfg, crop_s=cfg.example_s)
    stats, label, clip, whole = [], [], [], []
    for i, c in enumerate(clips):
        rng = np.random.default_rng([cfg.seed, i])
        pieces = [c.wave] + [augment_wave(c.wave, stretch, rng) for _ in range(cfg.examples_per_clip)]
        stats.append(encoder_statistics(encoder, pieces))
        label += [c.label] * len(pieces)
        clip += [i] * len(pieces)
        whole += [True] + [False] * cfg.examples_per_clip
        if progress is not None:
            progress(i + 1, len(clips))
    return EncoderExamples(np.concatenate(stats), np.array(label), np.array(clip), np.array(whole))


def train_head(x: np.ndarray, y: np.ndarray, cfg: RecipeConfig) -> EncoderHead:
    """The linear head on ``x`` (encoder statistics) → ``y``: class-balanced cross-entropy with an L2
    penalty, a convex problem solved to convergence (L-BFGS, full batch): no epochs to choose."""
    head = EncoderHead(replace(cfg.net, input_dim=x.shape[1]))
    head.mean.copy_(torch.from_numpy(x.mean(axis=0)))
    head.scale.copy_(torch.from_numpy(x.std(axis=0) + 1e-5))
    if head.config.subspace:  # the training statistics' principal directions, for unfamiliarity
        z = head.standardise(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
        head.basis.copy_(torch.linalg.svd(z - z.mean(dim=0), full_matrices=False).Vh[:head.config.subspace])
    counts = np.bincount(y, minlength=NUM_CLASSES).astype(np.float64)
    weights = torch.tensor(counts.sum() / np.maximum(counts, 1) / NUM_CLASSES, dtype=torch.float32)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(y.astype(np.int64))
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    optimiser = torch.optim.LBFGS(head.linear.parameters(), lr=1.0, max_iter=500, tolerance_grad=1e-6,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = loss_fn(head(xt), yt) + cfg.l2 * head.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return head.eval()


def fit_head(train: set[int], val: set[int], cfg: RecipeConfig, examples: EncoderExamples) -> FoldResult:
    """The head on the examples of the ``train`` clips (indices), with the ``val`` clips' whole-speech logits."""
    head = train_head(*examples.of(train), cfg)
    x_val, y_val = examples.of(val, whole_only=True)
    with torch.inference_mode():
        logits = head(torch.from_numpy(x_val)).numpy()
    uar = classification_metrics(y_val, logits.argmax(1))["uar"] if len(y_val) else float("nan")
    return FoldResult(model=head, best_epoch=0, val_uar=uar, history=[], val_logits=logits)


def _fit(clips: Sequence[VoiceClip], train: set[str], val: set[str], cfg: RecipeConfig, *, seed: int, tag: str,
         examples: EncoderExamples | None) -> FoldResult:
    """One model of the recipe, on the clips of the ``train`` actors, with the ``val`` actors'
    logits (their whole speech) for the temperature."""
    if examples is not None:
        return fit_head({i for i, c in enumerate(clips) if c.actor in train},
                        {i for i, c in enumerate(clips) if c.actor in val}, cfg, examples)
    fit = [c for c in clips if c.actor in train]
    held = [c for c in clips if c.actor in val]
    result = train_model(fit, held, cfg, seed=seed, tag=tag)
    result.val_logits = predict_logits(result.model, held, cfg.normalisation)
    return result


def fold_plan(actors: Sequence[str], k: int, seed: int) -> list[tuple[set[str], set[str], set[str]]]:
    """(train, val, test) actor sets per fold: test fold k, validation fold k+1."""
    folds = actor_folds(sorted(set(actors)), k, seed)
    plan = []
    for i in range(k):
        test, val = folds[i], folds[(i + 1) % k]
        train = set().union(*folds) - test - val
        plan.append((train, val, test))
    return plan


def progress_log(what: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            log.info("%s: %d of %d clips", what, done, total)
    return report


def cross_validate(clips: Sequence[VoiceClip], cfg: RecipeConfig, examples: EncoderExamples | None = None, *,
                   collect: list[Readings] | None = None) -> dict:
    """The model card's figures: per fold and mean ± std over folds, pooled confusion, calibration.
    ``collect`` receives each fold's test readings (every actor read by a model that never heard
    them: a development set for the shipped calibration, :func:`calibrate_off_corpus`)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    folds = []
    all_true: list[int] = []
    all_pred: list[int] = []
    if examples is None and cfg.net.arch == "encoder":
        examples = encoder_examples(clips, cfg, progress_log("encoder examples"))
    for i, (train_actors, val_actors, test_actors) in enumerate(fold_plan([c.actor for c in clips], cfg.folds,
                                                                          cfg.seed)):
        val = [c for c in clips if c.actor in val_actors]
        test = [c for c in clips if c.actor in test_actors]
        t0 = time.perf_counter()
        result = _fit(clips, train_actors, val_actors, cfg, seed=cfg.seed * 100 + i, tag=f"fold {i + 1}/{cfg.folds} ",
                      examples=examples)
        temperature = fit_temperature(result.val_logits, [c.label for c in val])
        y = np.array([c.label for c in test])
        readings = read_uploads(result.model, test, cfg.normalisation)
        if collect is not None:
            collect.append(readings)
        raw = readings.probabilities(Calibration(1.0))
        calibrated = readings.probabilities(Calibration(temperature))
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


def fit_final(clips: Sequence[VoiceClip], cfg: RecipeConfig,
              examples: EncoderExamples | None = None) -> tuple[nn.Module, float, dict]:
    """The model that ships: trained on all actors but one fold, which picks the epoch and the
    temperature (so the calibration is fitted on speakers the model never heard)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    folds = actor_folds(sorted({c.actor for c in clips}), cfg.folds, cfg.seed)
    val_actors = folds[0]
    train = [c for c in clips if c.actor not in val_actors]
    val = [c for c in clips if c.actor in val_actors]
    if examples is None and cfg.net.arch == "encoder":
        examples = encoder_examples(clips, cfg, progress_log("encoder examples"))
    result = _fit(clips, {c.actor for c in train}, set(val_actors), cfg, seed=cfg.seed * 100 + 99, tag="final ",
                  examples=examples)
    temperature = fit_temperature(result.val_logits, [c.label for c in val])
    final = {"val_actors": sorted(val_actors), "train_actors": sorted({c.actor for c in train}),
             "best_epoch": result.best_epoch, "val_uar": result.val_uar, "train_clips": len(train),
             "val_clips": len(val)}
    if isinstance(result.model, EncoderHead) and result.model.config.subspace and examples is not None:
        x, _ = examples.of({i for i, c in enumerate(clips) if c.actor not in val_actors})
        with torch.inference_mode():
            d = result.model.unfamiliarity(torch.from_numpy(x))
        final["unfamiliarity_reference"] = float(d.median())  # a typical training example's
    return result.model, temperature, final


def calibrate_off_corpus(model: nn.Module, cfg: RecipeConfig, data: Path, speakers: Sequence[str], *,
                         in_corpus: Readings | None = None, reference: float = 0.0) -> dict:
    """The shipped calibration (:mod:`mmer.voice.calibration`), fitted on the TurEV-DB words of
    ``speakers`` (in ``data``) read as uploads by ``model``, and on ``in_corpus``: RAVDESS actors
    read by cross-validation models that never heard them. Where the voice must be calibrated is
    off its training corpus as well as on it: one temperature fitted on RAVDESS alone makes it sure
    of itself where it is wrong, one fitted on TurEV alone makes it flat where it is right. Where the
    model measures unfamiliarity, the temperature grows with it; else one temperature is fitted.
    Returns the calibration and what it was fitted on."""
    from mmer.datasets.turev import load_turev

    words = [w for w in load_turev(data) if w.speaker in set(speakers)]
    if not words:
        raise InvalidValue(f"no TurEV-DB words of {', '.join(speakers)} in {data}")
    clips = [VoiceClip(w.clip_id, w.speaker, w.label_id, np.zeros(0, np.float32), w.path) for w in words]
    turev = read_uploads(model, clips, cfg.normalisation)
    groups = [turev.windows()]
    if in_corpus is not None:
        groups.append(in_corpus.windows())
    with_slope = isinstance(model, EncoderHead) and bool(model.config.subspace)
    calibration = fit_calibration(groups, reference, with_slope=with_slope)
    single = fit_calibration(groups, reference, with_slope=False)
    return {**calibration.to_dict(), "data": "TurEV-DB" + (" + RAVDESS (cross-validation)" if in_corpus else ""),
            "speakers": sorted(set(speakers)), "words": int(len(np.unique(turev.clip))),
            "ravdess_clips": int(len(np.unique(in_corpus.clip))) if in_corpus is not None else 0,
            "ravdess_actors": sorted(set(in_corpus.actors.tolist())) if in_corpus is not None else [],
            "single_temperature": single.temperature,
            "protocol": "each clip read as an upload; NLL over the windows heard, each development set weighted "
                        "equally"}


def save_voice_model(model: nn.Module, cfg: RecipeConfig, calibration: Calibration, out_dir: str | Path, *,
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
    net = model.config if isinstance(model, EncoderHead) else cfg.net
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "data": data,
              "classes": list(CLASSES), "net": net.to_dict(), "normalisation": cfg.normalisation,
              "sample_rate": SAMPLE_RATE, "temperature": calibration.temperature,
              "calibration": calibration.to_dict(), "recipe": cfg.to_dict(), "final": final,
              "figures": figures, "parameters": sum(p.numel() for p in model.parameters()),
              "sha256": sha256(weights)}
    json.dumps(config)  # fail before writing anything if a value is not JSON
    write_json_atomic(out / CONFIG_NAME, config)
    return out
