"""YOLO face detector (ultralytics), weights from a local ``.pt`` file or a Hugging Face repo.

Better than the Haar cascade on turned heads, partial occlusion and cluttered scenes, at the
cost of the optional ``ultralytics``/``huggingface_hub`` packages and a weights file.
ultralytics is imported only when a detector is built: it is slow to import and most runs
(the default opencv backend, the service) never need it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from mmer.errors import InvalidValue
from mmer.faces.base import Detection, FaceDetector, FaceDetectorUnavailable, check_image

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "AdamCodd/YOLOv11n-face-detection"
DEFAULT_FILENAME = "model.pt"
_WEIGHT_SUFFIXES = (".pt", ".pth")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_HINT = "pass --yolo-weights PATH to a .pt file"


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda:0"`` when torch sees a GPU, else ``"cpu"``. Asking for CUDA without a GPU
    fails here, once, rather than on the first frame of a batch."""
    import torch

    device = device.strip().lower()
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FaceDetectorUnavailable(f"device {device!r} asked for, but torch sees no CUDA GPU; use --device cpu")
    return device


def _looks_like_path(weights: str) -> bool:
    """A file name (``.pt``), an existing path, or anything that cannot be a hub id ``owner/name``."""
    return (weights.lower().endswith(_WEIGHT_SUFFIXES) or Path(weights).expanduser().exists()
            or not _REPO_ID.match(weights))


def resolve_weights(weights: str | Path, *, filename: str = DEFAULT_FILENAME, cache_dir: str | Path | None = None,
                    revision: str | None = None) -> Path:
    """A local path to the weights: ``weights`` itself if it is a file, else ``filename`` from the
    Hugging Face repo ``weights``.

    The local cache is tried first without touching the network (an unreachable hub would
    otherwise cost retries on every run); only a miss downloads. Every failure becomes one
    :class:`FaceDetectorUnavailable` line that says what to do.
    """
    text = str(weights)
    if _looks_like_path(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FaceDetectorUnavailable(f"YOLO face weights {text!r}: no such file; {_HINT}")
        return path
    return _hub_weights(text, filename, cache_dir, revision)


def _hub_weights(repo_id: str, filename: str, cache_dir: str | Path | None, revision: str | None) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise FaceDetectorUnavailable(
            f"cannot load YOLO face weights {repo_id!r}: huggingface_hub is not installed "
            f"(pip install 'mmer[yolo]'); {_HINT}"
        ) from None
    kwargs: dict[str, Any] = {"repo_id": repo_id, "filename": filename, "cache_dir": cache_dir, "revision": revision}
    try:
        return Path(hf_hub_download(**kwargs, local_files_only=True))
    except Exception:  # noqa: BLE001 - any cache miss falls through to a download
        log.debug("%s/%s not in the local Hugging Face cache", repo_id, filename)
    if not _hub_reachable():
        raise FaceDetectorUnavailable(_hub_failure(repo_id, filename, ConnectionError()))
    log.info("downloading YOLO face weights %s/%s from the Hugging Face hub", repo_id, filename)
    try:
        return Path(hf_hub_download(**kwargs))
    except Exception as exc:  # noqa: BLE001 - the hub raises many types; the user needs one line
        raise FaceDetectorUnavailable(_hub_failure(repo_id, filename, exc)) from exc


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub opens. huggingface_hub retries an unreachable host for
    ~25 s with a warning per try; one quick probe turns that into an immediate, clear failure.
    Skipped (assumed reachable) behind a proxy or in offline mode, where the probe would lie."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(os.environ.get(v) for v in _PROXY_VARS):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_failure(repo_id: str, filename: str, exc: Exception) -> str:
    kind = type(exc).__name__
    if kind in ("RepositoryNotFoundError", "GatedRepoError"):
        why = "repository not found (or private) on the Hugging Face hub"
    elif kind in ("EntryNotFoundError", "RemoteEntryNotFoundError"):
        why = f"the repository has no file {filename!r}"
    else:
        why = "Hugging Face hub unreachable and not in the local cache"
    return f"cannot load YOLO face weights {repo_id!r}: {why}; {_HINT}"


def ultralytics_installed() -> bool:
    return importlib.util.find_spec("ultralytics") is not None


def _face_classes(names: dict[int, str]) -> list[int] | None:
    """Class ids whose name mentions a face; ``None`` (keep every class) for single-purpose or
    unnamed models, where every class is taken to be a face."""
    ids = [i for i, n in names.items() if "face" in str(n).lower()]
    return ids or None


def detections_from_arrays(xyxy: np.ndarray, conf: np.ndarray, width: int, height: int) -> list[Detection]:
    """Boxes (already in source pixels) and confidences → clipped detections, best first."""
    found = [
        Detection(float(x1), float(y1), float(x2), float(y2), float(np.clip(c, 0.0, 1.0))).clipped(width, height)
        for (x1, y1, x2, y2), c in zip(np.reshape(xyxy, (-1, 4)), np.ravel(conf), strict=True)
    ]
    found.sort(key=lambda d: d.score, reverse=True)
    return found


class YoloFaceDetector(FaceDetector):
    """Faces from an ultralytics YOLO detection model.

    ``weights``: a local ``.pt`` file or a Hugging Face repo id (``filename`` in it).
    ``conf``: confidence threshold; ``device``: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``;
    ``imgsz``: network input side (ultralytics letterboxes the frame and maps boxes back).
    """

    name = "yolo"

    def __init__(
        self,
        weights: str | Path = DEFAULT_WEIGHTS,
        *,
        conf: float = 0.25,
        device: str = "auto",
        imgsz: int = 640,
        filename: str = DEFAULT_FILENAME,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not 0.0 <= conf <= 1.0:
            raise InvalidValue(f"conf must be in [0, 1], got {conf}")
        if imgsz < 32 or imgsz % 32:
            raise InvalidValue(f"imgsz must be a multiple of 32 of at least 32, got {imgsz}")
        if not ultralytics_installed():
            raise FaceDetectorUnavailable("the yolo detector needs ultralytics: pip install 'mmer[yolo]'")
        self.weights = str(weights)
        self.conf = conf
        self.imgsz = imgsz
        self.path = resolve_weights(weights, filename=filename, cache_dir=cache_dir)
        self.device = resolve_device(device)
        self._model = self._load(self.path)
        self._classes = _face_classes(dict(self._model.names))

    def _load(self, path: Path) -> Any:
        from ultralytics import YOLO

        try:
            model = YOLO(str(path), task="detect")
        except Exception as exc:  # noqa: BLE001 - torch/ultralytics raise many types for a bad file
            raise FaceDetectorUnavailable(f"cannot load YOLO face weights {path}: {_one_line(exc)}; {_HINT}") from exc
        if getattr(model, "task", "detect") != "detect":
            raise FaceDetectorUnavailable(f"{path} is a YOLO {model.task} model, not a detection model; {_HINT}")
        log.info("YOLO face detector: %s on %s", path, self.device)
        return model

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        image = check_image(image_rgb)
        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[..., ::-1])  # ultralytics reads numpy frames as OpenCV BGR
        result = self._model.predict(bgr, conf=self.conf, imgsz=self.imgsz, device=self.device,
                                     classes=self._classes, verbose=False)[0]
        boxes = result.boxes
        return detections_from_arrays(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), width, height)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
