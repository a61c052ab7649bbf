"""Backbones by name: the one place that turns ``--backbone NAME --source X`` into a loaded model.

Extraction commands and the service's pipeline both build backbones here, so a name always
means the same model, preprocessing and weights.
"""

from __future__ import annotations

from mmer.errors import InvalidValue
from mmer.features.base import AudioBackbone, VideoBackbone

VIDEO_BACKBONES = ("vivit", "fer")
AUDIO_BACKBONES = ("wav2vec2", "logmel")


def load_video_backbone(name: str, source: str | None = None, *, device: str = "auto", num_frames: int | None = None,
                        dtype: str | None = None) -> VideoBackbone:
    """A pretrained video backbone; never random weights (BackboneUnavailable when they are not here).

    ``num_frames=None`` takes the model's own frame count (ViViT's config) or 32 (fer).
    """
    if name == "vivit":
        from mmer.features.vivit import DEFAULT_SOURCE, VivitBackbone

        return VivitBackbone.from_pretrained(source or DEFAULT_SOURCE, device=device, dtype=dtype,
                                             num_frames=num_frames)
    if name == "fer":
        from mmer.features.fer import FerBackbone

        if source:
            return FerBackbone(source, num_frames=num_frames or 32, device=device)
        return FerBackbone.from_default(num_frames=num_frames or 32, device=device)
    raise InvalidValue(f"unknown video backbone {name!r}; choose one of {', '.join(VIDEO_BACKBONES)}")


def load_audio_backbone(name: str, source: str | None = None, *, device: str = "auto",
                        dtype: str | None = None) -> AudioBackbone:
    if name == "wav2vec2":
        from mmer.features.wav2vec2 import DEFAULT_SOURCE, Wav2Vec2Backbone

        return Wav2Vec2Backbone.from_pretrained(source or DEFAULT_SOURCE, device=device, dtype=dtype)
    if name == "logmel":
        from mmer.features.audio_stats import LogMelStatsBackbone

        if source:
            raise InvalidValue("the logmel backbone is built in and takes no --source")
        return LogMelStatsBackbone()
    raise InvalidValue(f"unknown audio backbone {name!r}; choose one of {', '.join(AUDIO_BACKBONES)}")
