from __future__ import annotations

import numpy as np
import pytest

from mmer.features.audio_stats import LogMelStatsBackbone, mel_filterbank, pitch_track
from mmer.synthetic import STYLES, voice
from tests.helpers import tone


def test_filterbank_covers_the_band_with_unit_peaks() -> None:
    fb = mel_filterbank()
    assert fb.shape == (64, 257)
    assert fb.max(axis=1).min() > 0.5  # every filter has a peak near 1
    assert fb[:, :2].sum() == 0  # nothing below 60 Hz


@pytest.mark.parametrize("freq", [110.0, 220.0, 330.0])
def test_pitch_track_finds_a_tones_frequency(freq: float) -> None:
    f0, voiced = pitch_track(tone(1.0, freq=freq))
    assert voiced.mean() > 0.9
    assert np.median(f0[voiced]) == pytest.approx(freq, rel=0.03)


def test_features_separate_emotions_by_pitch_and_loudness() -> None:
    backbone = LogMelStatsBackbone()
    rng = np.random.default_rng(0)
    feats = {a: backbone.embed([voice(STYLES[a], 2.0, 1.0, rng)])[0] for a in ("SAD", "NEU", "ANG", "FEA")}
    pitch_mean = {a: v[256] for a, v in feats.items()}
    loudness_mean = {a: v[262] for a, v in feats.items()}
    assert pitch_mean["FEA"] > pitch_mean["ANG"] > pitch_mean["NEU"] > pitch_mean["SAD"]
    assert loudness_mean["ANG"] > loudness_mean["SAD"]


def test_shape_dtype_determinism_and_batch_independence() -> None:
    backbone = LogMelStatsBackbone()
    a, b = tone(1.0), tone(3.0, freq=300.0)
    alone = backbone.embed([a])[0]
    batched = backbone.embed([b, a])[1]
    assert alone.shape == (backbone.dim,) and alone.dtype == np.float32
    np.testing.assert_array_equal(alone, batched)
    np.testing.assert_array_equal(alone, backbone.embed([a])[0])


@pytest.mark.parametrize("samples", [0, 10, 16_000])
def test_silence_and_tiny_clips_give_finite_features(samples: int) -> None:
    out = LogMelStatsBackbone().embed([np.zeros(samples, np.float32)])[0]
    assert out.shape == (LogMelStatsBackbone.dim,) and np.isfinite(out).all()
