"""ViViT (Arnab et al. 2021) as a video backbone: face clips → one vector per tubelet time step.

The default checkpoint is ViViT-B 16x2 fine-tuned on Kinetics-400 (Apache-2.0), converted to
transformers by Google/Hugging Face. It sees ``config.num_frames`` frames (32) at
``config.image_size`` (224²), cut into tubelets of ``tubelet_size`` = (2, 16, 16): 16 time steps
× 14 × 14 patches, plus a CLS token.

Output per clip: the last hidden state without the CLS token, averaged over space for each
tubelet time step, so the fusion model gets a (16, 768) sequence that keeps the clip's time
course (the CLS token and the pooler summarise the clip for Kinetics' action classes instead).

Preprocessing is the evaluation transform ViViT was trained with, replicated here in torch
(nothing is downloaded): the shorter side resized to ``image_size · 256/224`` with antialiased
bilinear interpolation and rounded to 8-bit levels (what PIL does in ``VivitImageProcessor``),
a centre crop of ``image_size``, then ``x / 127.5 - 1`` (pixels in [-1, 1]). Note that the
installed ``VivitImageProcessor`` (transformers 5.24, ``models/vivit/image_processing_vivit.py``)
by default also applies mean = std = 0.5 *after* that offset, which maps pixels to [-3, 1];
the original Scenic/DMVR pipeline and transformers' own conversion script
(``convert_vivit_flax_to_pytorch.py``, which asserts ``do_normalize is False`` and checks the
converted logits that way) feed [-1, 1], so that is what this backbone does.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mmer.errors import InvalidValue
from mmer.features.base import VideoBackbone, check_frames
from mmer.features.hub import dtype_name, load_pretrained, select_device, select_dtype

log = logging.getLogger(__name__)

DEFAULT_SOURCE = "google/vivit-b-16x2-kinetics400"
#: Kinetics evaluation transform: shorter side to 256, centre crop 224 (the ratio scales with image_size).
RESIZE_RATIO = 256 / 224
#: Names the preprocessing in ``config()`` so cached features are redone if it ever changes.
PREPROCESS = "shortest-edge*256/224 bilinear-aa uint8-round, centre-crop, x/127.5-1"


class VivitBackbone(VideoBackbone):
    """Face crops (T, H, W, 3) uint8 → (num_frames / tubelet_t, hidden_size) float32 per clip.

    Build it with :meth:`from_pretrained` (real weights, or an error) or, in tests and
    benchmarks, :meth:`from_config` (random weights, marked as such in :meth:`config`).
    """

    name = "vivit"

    def __init__(self, model: Any, *, source: str, device: str | torch.device = "auto",
                 dtype: str | torch.dtype | None = None, num_frames: int | None = None, batch_size: int = 8,
                 random_init: bool = False, revision: str | None = None) -> None:
        cfg = model.config
        self.model_frames: int = int(cfg.num_frames)
        self.image_size: int = _square_size(cfg.image_size)
        self.tubelet: tuple[int, int, int] = tuple(int(x) for x in cfg.tubelet_size)  # type: ignore[assignment]
        self.steps = self.model_frames // self.tubelet[0]
        if (num_frames is not None and num_frames < 1) or batch_size < 1:
            raise InvalidValue(f"num_frames and batch_size must be positive, got {num_frames}, {batch_size}")
        if self.steps < 1 or self.image_size < self.tubelet[1] or self.image_size < self.tubelet[2]:
            raise InvalidValue(f"ViViT config gives no tubelets: {self.model_frames} frames of {self.image_size}² "
                             f"with tubelets {self.tubelet}")
        self.num_frames = num_frames or self.model_frames
        if self.num_frames != self.model_frames:
            log.warning("ViViT takes %d frames; the %d sampled per clip are resampled to %d (frames repeat or drop)",
                        self.model_frames, self.num_frames, self.model_frames)
        self.source = source
        self.dim = int(cfg.hidden_size)
        self.batch_size = batch_size
        self.random_init = random_init
        self.revision = revision
        self.device = select_device(device)
        self.dtype = select_dtype(dtype, self.device)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()

    @classmethod
    def from_pretrained(cls, source: str | Path = DEFAULT_SOURCE, *, device: str | torch.device = "auto",
                        dtype: str | torch.dtype | None = None, num_frames: int | None = None,
                        batch_size: int = 8) -> VivitBackbone:
        """The backbone with every weight from ``source`` (hub id or folder); never random.

        A ``VivitForVideoClassification`` checkpoint (weights under ``vivit.`` plus a classifier,
        no pooler) loads fine. The model is built without its pooler: the CLS-token pooler is not
        used here, and the default checkpoint does not carry one, so it is never random either.
        Raises :class:`~mmer.features.base.BackboneUnavailable` (one line) otherwise.
        """
        from transformers import VivitModel

        model, name = load_pretrained(VivitModel, source, what="ViViT", add_pooling_layer=False)
        return cls(model, source=name, device=device, dtype=dtype, num_frames=num_frames, batch_size=batch_size,
                   revision=getattr(model.config, "_commit_hash", None))

    @classmethod
    def from_config(cls, config: Any, *, device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
                    num_frames: int | None = None, batch_size: int = 8) -> VivitBackbone:
        """A backbone with RANDOM weights built from a ``VivitConfig``: for tests and benchmarks only."""
        from transformers import VivitModel

        model = VivitModel(copy.deepcopy(config), add_pooling_layer=False)
        return cls(model, source="", device=device, dtype=dtype, num_frames=num_frames, batch_size=batch_size,
                   random_init=True)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "model_frames": self.model_frames, "image_size": self.image_size,
                "tubelet_size": list(self.tubelet), "steps": self.steps, "pooling": "mean over space per step",
                "preprocess": PREPROCESS, "dtype": dtype_name(self.dtype), "revision": self.revision,
                "random_init": self.random_init}

    def embed(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """One (steps, dim) float32 array per clip, ``batch_size`` clips per forward pass.

        Each clip is processed independently of the others in its batch (no padding: every clip
        has the same shape after preprocessing).
        """
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(clips), self.batch_size):
                batch = torch.stack([self.preprocess(clip) for clip in clips[start:start + self.batch_size]])
                hidden = self.model(pixel_values=batch.to(self.dtype)).last_hidden_state
                pooled = pool_tubelets(hidden, self.steps).float().cpu().numpy()
                out.extend(np.ascontiguousarray(p) for p in pooled)
        return out

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 → (model_frames, 3, image_size, image_size) float32 on the model's device."""
        return preprocess_frames(frames, num_frames=self.model_frames, image_size=self.image_size,
                                 device=self.device)


