"""The VAD: our batched rebuild gives the packaged Silero model's probabilities, finds real speech
and ignores tones, noise and silence, and leaves torch's thread count alone."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mmer import media
from mmer.voice import vad
from tests.helpers import tone

SR = vad.SAMPLE_RATE


@pytest.fixture(scope="module")
def ravdess_clip(shared_data: Path) -> np.ndarray:
    """A real actor's angry 'Kids are talking by the door' (about 1.4 s of silence before it)."""
    return media.decode_audio(shared_data / "ravdess-speech-16k/Actor_01/03-01-05-02-01-01-01.flac")


def test_the_rebuilt_network_matches_the_packaged_torchscript_model(ravdess_clip: np.ndarray) -> None:
    threads = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from silero_vad import load_silero_vad

        reference = load_silero_vad()
    torch.set_num_threads(threads)
    wave = np.concatenate([ravdess_clip, ravdess_clip[:7000]])  # not a whole number of chunks
    expected = reference.audio_forward(torch.from_numpy(wave), SR)[0].numpy()
    ours = vad.speech_probabilities(wave)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_real_speech_is_found_where_it_is(ravdess_clip: np.ndarray) -> None:
    regions = vad.speech_regions(ravdess_clip)
    span = vad.speech_span(regions)
    assert span is not None
    assert 1.0 < span.start < 1.8 and 2.5 < span.end < 3.6
    assert vad.speech_seconds(regions) == pytest.approx(sum(r.duration for r in regions))


def test_silence_noise_and_a_tone_are_not_speech() -> None:
    rng = np.random.default_rng(0)
    assert vad.speech_regions(np.zeros(3 * SR, np.float32)) == []
    assert vad.speech_regions((0.05 * rng.standard_normal(3 * SR)).astype(np.float32)) == []
    assert vad.speech_regions(tone(3.0)) == []


def test_speech_after_silence_is_placed_in_time(ravdess_clip: np.ndarray) -> None:
    wave = np.concatenate([np.zeros(5 * SR, np.float32), ravdess_clip])
    span = vad.speech_span(vad.speech_regions(wave))
    assert span is not None and span.start > 5.5  # not before the silence ends


def test_too_short_or_the_wrong_rate() -> None:
    assert vad.speech_regions(np.zeros(100, np.float32)) == []
    with pytest.raises(ValueError, match="16000"):
        vad.speech_regions(np.zeros(SR, np.float32), sample_rate=8000)


def test_loading_keeps_torch_thread_count() -> None:
    torch.set_num_threads(2)
    vad.load()
    vad.speech_regions(np.zeros(SR, np.float32))
    assert torch.get_num_threads() == 2


def test_speech_seconds_inside_a_range() -> None:
    regions = [vad.Speech(0.5, 1.5), vad.Speech(2.0, 3.0)]
    assert vad.speech_seconds(regions, 1.0, 2.5) == pytest.approx(1.0)
    assert vad.speech_span(regions) == vad.Speech(0.5, 3.0)
    assert vad.speech_span([]) is None
