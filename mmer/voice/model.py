"""The voice expert's networks, pure ``nn.Module``s.

- ``arch="encoder"`` (shipped): :class:`EncoderHead`, a linear classifier over the statistics of a
  pretrained speech encoder's states (:mod:`mmer.voice.encoder`). The encoder is fixed; only the
  head (a few thousand weights) learns from RAVDESS, so it cannot memorise RAVDESS's two sentences
  or its studio the way a network trained from the spectrogram up does.
- ``arch="cnn"`` / ``"tdnn"``: :class:`VoiceNet`, a small network over a log-mel spectrogram,
  trained from scratch (the first voice expert). Variable-length input is pooled with masked mean
  and standard deviation over time, so a 1 s and a 6 s stretch of speech are read by the same weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from mmer.errors import InvalidValue
from mmer.labels import NUM_CLASSES


@dataclass(frozen=True)
class VoiceNetConfig:
    """Everything that shapes the network; stored beside its weights."""

    #: "encoder" (a head over a pretrained encoder's statistics), "cnn" (2-D convolutions over time ×
    #: mel) or "tdnn" (1-D over time)
    arch: str = "encoder"
    n_mels: int = 64
    channels: tuple[int, ...] = (12, 24, 48, 96)
    hidden: int = 128
    dropout: float = 0.3
    num_classes: int = NUM_CLASSES
    #: "encoder" only: the width of the statistics it reads (:data:`mmer.voice.encoder.DIM`).
    input_dim: int = 1536
    #: "encoder" only: how many principal directions of the training statistics the head keeps to
    #: measure how unfamiliar a voice is (:meth:`EncoderHead.unfamiliarity`); 0 keeps none.
    subspace: int = 0

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, data: dict) -> VoiceNetConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "channels" in known:
            known["channels"] = tuple(int(c) for c in known["channels"])
        return cls(**known)


def masked_stats(x: Tensor, mask: Tensor) -> Tensor:
    """Mean and standard deviation over the last axis of ``x`` (N, C, T) where ``mask`` (N, T) is true."""
    m = mask[:, None, :].to(x.dtype)
    count = m.sum(-1).clamp_min(1.0)
    mean = (x * m).sum(-1) / count
    var = (((x - mean[..., None]) ** 2) * m).sum(-1) / count
    return torch.cat([mean, (var + 1e-5).sqrt()], dim=1)


class ConvBlock2d(nn.Module):
    """3×3 conv, batch norm, ReLU, 2×2 max-pool: halves time and frequency."""

    def __init__(self, c_in: int, c_out: int, *, strided: bool = False) -> None:
        super().__init__()
        # The first block strides its convolution instead of pooling: a quarter of the cost at full
        # resolution, which is most of the network's cost.
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, stride=2 if strided else 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.pool = nn.Identity() if strided else nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(torch.relu(self.bn(self.conv(x))))


class ConvBlock1d(nn.Module):
    """Dilated 1-D conv over time (a TDNN layer), batch norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2,
                              bias=False)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.bn(self.conv(x)))


class VoiceNet(nn.Module):
    """(N, T, n_mels) log-mel frames + (N,) lengths in frames → (N, num_classes) logits."""

    def __init__(self, config: VoiceNetConfig = VoiceNetConfig()) -> None:
        super().__init__()
        self.config = config
        widths = config.channels
        if config.arch == "cnn":
            self.body = nn.Sequential(*(ConvBlock2d(c_in, c_out, strided=i == 0)
                                        for i, (c_in, c_out) in enumerate(zip((1, *widths), widths, strict=False))))
            self.stride = 2 ** len(widths)
        elif config.arch == "tdnn":
            kernels, dilations = (5, 3, 3, 1), (1, 2, 3, 1)
            layers = []
            for i, c_out in enumerate(widths):
                layers.append(ConvBlock1d(config.n_mels if i == 0 else widths[i - 1], c_out,
                                          kernels[i % 4], dilations[i % 4]))
            self.body = nn.Sequential(*layers)
            self.stride = 1
        else:
            raise InvalidValue(f"unknown voice architecture {config.arch!r} for VoiceNet; choose cnn or tdnn")
        self.head = nn.Sequential(
            nn.Linear(2 * widths[-1], config.hidden), nn.BatchNorm1d(config.hidden), nn.ReLU(),
            nn.Dropout(config.dropout), nn.Linear(config.hidden, config.num_classes))

    def embed(self, x: Tensor, lengths: Tensor) -> Tensor:
        """(N, 2·C) pooled statistics of the last convolution (what the classifier reads)."""
        if self.config.arch == "cnn":
            h = self.body(x[:, None].transpose(2, 3))  # (N, C, mel', T')
            h = h.mean(dim=2)
        else:
            h = self.body(x.transpose(1, 2))  # (N, C, T)
        steps = h.shape[-1]
        out_lengths = torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor").clamp(1, steps)
        mask = torch.arange(steps, device=x.device)[None, :] < out_lengths[:, None]
        return masked_stats(h, mask)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.embed(x, lengths))


class EncoderHead(nn.Module):
    """(N, input_dim) encoder statistics → (N, num_classes) logits: standardised with the training
    set's mean and spread (kept as buffers, so they ship with the weights), then linear. With a
    ``subspace``, it also keeps the training statistics' principal directions (``basis``) to say how
    unfamiliar a voice is, which sets how sure its answer may be (:mod:`mmer.voice.calibration`)."""

    def __init__(self, config: VoiceNetConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.input_dim))
        self.register_buffer("scale", torch.ones(config.input_dim))
        if config.subspace:
            self.register_buffer("basis", torch.zeros(config.subspace, config.input_dim))
        self.linear = nn.Linear(config.input_dim, config.num_classes)

    def standardise(self, stats: Tensor) -> Tensor:
        return (stats - self.mean) / self.scale

    def forward(self, stats: Tensor) -> Tensor:
        return self.linear(self.standardise(stats))

    def unfamiliarity(self, stats: Tensor) -> Tensor | None:
        """(N,) log of the mean squared part of the standardised statistics that lies outside the
        training set's principal subspace: low for voices like the training material, high for other
        languages, speakers, rooms and channels (a test in ``tests/voice/test_train.py`` holds it to
        TurEV-DB's words against unseen RAVDESS actors). None without a subspace."""
        if not self.config.subspace:
            return None
        z = self.standardise(stats)
        residual = z - (z @ self.basis.T) @ self.basis
        return torch.log(residual.pow(2).mean(dim=-1) + 1e-12)


def build_voice_model(config: VoiceNetConfig) -> nn.Module:
    """The network ``config`` describes."""
    return EncoderHead(config) if config.arch == "encoder" else VoiceNet(config)
