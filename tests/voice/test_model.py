"""The voice network: shapes, and padding that does not change what a clip is read as."""

from __future__ import annotations

import pytest
import torch

from mmer.voice.model import VoiceNet, VoiceNetConfig


@pytest.mark.parametrize("arch", ["cnn", "tdnn"])
def test_logits_for_variable_length_input(arch: str) -> None:
    torch.manual_seed(0)
    channels = (8, 16, 32, 32) if arch == "cnn" else (32, 32, 32, 64)
    model = VoiceNet(VoiceNetConfig(arch=arch, channels=channels)).eval()
    x = torch.randn(3, 180, 64)
    lengths = torch.tensor([180, 120, 40])
    out = model(x, lengths)
    assert out.shape == (3, 6) and torch.isfinite(out).all()
    # padding after a clip's length is masked out of the pooling; only the convolutions at the clip's
    # very end see it, so the answer moves by a rounding-sized amount, not more
    alone = model(x[1:2, :120], torch.tensor([120]))
    torch.testing.assert_close(out[1:2], alone, atol=1e-2, rtol=0)


def test_config_round_trips_and_rejects_unknown_architectures() -> None:
    config = VoiceNetConfig(channels=(4, 8, 16, 16), dropout=0.1)
    assert VoiceNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown voice architecture"):
        VoiceNet(VoiceNetConfig(arch="lstm"))


def test_the_encoder_head_standardises_with_its_own_buffers_then_classifies() -> None:
    from mmer.voice.model import EncoderHead, build_voice_model

    config = VoiceNetConfig(arch="encoder", input_dim=8)
    head = build_voice_model(config)
    assert isinstance(head, EncoderHead) and isinstance(build_voice_model(VoiceNetConfig(arch="cnn")), VoiceNet)
    head.mean.fill_(2.0)
    head.scale.fill_(4.0)
    x = torch.randn(5, 8)
    expected = head.linear((x - 2.0) / 4.0)
    torch.testing.assert_close(head(x), expected)
    assert set(head.state_dict()) == {"mean", "scale", "linear.weight", "linear.bias"}  # the statistics ship too
