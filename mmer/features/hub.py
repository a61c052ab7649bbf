"""Loading the transformer backbones: a hub id or a local folder, never random weights, errors in one line.

ViViT and Wav2Vec2 load the same way, so the rules live here once:

* ``source`` is an existing folder (``config.json`` + weights, as ``save_pretrained`` writes it) or a
  Hugging Face id. An id is looked up in the local cache first and only then on the hub, so a
  cached model never waits on a network that is not there.
* A checkpoint may carry more than the backbone (a classification head, a ``vivit.``/``wav2vec2.``
  prefix: transformers strips it), but every weight the backbone *uses* must come from it. The
  backbones build their models without the parts inference never touches (ViViT's pooler,
  Wav2Vec2's SpecAugment vector), so "no missing keys" is exactly "nothing random". transformers
  would fill missing weights with a fresh initialisation and only log it; the features would be
  noise that looks like features, so loading stops instead (:class:`IncompleteWeights`).
* Any reason a model cannot be had here (not cached and offline, no such folder, a different
  model type, weights of the wrong shape) becomes a one-line :class:`BackboneUnavailable` that
  says what to pass instead; the CLI prints it as is.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError

from mmer.errors import InvalidValue
from mmer.features.base import BackboneUnavailable

log = logging.getLogger(__name__)

#: Spellings accepted for ``dtype`` (the CLI offers the first three).
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "half": torch.float16,
}
#: ``name`` or ``owner/name``: what a hub id looks like (a path with more parts is not one).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
#: Files ``from_pretrained`` reads weights from; a folder with none of them is refused up front.
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")

ModelT = TypeVar("ModelT")


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed download raises: huggingface_hub's errors are OSErrors; a raw httpx transport
    error may still slip through some code paths."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - huggingface_hub depends on it
        return (OSError,)
    return (OSError, httpx.TransportError)


class IncompleteWeights(BackboneUnavailable):
    """The checkpoint lacks (or misshapes) weights the backbone uses: loading it would leave them random."""


def select_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when there is one, else CPU; anything else as torch spells it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise InvalidValue(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InvalidValue(f"device {device!r} asked for, but this machine has no usable CUDA; "
                           "use --device cpu or auto")
    return chosen


def select_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The model dtype: float32 unless a half type is asked for and the device is CUDA.

    Half precision on a CPU is slow and changes the features for no gain, so it falls back to
    float32 with a warning rather than failing a long extraction at the start.
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype.lower() not in DTYPES:
            raise InvalidValue(f"unknown dtype {dtype!r}; choose one of float32, float16, bfloat16")
        dtype = DTYPES[dtype.lower()]
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise InvalidValue(f"unsupported dtype {dtype}; choose one of float32, float16, bfloat16")
    if dtype != torch.float32 and device.type != "cuda":
        log.warning("%s needs CUDA; running in float32 on %s", dtype_name(dtype), device)
        return torch.float32
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float16`` → ``"float16"`` (for configs and messages)."""
    return str(dtype).removeprefix("torch.")


def load_pretrained(model_cls: type[ModelT], source: str | Path, *, what: str,
                    prepare_config: Callable[[Any], None] | None = None, dtype: torch.dtype = torch.float32,
                    **model_kwargs: Any) -> tuple[ModelT, str]:
    """``model_cls`` with every weight from ``source`` (a folder or hub id), in eval mode on the CPU.

    ``what`` names the backbone in messages. ``prepare_config`` may adjust the loaded config
    before the model is built (e.g. leave out training-only parts). Returns the model and the
    source as recorded in feature configs: a folder's absolute path, or the hub id.
    """
    name, local = resolve_source(source, what=what)
    config_cls = model_cls.config_class  # type: ignore[attr-defined]
    with quiet_transformers():
        config = _fetch(lambda **kw: _load_config(name, config_cls, **kw), name, local=local, what=what)
        if prepare_config is not None:
            prepare_config(config)
        try:
            model, info = _fetch(lambda **kw: model_cls.from_pretrained(  # type: ignore[attr-defined]
                name, config=config, dtype=dtype, output_loading_info=True, **model_kwargs, **kw),
                name, local=local, what=what)
        except SafetensorError as exc:
            raise BackboneUnavailable(f"cannot read {what} weights in {name}: {first_line(exc)}") from exc
        except RuntimeError as exc:  # transformers raises this for weights of the wrong shape
            raise IncompleteWeights(f"{what} weights in {name} do not fit its config ({first_line(exc)}); "
                                    f"refusing to run with randomly initialised weights") from exc
    check_complete(info, name, what=what)
    log.info("%s loaded from %s", what, name)
    return model.eval(), name


