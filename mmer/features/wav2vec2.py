"""Wav2Vec2 as an audio backbone: a 16 kHz waveform → one L2-normalised vector per clip.

The default checkpoint, ``audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim`` (Wagner et
al. 2022, "Dawn of the transformer era in speech emotion recognition": wav2vec2-large-robust
pruned to 12 layers and fine-tuned on MSP-Podcast for arousal, dominance and valence), is
licensed **CC-BY-NC-SA-4.0**: non-commercial use only, share-alike, with attribution.
Features extracted with it, and models trained on them, should be treated as bound by those
terms too. Its checkpoint is a custom speech-regression model: the encoder's weights under
``wav2vec2.`` and a regression head, which is ignored here (every encoder weight must load,
see below).

Per clip, exactly as the model's feature extractor (``Wav2Vec2FeatureExtractor``,
``do_normalize=True``) prepares it: zero mean and unit variance over the clip's own samples
(``(x - mean) / sqrt(var + 1e-7)``), then zeros after its end up to the longest clip in the
batch, with an attention mask. The vector is the mean of the last hidden state over the clip's
real frames (the sample mask converted to frames with the model's own conv arithmetic), then
L2-normalised. It is returned as float32; the feature cache stores float16.

Decisions:

* ``masked_spec_embed`` is SpecAugment's learnt mask vector, used only while training. The model
  is built without SpecAugment (``mask_time_prob = mask_feature_prob = 0``), so the parameter
  does not exist and a checkpoint may or may not carry it; every other weight must load.
* Batching must not change a clip's vector. With ``feat_extract_norm="layer"`` (the default
  checkpoint, and any "robust"/"lv60"/XLS-R model) it does not: every real frame's receptive field
  ends inside the clip, layer norm is per frame, and the encoder zeroes and masks padded frames, so
  a clip's vector alone and beside a longer clip agree to ~1e-6. A ``"group"``-norm feature encoder
  (wav2vec2-base and -large) normalises each channel over the whole padded sequence, so padding
  would leak into every frame: such models run one clip at a time, unpadded, as Hugging Face
  recommends for them. (On CUDA, PyTorch's default TF32 convolutions can move vectors by ~1e-3
  between batch shapes; set ``torch.backends.cudnn.allow_tf32 = False`` where that matters.)
* Clips are sorted by length and packed into batches of at most ``batch_size`` clips and
  ``max_batch_seconds`` of padded audio, which bounds GPU memory whatever the clip lengths; a
  clip longer than ``max_batch_seconds`` runs alone.
* A clip longer than ``max_clip_seconds`` (default 30 s; None turns this off) is normalised as a
  whole, cut into equal consecutive chunks of at most that length, each chunk run as its own
  sequence, and the vector is the mean over all chunks' frames. Self-attention memory grows with
  the square of the length (a 5-minute upload would need gigabytes on a CPU), and the model was
  fine-tuned on utterances of a few seconds anyway. Emotion datasets' clips (2–5 s) are never cut.
* Clips shorter than the convolutional receptive field (400 samples, 25 ms, for the standard
  feature encoder) are padded with zeros (after normalisation) to that length, which gives one
  frame; an empty clip is an error.
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmer.errors import InvalidValue
from mmer.features.base import AudioBackbone
from mmer.features.hub import dtype_name, load_pretrained, select_device, select_dtype

log = logging.getLogger(__name__)

DEFAULT_SOURCE = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
#: ``Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm``'s variance floor.
NORM_EPS = 1e-7
#: Names the preprocessing and pooling in ``config()`` so cached features are redone if they change.
NORMALIZE = "per-clip zero-mean unit-var (eps 1e-7), zero padding + attention mask"
POOLING = "masked mean of last hidden state, L2-normalised"


class Wav2Vec2Backbone(AudioBackbone):
    """(n,) float32 16 kHz waveforms → (hidden_size,) float32 unit vectors, batched by length.

    Build it with :meth:`from_pretrained` (real weights, or an error) or, in tests and
    benchmarks, :meth:`from_config` (random weights, marked as such in :meth:`config`).
    """

    name = "wav2vec2"

    def __init__(self, model: Any, *, source: str, device: str | torch.device = "auto",
                 dtype: str | torch.dtype | None = None, batch_size: int = 16, max_batch_seconds: float = 120.0,
                 max_clip_seconds: float | None = 30.0, random_init: bool = False,
                 revision: str | None = None) -> None:
        if batch_size < 1 or max_batch_seconds <= 0 or (max_clip_seconds is not None and max_clip_seconds <= 0):
            raise InvalidValue(f"batch_size, max_batch_seconds and max_clip_seconds must be positive, got "
                             f"{batch_size}, {max_batch_seconds}, {max_clip_seconds}")
        cfg = model.config
        self.source = source
        self.dim = int(cfg.output_hidden_size if getattr(cfg, "add_adapter", False) else cfg.hidden_size)
        self.batch_size = batch_size
        self.max_batch_seconds = float(max_batch_seconds)
        self.max_clip_seconds = None if max_clip_seconds is None else float(max_clip_seconds)
        self.random_init = random_init
        self.revision = revision
        self.feat_extract_norm = str(cfg.feat_extract_norm)
        #: Only a layer-norm feature encoder leaves a clip's frames untouched by padding (module docstring).
        self.batchable = self.feat_extract_norm == "layer"
        if not self.batchable:
            log.info("wav2vec2 feature encoder uses %s norm: clips run one at a time", self.feat_extract_norm)
        self.min_samples = min_input_samples(cfg.conv_kernel, cfg.conv_stride)
        self.device = select_device(device)
        self.dtype = select_dtype(dtype, self.device)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()

    @classmethod
    def from_pretrained(cls, source: str | Path = DEFAULT_SOURCE, *, device: str | torch.device = "auto",
                        dtype: str | torch.dtype | None = None, **kwargs: Any) -> Wav2Vec2Backbone:
        """The backbone with every encoder weight from ``source`` (hub id or folder); never random.

        Checkpoints with a head (``Wav2Vec2ForSequenceClassification``, audeering's regression
        model) load fine: the ``wav2vec2.`` prefix is stripped and the head ignored. ``kwargs``:
        ``batch_size``, ``max_batch_seconds``, ``max_clip_seconds``. Raises
        :class:`~mmer.features.base.BackboneUnavailable` (one line) when the weights are not here.
        """
        from transformers import Wav2Vec2Model

        model, name = load_pretrained(Wav2Vec2Model, source, what="Wav2Vec2", prepare_config=_inference_only)
        return cls(model, source=name, device=device, dtype=dtype,
                   revision=getattr(model.config, "_commit_hash", None), **kwargs)

    @classmethod
    def from_config(cls, config: Any, *, device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
                    **kwargs: Any) -> Wav2Vec2Backbone:
        """A backbone with RANDOM weights built from a ``Wav2Vec2Config``: for tests and benchmarks only."""
        from transformers import Wav2Vec2Model

        config = copy.deepcopy(config)
        _inference_only(config)
        return cls(Wav2Vec2Model(config), source="", device=device, dtype=dtype, random_init=True, **kwargs)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "normalize": NORMALIZE, "pooling": POOLING,
                "max_clip_seconds": self.max_clip_seconds, "feat_extract_norm": self.feat_extract_norm,
                "dtype": dtype_name(self.dtype), "revision": self.revision, "random_init": self.random_init}

    def embed(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """One (dim,) float32 unit vector per clip, in the order given; independent of the other clips."""
        pieces, owners = self._pieces(waves)
        sums = np.zeros((len(waves), self.dim), np.float64)
        counts = np.zeros(len(waves), np.int64)
        batch_size = self.batch_size if self.batchable else 1
        max_samples = int(self.max_batch_seconds * self.sample_rate)
        with torch.inference_mode():
            for batch in plan_batches([len(p) for p in pieces], batch_size, max_samples):
                frame_sums, frame_counts = self._forward([pieces[i] for i in batch])
                for i, total, count in zip(batch, frame_sums, frame_counts, strict=True):
                    sums[owners[i]] += total
                    counts[owners[i]] += count
        means = sums / counts[:, None]
        norms = np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return [np.ascontiguousarray(v, dtype=np.float32) for v in means / norms]

    def _pieces(self, waves: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
        """Normalised clips, long ones cut into chunks, each at least one frame long; and whose each is."""
        max_clip = None if self.max_clip_seconds is None else int(self.max_clip_seconds * self.sample_rate)
        pieces: list[np.ndarray] = []
        owners: list[int] = []
        for index, wave in enumerate(waves):
            for piece in split_long(normalize_wave(wave), max_clip):
                pieces.append(pad_to(piece, self.min_samples))
                owners.append(index)
        return pieces, owners

    def _forward(self, pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Sum of last-hidden-state vectors over each piece's real frames, and how many frames."""
        lengths = torch.tensor([len(p) for p in pieces])
        inputs = torch.zeros(len(pieces), int(lengths.max()))
        mask = torch.zeros(len(pieces), int(lengths.max()), dtype=torch.long)
        for row, piece in enumerate(pieces):
            inputs[row, :len(piece)] = torch.from_numpy(piece)
            mask[row, :len(piece)] = 1
        hidden = self.model(input_values=inputs.to(self.device, self.dtype),
                            attention_mask=mask.to(self.device) if self.batchable else None).last_hidden_state
        frames = self.model._get_feat_extract_output_lengths(lengths).clamp(max=hidden.shape[1]).to(self.device)
        keep = torch.arange(hidden.shape[1], device=self.device)[None, :] < frames[:, None]
        totals = (hidden.float() * keep[..., None]).sum(dim=1)
        return totals.double().cpu().numpy(), frames.cpu().numpy()


