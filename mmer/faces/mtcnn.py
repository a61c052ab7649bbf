"""MTCNN face detector (Zhang et al. 2016): a cascade of three small CNNs, run with PyTorch on the CPU.

The Haar cascade misses a quarter of the 2,000 real photos of faces-in-the-wild (75 % found, 82 ms
each on one core); MTCNN finds 97 % of them in 27 ms, and 99 % of the faces pasted into 1280×720
frames (``benchmarks/detectors.py``). Its weights (2 MB) come from a PyPI wheel, the one registry
these machines reach: the MIT-licensed ``facenet-pytorch`` 2.6.0 ships P-Net, R-Net and O-Net as
state dicts. :func:`mmer.weights.fetch_mtcnn` checks and converts them once into
``$MMER_CACHE_DIR/mtcnn/`` (``mmer weights fetch``); the networks below are written here from the
published architecture, with the layer names of those state dicts.

The cascade:

1. P-Net, fully convolutional (a 12×12 window, stride 2), scans an image pyramid whose levels are
   chosen so that faces from ``min_face`` to ``max_face`` fill its window; each level's proposals
   are thinned by non-maximum suppression (NMS), then all levels together;
2. R-Net re-scores 24×24 crops of the (squared, regressed) proposals;
3. O-Net re-scores 48×48 crops and gives the final box, score and five landmarks (eyes, nose tip,
   mouth corners), which :mod:`mmer.faces.align` uses to cut faces upright.

torch is imported when a detector (or a network) is built, not with this module: ``mmer faces`` with
the Haar backend starts a process per worker, and each would otherwise pay torch's import for nothing.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mmer.errors import InvalidValue
from mmer.faces.base import Detection, FaceDetector, FaceDetectorUnavailable, check_image
from mmer.paths import default_mtcnn_path

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: P-Net's window and stride on each pyramid level, and the crop sides R-Net and O-Net take.
PNET_WINDOW = 12
PNET_STRIDE = 2
RNET_SIZE = 24
ONET_SIZE = 48
#: Per-stage face-probability thresholds: the values the MTCNN authors published.
DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)
#: Pyramid levels differ by this factor (MTCNN's customary 0.709 is its inverse).
DEFAULT_SCALE_FACTOR = 1.41
#: NMS overlaps: within one pyramid level, across levels and after R-Net, and after O-Net, where
#: overlap is measured on the smaller box so that a box inside a larger one goes too.
_NMS_LEVEL = 0.5
_NMS_STAGE = 0.7
_NMS_FINAL = 0.7
#: Columns of the cascade's final rows: box (4), score, the five landmarks' x, then their y.
_LANDMARK_X = slice(5, 10)
_LANDMARK_Y = slice(10, 15)
#: Crops per R-Net/O-Net forward pass: a noisy frame can yield thousands of proposals, and this
#: bounds the memory one pass takes (O-Net: 256 × 48 × 48 × 3 floats, 7 MB).
_BATCH = 256


# --- networks ------------------------------------------------------------------------------------


@functools.cache
def _networks() -> dict[str, type]:
    """The network classes, defined on first use (see the module's note on importing torch).

    Layer names and shapes are those of facenet-pytorch's ``pnet.pt``/``rnet.pt``/``onet.pt``, so
    those state dicts load strictly. Inputs are RGB, NCHW, scaled as ``(x - 127.5) / 128``; R-Net
    and O-Net flatten their last feature map in (width, height, channel) order, the order their
    dense layers were trained with (the weights descend from a Caffe model via TensorFlow).
    """
    import torch
    from torch import nn

    def flatten_whc(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)

    class PNet(nn.Module):
        """12×12 window → face probability and box offsets, on a grid of stride 2 over any image."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
            self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
            self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
            self.conv4_1 = nn.Conv2d(32, 2, 1)  # not-face / face logits
            self.conv4_2 = nn.Conv2d(32, 4, 1)  # box offsets, in window sides

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
            return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)

    class RNet(nn.Module):
        """24×24 crop → face probability and box offsets."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
            self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
            self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
            self.dense4, self.prelu4 = nn.Linear(64 * 3 * 3, 128), nn.PReLU(128)
            self.dense5_1 = nn.Linear(128, 2)
            self.dense5_2 = nn.Linear(128, 4)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.pool2(self.prelu2(self.conv2(x)))
            x = self.prelu4(self.dense4(flatten_whc(self.prelu3(self.conv3(x)))))
            return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)

    class ONet(nn.Module):
        """48×48 crop → face probability, box offsets and five landmarks: ten fractions of the crop,
        the five x (left eye, right eye, nose, mouth left, mouth right: as the image shows them), then
        the five y."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
            self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
            self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
            self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
            self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
            self.dense5, self.prelu5 = nn.Linear(128 * 3 * 3, 256), nn.PReLU(256)
            self.dense6_1 = nn.Linear(256, 2)
            self.dense6_2 = nn.Linear(256, 4)
            self.dense6_3 = nn.Linear(256, 10)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.pool2(self.prelu2(self.conv2(x)))
            x = self.pool3(self.prelu3(self.conv3(x)))
            x = self.prelu5(self.dense5(flatten_whc(self.prelu4(self.conv4(x)))))
            return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)

    class MtcnnNets(nn.Module):
        """The three stages in one module: one state dict (``pnet.*``, ``rnet.*``, ``onet.*``), one file."""

        def __init__(self) -> None:
            super().__init__()
            self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()

    return {"PNet": PNet, "RNet": RNet, "ONet": ONet, "MtcnnNets": MtcnnNets}


