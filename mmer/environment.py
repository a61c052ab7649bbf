"""What this machine can run: torch and its devices, FFmpeg codecs, detectors and backbones offline.

Backs ``mmer check`` (the seed's check.py). A researcher runs it before a long job; each
line says whether a part is there and, if not, what it is needed for.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

#: Hugging Face sources of the default backbones; reported as cached or not (the YOLO face
#: weights are reported with the detectors).
HUB_MODELS = {
    "vivit": ("google/vivit-b-16x2-kinetics400", "config.json"),
    "wav2vec2": ("audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "config.json"),
}

#: FFmpeg codecs the pipeline needs: (codec name, mode, why).
CODECS = (
    ("h264", "r", "decode RAVDESS/CREMA-D and uploaded videos"),
    ("libx264", "w", "write face-crop clips"),
    ("aac", "r", "decode audio tracks"),
    ("aac", "w", "write clips with sound (sample data)"),
    ("mp3", "r", "decode mp3 audio"),
    ("libmp3lame", "w", "write mp3 audio (mmer audio --format mp3)"),
    ("flv", "r", "decode CREMA-D's FLV (Sorenson) video"),
)


@dataclass(frozen=True)
class CheckItem:
    group: str
    name: str
    ok: bool
    detail: str
    required: bool = True

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "absent"


def check_torch() -> list[CheckItem]:
    try:
        import torch
    except ImportError as exc:
        return [CheckItem("torch", "torch", False, f"not importable: {exc}")]
    items = [CheckItem("torch", "torch", True, torch.__version__)]
    cuda = torch.cuda.is_available()
    detail = f"{torch.cuda.device_count()} device(s)" if cuda else "not available (CPU only)"
    items.append(CheckItem("torch", "cuda", cuda, detail, required=False))
    for i in range(torch.cuda.device_count() if cuda else 0):
        items.append(CheckItem("torch", f"cuda:{i}", True, torch.cuda.get_device_name(i), required=False))
    return items


def check_ffmpeg() -> list[CheckItem]:
    try:
        import av
    except ImportError as exc:
        return [CheckItem("media", "PyAV", False, f"not importable: {exc}")]
    libav = ".".join(str(v) for v in av.library_versions.get("libavcodec", ()))
    items = [CheckItem("media", "PyAV", True, f"{av.__version__} (libavcodec {libav})")]
    for name, mode, why in CODECS:
        try:
            av.codec.Codec(name, mode)
            ok = True
        except Exception:  # noqa: BLE001 - any failure means the codec is unusable
            ok = False
        verb = "decoder" if mode == "r" else "encoder"
        items.append(CheckItem("media", f"{name} {verb}", ok, why))
    return items


def check_detectors() -> list[CheckItem]:
    from mmer.faces import DEFAULT_DETECTOR, available_detectors

    return [
        CheckItem("faces", name, ok, detail, required=name == DEFAULT_DETECTOR)
        for name, (ok, detail) in available_detectors().items()
    ]


def check_backbones() -> list[CheckItem]:
    from mmer.weights import default_fer_path, default_resemblyzer_path, is_current

    items = []
    for name, path, what in (("fer", default_fer_path(), "facial-expression CNN"),
                             ("resemblyzer", default_resemblyzer_path(), "the voice expert's speech encoder")):
        ready = is_current(path)
        detail = f"{what} at {path}" if ready else "not converted yet: run `mmer weights fetch`"
        items.append(CheckItem("models", name, ready, detail, required=False))
    hub = importlib.util.find_spec("huggingface_hub") is not None
    for label, (repo, filename) in HUB_MODELS.items():
        if not hub:
            items.append(CheckItem("models", label, False, "huggingface_hub not installed", required=False))
            continue
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo, filename)
        ok = isinstance(cached, str)
        detail = f"{repo}: {'in the local cache' if ok else 'not cached (needs the hub or a local path)'}"
        items.append(CheckItem("models", label, ok, detail, required=False))
    return items


def run_checks() -> list[CheckItem]:
    return check_torch() + check_ffmpeg() + check_detectors() + check_backbones()


def format_report(items: list[CheckItem]) -> str:
    width = max(len(i.name) for i in items)
    lines = [f"{i.status:<8} {i.group:<7} {i.name:<{width}}  {i.detail}" for i in items]
    missing = [i.name for i in items if i.required and not i.ok]
    lines.append("")
    lines.append(f"required parts missing: {', '.join(missing)}" if missing else "all required parts present")
    return "\n".join(lines)