def resolve_source(source: str | Path, *, what: str) -> tuple[str, bool]:
    """``(name, is_local)``: an existing folder's absolute path, or a string that can be a hub id.

    Anything else (a missing path, a file) is refused here, so a typo in ``--source`` is not sent
    to the hub as an id and reported as a network problem. A ``Path`` always means a folder.
    """
    text = str(source).strip()
    if not text:
        raise InvalidValue(f"empty {what} source; pass a Hugging Face id or a folder")
    path = Path(text).expanduser()
    if path.is_dir():
        _check_folder(path, what)
        return str(path.resolve()), True
    if path.exists():
        raise BackboneUnavailable(f"{what} source {text} is a file; pass the folder holding config.json and "
                                  f"the weights")
    if isinstance(source, Path) or not _HUB_ID.match(text):
        raise BackboneUnavailable(f"{what} source {text}: no such folder; pass --source DIR (a folder with "
                                  f"config.json and weights) or a Hugging Face id")
    return text, False


def check_complete(info: dict[str, Any], name: str, *, what: str) -> None:
    """Refuse a load that left any model weight at its random initialisation.

    Unexpected keys (a classification head, a prefix transformers stripped) are fine: they are in
    the checkpoint, not in the model. Missing or mismatched ones are not.
    """
    missing = sorted(info.get("missing_keys") or ())
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys") or ())
    errors = [str(e) for e in info.get("error_msgs") or ()]
    problems = missing + mismatched
    if problems or errors:
        shown = ", ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        detail = shown or first_line(errors[0])
        raise IncompleteWeights(f"{what} checkpoint {name} lacks {len(problems) or len(errors)} weight(s) the "
                                f"model uses ({detail}); refusing to run with randomly initialised weights")
    unexpected = sorted(info.get("unexpected_keys") or ())
    if unexpected:
        log.debug("%s: %d checkpoint tensors not used by the backbone (e.g. %s)", name, len(unexpected),
                  ", ".join(unexpected[:3]))


def first_line(exc: BaseException | str) -> str:
    """The first non-empty line of an error, for one-line messages."""
    text = str(exc).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars, and huggingface_hub's retry messages,
    while we load: we check the loading info ourselves and say what went wrong in one line, so a
    table of ignored head weights or five "Retrying in 8s" lines are only noise."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    verbosity, hub_verbosity = hf_logging.get_verbosity(), hub_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hub_logging.set_verbosity(hub_verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def hub_offline() -> bool:
    """Whether huggingface_hub was told not to use the network (``HF_HUB_OFFLINE=1``)."""
    import huggingface_hub

    return bool(huggingface_hub.is_offline_mode())


def _check_folder(path: Path, what: str) -> None:
    if not (path / "config.json").is_file():
        raise BackboneUnavailable(f"{what} folder {path} has no config.json; pass a folder written by "
                                  f"save_pretrained (config.json + weights)")
    if not any((path / f).is_file() for f in _WEIGHT_FILES):
        raise IncompleteWeights(f"{what} folder {path} has a config but no weights ({' or '.join(_WEIGHT_FILES[::2])});"
                                f" refusing to run with randomly initialised weights")


def _load_config(name: str, config_cls: type, **kwargs: Any) -> Any:
    """The checkpoint's config, refused if it is another kind of model (its weights could not fit)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name, **kwargs)
    except (ValueError, KeyError) as exc:  # unknown or missing model_type
        raise BackboneUnavailable(f"{name}: not a {config_cls.model_type} checkpoint ({first_line(exc)})") from exc
    if not isinstance(config, config_cls):
        raise BackboneUnavailable(f"{name} holds a {config.model_type} model, not {config_cls.model_type}; "
                                  f"pass a {config_cls.model_type} checkpoint")
    return config


def _fetch(load: Callable[..., ModelT], name: str, *, local: bool, what: str) -> ModelT:
    """``load()`` from the local cache, then (for a hub id, when online) from the hub."""
    try:
        return load(local_files_only=True)
    except OSError as exc:
        if local:
            raise BackboneUnavailable(f"cannot read {what} from {name}: {first_line(exc)}") from exc
        if hub_offline():
            raise BackboneUnavailable(_not_cached(what, name, "the hub is switched off (HF_HUB_OFFLINE)")) from exc
        log.warning("%s is not in the local Hugging Face cache; trying the hub", name)
    try:
        return load()
    except _network_errors() as exc:
        raise BackboneUnavailable(_not_cached(what, name, f"the hub is unreachable ({first_line(exc)})")) from exc


def _not_cached(what: str, name: str, why: str) -> str:
    return (f"{what} model {name} is not in the local Hugging Face cache and {why}; "
            f"pass --source DIR (a folder with config.json and weights)")
