"""The voice expert's speech encoder: Resemblyzer's network as the project rebuilds it, its front end,
and the conversion of the wheel's weights."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mmer import weights
from mmer.features.base import BackboneUnavailable
from mmer.voice import encoder as enc


def test_the_filterbank_is_slaneys_mel_scale_with_unit_area_triangles() -> None:
    filters = enc.slaney_filterbank()
    assert filters.shape == (40, 201) and (filters >= 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > 180  # bands climb towards Nyquist
    # Slaney's scale: linear below 1 kHz (15 mel), 27 mel per factor 6.4 above it
    assert enc._hz_to_mel(500.0) == pytest.approx(7.5) and enc._hz_to_mel(1000.0) == pytest.approx(15.0)
    assert enc._hz_to_mel(6400.0) == pytest.approx(42.0)
    hz = np.array([0.0, 300.0, 999.0, 1000.0, 4000.0, 8000.0])
    np.testing.assert_allclose(enc._mel_to_hz(enc._hz_to_mel(hz)), hz, atol=1e-6)
    # norm="slaney": each triangle's area (in Hz) is 1, whatever its width
    areas = filters.sum(axis=1) * 8000 / 200
    assert np.allclose(areas, 1.0, rtol=0.05)


def test_quiet_speech_is_raised_to_minus_30_dbfs_and_loud_speech_is_left_alone() -> None:
    tone = np.sin(np.linspace(0, 800 * np.pi, 16000)).astype(np.float32)
    quiet = enc.raise_volume(tone * 0.001)
    assert 20 * np.log10(np.sqrt(np.mean(quiet**2))) == pytest.approx(-30.0, abs=0.01)
    np.testing.assert_array_equal(enc.raise_volume(tone), tone)
    assert not enc.raise_volume(np.zeros(100, np.float32)).any()
    # the front end is therefore the same for a quiet recording and the same one 20 dB quieter
    a, b = enc.encoder_mel(tone * 0.01), enc.encoder_mel(tone * 0.001)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6 * float(a.max()))


def test_mel_frames_are_centred_every_10_ms() -> None:
    assert enc.encoder_mel(np.zeros(16000, np.float32)).shape == (101, 40)
    assert enc.encoder_mel(np.zeros(100, np.float32)).shape == (1, 40)


def test_the_layer_by_layer_network_is_the_packages_three_layer_lstm() -> None:
    """The package's VoiceEncoder is ``nn.LSTM(40, 256, 3)`` + linear + ReLU + L2 norm; the same
    tensors, renamed by the converter, give the same embedding in the project's network."""
    torch.manual_seed(0)
    lstm, linear = nn.LSTM(40, 256, 3, batch_first=True), nn.Linear(256, 256)
    state = {**{f"lstm.{k}": v for k, v in lstm.state_dict().items()},
             **{f"linear.{k}": v for k, v in linear.state_dict().items()},
             "similarity_weight": torch.tensor([10.0]), "similarity_bias": torch.tensor([-5.0])}
    buffer = io.BytesIO()
    torch.save({"step": 1, "model_state": state, "optimizer_state": {}}, buffer)
    model = enc.SpeakerEncoder()
    model.load_state_dict(weights.convert_resemblyzer(buffer.getvalue()))
    mels = torch.rand(2, 120, 40)
    with torch.inference_mode():
        _, (hidden, _) = lstm(mels)
        reference = torch.relu(linear(hidden[-1]))
        reference = reference / reference.norm(dim=1, keepdim=True)
        torch.testing.assert_close(model(mels), reference)
        states = model.layer_states(mels)
        assert [tuple(s.shape) for s in states] == [(2, 120, 256)] * 3
        torch.testing.assert_close(states[-1], lstm(mels)[0])


def test_a_checkpoint_that_does_not_fit_is_refused() -> None:
    buffer = io.BytesIO()
    torch.save({"model_state": {"lstm.weight_ih_l0": torch.zeros(3, 3)}}, buffer)
    with pytest.raises(weights.WeightsError, match="does not fit the speech encoder"):
        weights.convert_resemblyzer(buffer.getvalue())
    with pytest.raises(weights.WeightsError, match="cannot read"):
        weights.convert_resemblyzer(b"not a checkpoint")


def test_the_real_wheel_converts_and_the_statistics_describe_each_stretch(tmp_path: Path,
                                                                          resemblyzer_wheel: Path) -> None:
    path = weights.fetch_resemblyzer(tmp_path, wheel=resemblyzer_wheel)
    assert weights.is_current(path)
    model = enc.load_encoder(path)
    rng = np.random.default_rng(0)
    speech = [rng.standard_normal(n).astype(np.float32) * 0.05 for n in (8000, 24000)]
    stats = enc.encoder_statistics(model, speech)
    assert stats.shape == (2, enc.DIM) and np.isfinite(stats).all()
    # each stretch is read alone: the same stretch gives the same numbers in any company
    np.testing.assert_allclose(enc.encoder_statistics(model, speech[1:])[0], stats[1], rtol=1e-5, atol=1e-6)
    assert (stats[:, 256:512] >= 0).all()  # the first layer's spread over time


def test_a_missing_encoder_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(BackboneUnavailable, match="mmer weights fetch"):
        enc.load_encoder(tmp_path / "nowhere.safetensors")
