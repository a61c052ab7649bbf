"""A compact residual network for 48×48 grey faces → FER+'s eight emotions.

Small on purpose: the service runs it on CPU for every sampled frame, and two cores must train it.
Measured there (a batch of 128, channels-last): four stages of two blocks at widths 32–256 (2.8 M
weights) take 455 s an epoch of FER2013's 28,558 training faces, one block per stage 248 s; five
stages of one block at widths 16–256 (48 → 24 → 12 → 6 → 3 pixels, 1.2 M weights, the default)
68 s, because the full-size stage is the narrow one. Then global average pooling, dropout and one
linear layer. The input is grey in [0, 1]; the network centres and scales it itself,
so the service feeds the same pixels training saw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

#: FER+'s eight emotions (:data:`mmer.datasets.fer2013.FERPLUS_CLASSES`), the network's outputs.
NUM_OUTPUTS = 8


@dataclass(frozen=True)
class ExpressionNetConfig:
    """Everything that shapes the network; stored beside its weights."""

    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    blocks_per_stage: int = 1
    dropout: float = 0.3
    num_classes: int = NUM_OUTPUTS

    def to_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, data: dict) -> ExpressionNetConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "widths" in known:
            known["widths"] = tuple(int(w) for w in known["widths"])
        return cls(**known)


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a shortcut (a 1×1 projection where the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ExpressionNet(nn.Module):
    """(N, 1, H, W) grey faces in [0, 1] → (N, num_classes) logits."""

    def __init__(self, config: ExpressionNetConfig = ExpressionNetConfig()) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.Conv2d(1, config.widths[0], 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(config.widths[0]), nn.ReLU(inplace=True)]
        c_in = config.widths[0]
        for stage, width in enumerate(config.widths):
            for block in range(config.blocks_per_stage):
                layers.append(ResidualBlock(c_in, width, 2 if stage > 0 and block == 0 else 1))
                c_in = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout),
                                  nn.Linear(c_in, config.num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features((x - 0.5) / 0.25))
