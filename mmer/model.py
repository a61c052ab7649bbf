"""The multimodal emotion model: pure ``torch.nn`` modules, no I/O.

A clip arrives as a video sequence ``(Tv, Dv)`` (one feature per sampled face frame) and an audio
sequence ``(Ta, Da)`` (``Ta = 1`` for backbones that give one vector per clip). Each modality may be
absent for a sample (length 0): the service meets silent videos and clips with no visible face,
and training drops modalities at random so the model has learnt to answer from what is there.

The fusion is real cross-modal attention, in both directions, with gated residuals:

- audio tokens query the video frames ("which moments of the face match this voice"), and video
  frames query the audio tokens;
- each cross update passes through a content-dependent sigmoid gate, and is switched off entirely
  when the other modality is absent, so a missing modality contributes exactly nothing;
- learned attention pooling summarises each modality, and a per-channel gate mixes the two summaries
  (forced to the present modality when one is missing).

Every attention map and gate is returned on request (:class:`FusionAttention`), which is what
``--save-attention`` writes per test clip.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class FusionConfig:
    """Everything needed to rebuild the model; stored in the checkpoint's config.json."""

    video_dim: int
    audio_dim: int
    num_classes: int = 6
    dim: int = 128
    heads: int = 4
    layers: int = 1
    dropout: float = 0.2

    def __post_init__(self) -> None:
        for name in ("video_dim", "audio_dim", "num_classes", "dim", "heads", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FusionConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fusion settings: {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class FusionAttention:
    """Attention maps and gates of one forward pass (head-averaged, one entry per layer where layered)."""

    audio_to_video: list[Tensor]  # per layer (B, Ta, Tv): how each audio token spreads over the frames
    video_to_audio: list[Tensor]  # per layer (B, Tv, Ta)
    video_pool: Tensor  # (B, Tv): weight of each frame in the video summary
    audio_pool: Tensor  # (B, Ta)
    video_share: Tensor  # (B,): mean gate towards the video summary (1 = video only, 0 = audio only)


class FeatureStandardizer(nn.Module):
    """Per-dimension ``(x - mean) / std``; statistics are buffers so they travel with the weights.

    They are fitted on the training split only (see :func:`set_statistics`) and then frozen: the
    service normalises a request exactly as training normalised its training clips.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_statistics(self, mean: Tensor, std: Tensor, eps: float = 1e-6) -> None:
        if mean.shape != self.mean.shape or std.shape != self.std.shape:
            raise ValueError(f"statistics must have shape {tuple(self.mean.shape)}")
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(eps))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Fixed (length, dim) position codes: any sequence length works at serving time."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    codes = torch.zeros(length, dim, device=device)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return codes


class FeedForward(nn.Module):
    def __init__(self, dim: int, dropout: float, mult: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(dim * mult, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class SelfAttention(nn.Module):
    """Pre-norm self-attention over one modality's own time steps (padding masked)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, padding: Tensor) -> Tensor:
        h = self.norm(x)
        out, _ = self.attn(h, h, h, key_padding_mask=padding, need_weights=False)
        return x + self.drop(out)


class GatedCrossAttention(nn.Module):
    """``query`` attends over ``context`` (the other modality); a sigmoid gate decides, per channel
    and per time step, how much of what was found to let into the query's stream.

    Samples whose other modality is absent get no update at all (``context_present`` is False), so
    the content standing in for a missing modality cannot leak into the prediction.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.gate = nn.Linear(2 * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, query: Tensor, context: Tensor, context_padding: Tensor,
                context_present: Tensor) -> tuple[Tensor, Tensor]:
        q = self.norm_q(query)
        kv = self.norm_kv(context)
        found, weights = self.attn(q, kv, kv, key_padding_mask=context_padding, need_weights=True,
                                   average_attn_weights=True)
        gate = torch.sigmoid(self.gate(torch.cat([q, found], dim=-1)))
        update = self.drop(gate * found) * context_present[:, None, None].to(query.dtype)
        return query + update, weights


class FusionLayer(nn.Module):
    """Temporal self-attention in each modality, then cross-attention both ways, then feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.video_self = SelfAttention(dim, heads, dropout)
        self.audio_self = SelfAttention(dim, heads, dropout)
        self.audio_from_video = GatedCrossAttention(dim, heads, dropout)
        self.video_from_audio = GatedCrossAttention(dim, heads, dropout)
        self.video_ff = FeedForward(dim, dropout)
        self.audio_ff = FeedForward(dim, dropout)

    def forward(self, video: Tensor, audio: Tensor, video_padding: Tensor, audio_padding: Tensor,
                video_present: Tensor, audio_present: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        video = self.video_self(video, video_padding)
        audio = self.audio_self(audio, audio_padding)
        new_audio, a2v = self.audio_from_video(audio, video, video_padding, video_present)
        new_video, v2a = self.video_from_audio(video, audio, audio_padding, audio_present)
        return self.video_ff(new_video), self.audio_ff(new_audio), a2v, v2a


class AttentionPool(nn.Module):
    """A learned query that summarises a masked sequence; its weights say which steps mattered."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.score = nn.Linear(dim, 1)

    def forward(self, x: Tensor, padding: Tensor) -> tuple[Tensor, Tensor]:
        h = self.norm(x)
        scores = self.score(h).squeeze(-1).masked_fill(padding, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return torch.einsum("bt,btd->bd", weights, h), weights


class CrossModalFusion(nn.Module):
    """Two projected sequences (video, audio) with their masks → one fused vector, plus its attention."""

    def __init__(self, dim: int, heads: int = 4, layers: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        self.video_type = nn.Parameter(torch.zeros(dim))
        self.audio_type = nn.Parameter(torch.zeros(dim))
        self.layers = nn.ModuleList(FusionLayer(dim, heads, dropout) for _ in range(layers))
        self.video_pool = AttentionPool(dim)
        self.audio_pool = AttentionPool(dim)
        self.mix = nn.Linear(2 * dim, dim)

    def forward(self, video: Tensor, audio: Tensor, video_lengths: Tensor,
                audio_lengths: Tensor) -> tuple[Tensor, FusionAttention]:
        batch, tv, dim = video.shape
        ta = audio.shape[1]
        video_present, audio_present = video_lengths > 0, audio_lengths > 0
        video_padding = _padding(video_lengths, tv)
        audio_padding = _padding(audio_lengths, ta)
        video = video + sinusoidal_positions(tv, dim, video.device) + self.video_type
        audio = audio + sinusoidal_positions(ta, dim, audio.device) + self.audio_type
        a2v_maps, v2a_maps = [], []
        for layer in self.layers:
            video, audio, a2v, v2a = layer(video, audio, video_padding, audio_padding, video_present, audio_present)
            a2v_maps.append(a2v)
            v2a_maps.append(v2a)
        video_vec, video_weights = self.video_pool(video, video_padding)
        audio_vec, audio_weights = self.audio_pool(audio, audio_padding)
        gate = torch.sigmoid(self.mix(torch.cat([video_vec, audio_vec], dim=-1)))
        gate = torch.where(video_present[:, None], gate, torch.zeros_like(gate))
        gate = torch.where(audio_present[:, None], gate, torch.ones_like(gate))
        fused = gate * video_vec + (1 - gate) * audio_vec
        attention = FusionAttention(
            audio_to_video=a2v_maps, video_to_audio=v2a_maps,
            video_pool=video_weights * video_present[:, None], audio_pool=audio_weights * audio_present[:, None],
            video_share=gate.mean(dim=-1))
        return fused, attention


def _padding(lengths: Tensor, width: int) -> Tensor:
    """True where a step is padding. An absent modality (length 0) keeps step 0 visible so that no
    attention row is empty (softmax of nothing is NaN); its content is zeros and its influence is
    cut by the gates."""
    steps = torch.arange(width, device=lengths.device)[None, :]
    return steps >= lengths.clamp_min(1)[:, None]


class MultimodalEmotionModel(nn.Module):
    """Standardise → project to a shared width → :class:`CrossModalFusion` → six logits."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        self.video_norm = FeatureStandardizer(config.video_dim)
        self.audio_norm = FeatureStandardizer(config.audio_dim)
        self.video_proj = nn.Sequential(nn.Linear(config.video_dim, config.dim), nn.GELU(), nn.Dropout(config.dropout))
        self.audio_proj = nn.Sequential(nn.Linear(config.audio_dim, config.dim), nn.GELU(), nn.Dropout(config.dropout))
        self.fusion = CrossModalFusion(config.dim, config.heads, config.layers, config.dropout)
        self.head = nn.Sequential(nn.LayerNorm(config.dim), nn.Dropout(config.dropout),
                                  nn.Linear(config.dim, config.dim), nn.GELU(), nn.Dropout(config.dropout),
                                  nn.Linear(config.dim, config.num_classes))

    def forward(self, video: Tensor, audio: Tensor, video_lengths: Tensor | None = None,
                audio_lengths: Tensor | None = None, *,
                return_attention: bool = False) -> Tensor | tuple[Tensor, FusionAttention]:
        """``video`` (B, Tv, Dv); ``audio`` (B, Ta, Da) or (B, Da). Lengths count the valid steps per
        sample (default: all); a length of 0 marks that modality absent for the sample."""
        if audio.dim() == 2:
            audio = audio[:, None, :]
        if video.dim() != 3 or audio.dim() != 3 or video.shape[0] != audio.shape[0]:
            raise ValueError(f"expected video (B, T, {self.config.video_dim}) and audio (B, [T,] "
                             f"{self.config.audio_dim}), got {tuple(video.shape)} and {tuple(audio.shape)}")
        if video.shape[-1] != self.config.video_dim or audio.shape[-1] != self.config.audio_dim:
            raise ValueError(f"feature sizes {video.shape[-1]}/{audio.shape[-1]} do not match the model's "
                             f"{self.config.video_dim}/{self.config.audio_dim}")
        batch = video.shape[0]
        video_lengths = _lengths(video_lengths, batch, video.shape[1], video.device)
        audio_lengths = _lengths(audio_lengths, batch, audio.shape[1], audio.device)
        if bool(((video_lengths == 0) & (audio_lengths == 0)).any()):
            raise ValueError("every sample needs at least one modality (both lengths are 0)")
        # Zero the padding and absent inputs first, so no garbage (or NaN) can reach the sums.
        video_valid = ~_padding(video_lengths, video.shape[1]) & (video_lengths > 0)[:, None]
        audio_valid = ~_padding(audio_lengths, audio.shape[1]) & (audio_lengths > 0)[:, None]
        v = torch.where(video_valid[..., None], self.video_norm(video), torch.zeros((), device=video.device))
        a = torch.where(audio_valid[..., None], self.audio_norm(audio), torch.zeros((), device=audio.device))
        fused, attention = self.fusion(self.video_proj(v), self.audio_proj(a), video_lengths, audio_lengths)
        logits = self.head(fused)
        return (logits, attention) if return_attention else logits


def _lengths(lengths: Tensor | None, batch: int, width: int, device: torch.device) -> Tensor:
    if lengths is None:
        return torch.full((batch,), width, dtype=torch.long, device=device)
    lengths = torch.as_tensor(lengths, device=device).long()
    if lengths.shape != (batch,) or bool((lengths < 0).any()) or bool((lengths > width).any()):
        raise ValueError(f"lengths must be {batch} values in [0, {width}], got {lengths.tolist()}")
    return lengths