def normalize_wave(wave: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the clip's own samples (``Wav2Vec2FeatureExtractor``'s
    ``do_normalize``), computed in float64 and returned as float32."""
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono (n,) waveform, got shape {wave.shape}")
    if wave.size == 0:
        raise ValueError("empty waveform")
    x = wave.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("waveform has NaN or infinite samples")
    return ((x - x.mean()) / np.sqrt(x.var() + NORM_EPS)).astype(np.float32)


def split_long(wave: np.ndarray, max_samples: int | None) -> list[np.ndarray]:
    """``wave`` as is, or cut into the fewest equal consecutive chunks of at most ``max_samples``."""
    if max_samples is None or len(wave) <= max_samples:
        return [wave]
    return np.array_split(wave, math.ceil(len(wave) / max_samples))


def pad_to(wave: np.ndarray, min_samples: int) -> np.ndarray:
    """Zeros appended up to ``min_samples`` (after normalisation: silence at the clip's mean)."""
    return wave if len(wave) >= min_samples else np.pad(wave, (0, min_samples - len(wave)))


def plan_batches(lengths: list[int], batch_size: int, max_samples: int) -> list[list[int]]:
    """Indices into ``lengths`` grouped into batches, longest first.

    A batch holds at most ``batch_size`` items and at most ``max_samples`` of padded audio
    (items × its longest); an item longer than ``max_samples`` on its own forms a batch alone.
    Sorting keeps padding small; ties keep the given order, so the plan is deterministic.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        current = batches[-1] if batches else []
        if current and len(current) < batch_size and lengths[current[0]] * (len(current) + 1) <= max_samples:
            current.append(i)
        else:
            batches.append([i])
    return batches


def min_input_samples(kernels: Any, strides: Any) -> int:
    """The fewest samples that give one output frame: the feature encoder's receptive field."""
    field = 1
    for kernel, stride in reversed(list(zip(kernels, strides, strict=True))):
        field = (field - 1) * int(stride) + int(kernel)
    return field


def _inference_only(config: Any) -> None:
    """Leave SpecAugment out: it only acts in training, and its ``masked_spec_embed`` is the one
    parameter a checkpoint may lack without the model being incomplete."""
    config.mask_time_prob = 0.0
    config.mask_feature_prob = 0.0