def __getattr__(name: str) -> type:
    """``from mmer.faces.mtcnn import PNet`` (or RNet, ONet, MtcnnNets) defines the networks then."""
    if name in ("PNet", "RNet", "ONet", "MtcnnNets"):
        return _networks()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_mtcnn(path: str | Path, device: str = "cpu") -> torch.nn.Module:
    """The three networks with the converted weights at ``path`` (every tensor required), in eval mode."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    nets = _networks()["MtcnnNets"]()
    try:
        nets.load_state_dict(load_file(str(path), device="cpu"), strict=True)
    except (OSError, RuntimeError, SafetensorError) as exc:
        raise FaceDetectorUnavailable(f"cannot load MTCNN weights {path}: {str(exc).splitlines()[0]}; "
                                      f"run `mmer weights fetch`") from exc
    # Channels-last: the convolutions run about 1.5× faster on the CPU, and the images are
    # channels-last already (H, W, 3), so the inputs need no copy.
    return nets.to(device, memory_format=torch.channels_last).eval()


def _device(device: str) -> str:
    import torch

    from mmer.faces.yolo import resolve_device

    resolved = resolve_device(device)
    try:
        torch.device(resolved)
    except RuntimeError as exc:
        raise InvalidValue(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from exc
    return resolved


# --- boxes (x1, y1, x2, y2 in pixel edges: a pixel at column c spans [c, c + 1)) --------------------


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, *, over_smaller: bool = False) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first.

    A box is dropped when it overlaps a better kept one by more than ``threshold``: intersection
    over union, or over the smaller of the two boxes (``over_smaller``). Ties keep input order
    (stable sort), so the result never depends on anything but the inputs.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x2 - x1, 0.0) * np.maximum(y2 - y1, 0.0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        iw = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        inter = iw * ih
        denom = np.minimum(area[best], area[rest]) if over_smaller else area[best] + area[rest] - inter
        overlap = np.divide(inter, denom, out=np.zeros_like(inter), where=denom > 0)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by the networks' offsets, which are fractions of the box's width and height."""
    size = np.tile(boxes[:, 2:4] - boxes[:, 0:2], 2)
    return boxes + offsets * size