def preprocess_frames(frames: np.ndarray, *, num_frames: int, image_size: int,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB → (num_frames, 3, image_size, image_size) float32 in [-1, 1].

    Frames are first resampled evenly to ``num_frames`` (see :func:`resample_indices`), then
    resized and cropped as ViViT's Kinetics evaluation did (module docstring). Runs on ``device``
    so that, on a GPU, the resizing does not hold up the model.
    """
    frames = check_frames(frames)
    frames = frames[resample_indices(len(frames), num_frames)]
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    height, width = x.shape[-2:]
    new_h, new_w = shortest_edge_size(height, width, round(image_size * RESIZE_RATIO))
    if (new_h, new_w) != (height, width):
        # PIL's bilinear filter widens its support when shrinking; torch's antialias=True matches it.
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        x = x.round_().clamp_(0, 255)  # PIL hands back 8-bit pixels
    top, left = (new_h - image_size) // 2, (new_w - image_size) // 2
    x = x[:, :, top:top + image_size, left:left + image_size]
    return x / 127.5 - 1.0


def shortest_edge_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(height, width) with the shorter side ``short``, the longer truncated as transformers does."""
    if width <= height:
        return int(short * height / width), short
    return short, int(short * width / height)


def resample_indices(count: int, n: int) -> np.ndarray:
    """``n`` frame indices spread evenly over ``count`` frames: the frame under the centre of each of
    ``n`` equal parts, as :func:`mmer.media.sample_frames` picks them in time (identity if equal)."""
    if count < 1 or n < 1:
        raise ValueError(f"cannot resample {count} frames to {n}")
    return np.minimum(((np.arange(n) + 0.5) * count / n).astype(np.int64), count - 1)


def pool_tubelets(hidden: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, 1 + N, D) last hidden state → (B, steps, D): drop CLS, average each time step over space.

    The tubelet Conv3d's output (B, D, T', H', W') is flattened in (t, h, w) order
    (``VivitTubeletEmbeddings.forward``: ``flatten(2).transpose(1, 2)``), so the N tokens are
    T' consecutive blocks of H'·W' patches.
    """
    tokens = hidden[:, 1:]
    batch, count, dim = tokens.shape
    if count % steps:
        raise ValueError(f"{count} tokens do not split into {steps} time steps")
    return tokens.reshape(batch, steps, count // steps, dim).mean(dim=2)


def _square_size(size: int | Iterable[int]) -> int:
    if isinstance(size, Iterable):
        h, w = (int(s) for s in size)
        if h != w:
            raise InvalidValue(f"only square ViViT inputs are supported, got image_size {size}")
        return h
    return int(size)