def _square_grid(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres (side = the longer side), snapped to whole pixels.

    The next network sees a square crop of exactly these pixels, and its offsets are relative to
    them, so the snapped box is also the one those offsets apply to.
    """
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    side = np.maximum(np.round(side), 1.0)
    x1, y1 = np.round(cx - side / 2), np.round(cy - side / 2)
    return np.column_stack([x1, y1, x1 + side, y1 + side])


def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) float32 network input: each whole-pixel box resized, zeros past the border
    (as MTCNN was trained: clipping instead would stretch faces at the edge of the frame)."""
    height, width = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64)):
        patch = np.zeros((y2 - y1, x2 - x1, 3), dtype=np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if sx2 > sx1 and sy2 > sy1:
            patch[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return _normalise(out)


def _as_input(nhwc: np.ndarray, device: str) -> torch.Tensor:
    """(N, H, W, 3) float32 → an (N, 3, H, W) tensor in channels-last layout (a view, no copy)."""
    import torch

    return torch.from_numpy(nhwc).permute(0, 3, 1, 2).to(device)


def _normalise(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB → the networks' input range, (x - 127.5) / 128."""
    return (pixels.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 128)


# --- detector ------------------------------------------------------------------------------------


class MtcnnFaceDetector(FaceDetector):
    """Faces with MTCNN, from the weights ``mmer weights fetch`` converts.

    The options mean what they mean for :class:`mmer.faces.opencv.OpenCVFaceDetector`: detection
    runs on a copy whose longer side is at most ``max_side`` pixels; ``min_face`` and ``max_face``
    are fractions of the frame's shorter side, here the smallest and largest face the image pyramid
    is built for (never smaller than P-Net's 12-pixel window: the image is not enlarged). R-Net and
    O-Net can still regress a box out of that range, so a box more than one pyramid step smaller
    than ``min_face`` (or larger than ``max_face``, when given) is dropped: the bounds hold for what
    is reported, within the precision the pyramid has anyway.
    ``thresholds`` are the three stages' face-probability cut-offs; the last is the lowest score
    reported. ``scale_factor`` (> 1) is the size ratio between pyramid levels. Boxes come back in
    the source frame's pixels, scores are O-Net's face probability, each with O-Net's five landmarks
    (see :class:`mmer.faces.base.Detection`).
    """

    name = "mtcnn"

    def __init__(
        self,
        *,
        max_side: int = 640,
        min_face: float = 0.08,
        max_face: float | None = None,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        scale_factor: float = DEFAULT_SCALE_FACTOR,
        weights: str | Path | None = None,
        device: str = "cpu",
    ) -> None:
        if max_side < PNET_WINDOW:
            raise InvalidValue(f"max_side must be at least {PNET_WINDOW}, got {max_side}")
        if not 0.0 <= min_face < 1.0:
            raise InvalidValue(f"min_face is a fraction of the frame's shorter side in [0, 1), got {min_face}")
        if max_face is not None and not min_face < max_face <= 1.0:
            raise InvalidValue(f"max_face is a fraction of the shorter side in (min_face, 1], got {max_face}")
        thresholds = tuple(float(t) for t in thresholds)
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise InvalidValue(f"thresholds are three probabilities in [0, 1] (P-Net, R-Net, O-Net), got {thresholds}")
        if not 1.0 < scale_factor <= 4.0:
            raise InvalidValue(f"scale_factor is the size ratio between pyramid levels in (1, 4], got {scale_factor}")
        self.max_side = int(max_side)
        self.min_face = float(min_face)
        self.max_face = None if max_face is None else float(max_face)
        self.thresholds = thresholds
        self.scale_factor = float(scale_factor)
        self.weights = Path(weights).expanduser() if weights is not None else default_mtcnn_path()
        if not self.weights.is_file():
            raise FaceDetectorUnavailable(f"MTCNN face weights not found at {self.weights}; run `mmer weights fetch`")
        self.device = _device(device)
        self._nets = load_mtcnn(self.weights, self.device)
        log.debug("mtcnn detector on %s from %s", self.device, self.weights)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        import torch

        image = check_image(image_rgb)
        height, width = image.shape[:2]
        small = self._downscale(image)
        sx, sy = small.shape[1] / width, small.shape[0] / height
        with torch.inference_mode():
            found = self._cascade(small)
        out = []
        for row in found:
            x1, y1, x2, y2, score = row[:5]
            points = np.column_stack([row[_LANDMARK_X] / sx, row[_LANDMARK_Y] / sy])
            box = Detection(float(x1 / sx), float(y1 / sy), float(x2 / sx), float(y2 / sy),
                            min(max(float(score), 0.0), 1.0), points).clipped(width, height)
            if box.width > 0 and box.height > 0:
                out.append(box)
        out.sort(key=lambda d: d.score, reverse=True)
        return out

    # The stages work on the downscaled copy, in its pixels, with (N, 5) arrays: box, score (O-Net
    # adds the landmarks' ten columns).

    def _downscale(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        scale = self.max_side / max(height, width)
        if scale >= 1.0:
            return image
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def _face_range(self, short: int) -> tuple[float, float]:
        """Smallest and largest face (pixels of the detection copy) the pyramid is built for."""
        smallest = max(float(PNET_WINDOW), self.min_face * short)
        largest = float(short) if self.max_face is None else max(smallest, self.max_face * short)
        return smallest, largest

    def pyramid(self, height: int, width: int) -> list[float]:
        """Scales of the P-Net levels for a detection copy of this size, largest first.

        Level k looks for faces of ``smallest × scale_factor**k`` pixels (scale 12 / that). Levels
        run up to the first one at or above the largest face, since a face between two levels is
        found on the nearer one, and none is coarser than the copy itself (P-Net needs 12 pixels).
        """
        smallest, largest = self._face_range(min(height, width))
        scales = []
        face = smallest
        while face <= min(height, width) and (not scales or face / self.scale_factor < largest):
            scales.append(PNET_WINDOW / face)
            face *= self.scale_factor
        return scales

    def _cascade(self, image: np.ndarray) -> np.ndarray:
        """The three stages, then the size bounds: (N, 15) boxes, scores and landmarks (x then y) in
        ``image``'s pixels."""
        empty = np.zeros((0, 15), dtype=np.float32)
        boxes = self._propose(image)
        if len(boxes):
            boxes = self._refine(image, boxes, RNET_SIZE, self._nets.rnet, self.thresholds[1], final=False)
        if len(boxes):
            boxes = self._refine(image, boxes, ONET_SIZE, self._nets.onet, self.thresholds[2], final=True)
        if not len(boxes):
            return empty
        # The size P-Net saw: the side of the square of the same area (O-Net's boxes are taller than wide).
        side = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        smallest, largest = self._face_range(min(image.shape[:2]))
        within = side >= smallest / self.scale_factor
        if self.max_face is not None:
            within &= side <= largest * self.scale_factor
        return boxes[within]

    def _propose(self, image: np.ndarray) -> np.ndarray:
        """Stage 1: P-Net over the pyramid → squared candidate boxes with P-Net's score."""
        height, width = image.shape[:2]
        levels = []
        for scale in self.pyramid(height, width):
            # Rounded up, as published: the face is never smaller in P-Net's window than the level promises.
            size = (max(PNET_WINDOW, math.ceil(width * scale)), max(PNET_WINDOW, math.ceil(height * scale)))
            level = image if size == (width, height) else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            x = _as_input(_normalise(level)[None], self.device)
            prob, offsets = (t[0].cpu().numpy() for t in self._nets.pnet(x))
            ys, xs = np.nonzero(prob >= self.thresholds[0])
            if len(ys) == 0:
                continue
            # Window (row ys, column xs) covers level pixels [2x, 2x + 12) × [2y, 2y + 12).
            lx, ly = size[0] / width, size[1] / height
            x1, y1 = PNET_STRIDE * xs / lx, PNET_STRIDE * ys / ly
            found = np.column_stack([x1, y1, x1 + PNET_WINDOW / lx, y1 + PNET_WINDOW / ly,
                                     prob[ys, xs], offsets[:, ys, xs].T])
            levels.append(found[nms(found[:, :4], found[:, 4], _NMS_LEVEL)])
        if not levels:
            return np.zeros((0, 5))
        found = np.concatenate(levels)
        found = found[nms(found[:, :4], found[:, 4], _NMS_STAGE)]
        return np.column_stack([_square_grid(_regress(found[:, :4], found[:, 5:9])), found[:, 4]])

    def _refine(self, image: np.ndarray, boxes: np.ndarray, size: int, net: torch.nn.Module, threshold: float, *,
                final: bool) -> np.ndarray:
        """Stages 2 and 3: re-score crops of ``boxes``, keep the confident ones, regress them.
        The final stage also places O-Net's landmarks, as fractions of the crop it saw (the box
        before regression, as published), and keeps them in the row of their box through the NMS."""
        outputs: list[list[np.ndarray]] = []
        for start in range(0, len(boxes), _BATCH):
            batch = _as_input(_crops(image, boxes[start:start + _BATCH, :4], size), self.device)
            outputs.append([t.cpu().numpy() for t in net(batch)])
        prob, offset = (np.concatenate([o[k] for o in outputs]) for k in (0, 1))
        keep = prob > threshold
        boxes = np.column_stack([boxes[keep, :4], prob[keep]])
        offset = offset[keep]
        if final:  # as published: O-Net's boxes are regressed first, then thinned
            points = np.concatenate([o[2] for o in outputs])[keep]
            x1, y1 = boxes[:, 0:1], boxes[:, 1:2]
            w, h = boxes[:, 2:3] - x1, boxes[:, 3:4] - y1
            boxes = np.column_stack([boxes, x1 + w * points[:, :5], y1 + h * points[:, 5:]])
            boxes[:, :4] = _regress(boxes[:, :4], offset)
            return boxes[nms(boxes[:, :4], boxes[:, 4], _NMS_FINAL, over_smaller=True)]
        pick = nms(boxes[:, :4], boxes[:, 4], _NMS_STAGE)
        return np.column_stack([_square_grid(_regress(boxes[pick, :4], offset[pick])), boxes[pick, 4]])


def weights_status(path: Path | None = None) -> tuple[bool, str]:
    """Whether the converted weights are where the detector looks (a file check: nothing is loaded)."""
    path = default_mtcnn_path() if path is None else path
    if path.is_file():
        return True, f"MTCNN weights {path}"
    return False, f"MTCNN weights not found at {path} (run `mmer weights fetch`)"

