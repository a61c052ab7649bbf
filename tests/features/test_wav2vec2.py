"""The Wav2Vec2 backbone with tiny models built here, saved, and loaded back by path like a real one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification, Wav2Vec2Model

from mmer.features.base import BackboneUnavailable, config_hash
from mmer.features.hub import IncompleteWeights
from mmer.features.wav2vec2 import (
    Wav2Vec2Backbone,
    min_input_samples,
    normalize_wave,
    plan_batches,
    split_long,
)
from tests.helpers import copy_with_weights

#: A layer-norm ("robust"-style) encoder like the default checkpoint's, shrunk: kernels (10, 3) and
#: strides (5, 2) give a frame every 10 samples and a receptive field of 20.
TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16),
            conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
            feat_extract_norm="layer", do_stable_layer_norm=True, vocab_size=8)
DIM = 32


def tiny_config(**changes: object) -> Wav2Vec2Config:
    return Wav2Vec2Config(**{**TINY, **changes})


def wave(seconds: float, seed: int = 0, rate: int = 16_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * (150 + 50 * seed) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints as save_pretrained writes them: a bare model and one with a classification head."""
    root = tmp_path_factory.mktemp("wav2vec2")
    torch.manual_seed(0)
    Wav2Vec2Model(tiny_config()).save_pretrained(root / "base")
    torch.manual_seed(1)
    Wav2Vec2ForSequenceClassification(tiny_config(num_labels=3)).save_pretrained(root / "cls")
    return {"base": root / "base", "cls": root / "cls"}


@pytest.fixture(scope="module")
def backbone(saved: dict[str, Path]) -> Wav2Vec2Backbone:
    return Wav2Vec2Backbone.from_pretrained(saved["base"], device="cpu")


def _assert_same_vectors(a: list[np.ndarray], b: list[np.ndarray], atol: float = 1e-5) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


# --- output -----------------------------------------------------------------------------------

def test_embed_gives_one_float32_unit_vector_per_clip(backbone: Wav2Vec2Backbone) -> None:
    out = backbone.embed([wave(0.5), wave(1.2, 1), wave(0.3, 2)])
    assert len(out) == 3
    for x in out:
        assert x.shape == (DIM,) and x.dtype == np.float32
        assert np.linalg.norm(x) == pytest.approx(1.0, abs=1e-5)
    assert backbone.embed([]) == []


def test_embed_is_deterministic(backbone: Wav2Vec2Backbone) -> None:
    clips = [wave(0.7), wave(0.4, 1)]
    np.testing.assert_array_equal(np.stack(backbone.embed(clips)), np.stack(backbone.embed(clips)))


def test_a_clip_alone_and_beside_a_longer_clip_gives_the_same_vector(backbone: Wav2Vec2Backbone) -> None:
    short, long = wave(0.5, 3), wave(2.0, 4)
    alone = backbone.embed([short])[0]
    padded = backbone.embed([long, short])[1]
    np.testing.assert_allclose(alone, padded, atol=1e-5, rtol=0)


def test_sorted_batching_returns_vectors_in_the_given_order(saved: dict[str, Path]) -> None:
    """Small batches and a small padded-audio budget force several sorted batches."""
    small = Wav2Vec2Backbone.from_pretrained(saved["base"], device="cpu", batch_size=2, max_batch_seconds=1.5)
    clips = [wave(0.3, 0), wave(1.1, 1), wave(0.6, 2), wave(0.05, 3), wave(0.9, 4)]
    _assert_same_vectors(small.embed(clips), [small.embed([c])[0] for c in clips])
    reversed_out = small.embed(clips[::-1])
    _assert_same_vectors(small.embed(clips), reversed_out[::-1])


def test_it_matches_transformers_feature_extractor_and_masked_mean(backbone: Wav2Vec2Backbone) -> None:
    """The reference: Wav2Vec2FeatureExtractor (do_normalize) pads and masks a batch, the model runs,
    the mean over each clip's real frames (the model's own mask conversion) is L2-normalised."""
    clips = [wave(0.8, 5) * 3, wave(0.35, 6) + 0.1]
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True,
                                         return_attention_mask=True)
    inputs = extractor(clips, sampling_rate=16_000, padding=True, return_tensors="pt")
    model = backbone.model
    with torch.inference_mode():
        hidden = model(inputs.input_values, attention_mask=inputs.attention_mask).last_hidden_state
        frames = model._get_feature_vector_attention_mask(hidden.shape[1], inputs.attention_mask)
        means = (hidden * frames[..., None]).sum(1) / frames.sum(1, keepdim=True)
        reference = torch.nn.functional.normalize(means, dim=-1).numpy()
    _assert_same_vectors(backbone.embed(clips), list(reference))


def test_config_names_source_normalisation_and_pooling(backbone: Wav2Vec2Backbone, saved: dict[str, Path]) -> None:
    cfg = backbone.config()
    assert cfg["backbone"] == "wav2vec2" and cfg["source"] == str(saved["base"].resolve())
    assert cfg["dim"] == DIM and cfg["sample_rate"] == 16_000 and cfg["random_init"] is False
    assert cfg["feat_extract_norm"] == "layer" and cfg["max_clip_seconds"] == 30.0 and cfg["dtype"] == "float32"
    json.dumps(cfg)


def test_from_config_is_marked_random(backbone: Wav2Vec2Backbone) -> None:
    config = tiny_config()
    random = Wav2Vec2Backbone.from_config(config, device="cpu")
    assert random.source == "" and random.config()["random_init"] is True
    assert config_hash(random.config()) != config_hash(backbone.config())
    assert config.mask_time_prob > 0  # the caller's config is not changed
    assert random.embed([wave(0.2)])[0].shape == (DIM,)


# --- inputs -----------------------------------------------------------------------------------

def test_normalisation_is_zero_mean_unit_variance_per_clip() -> None:
    x = normalize_wave(wave(0.5) * 7 + 0.3)
    assert x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-6 and float(x.std()) == pytest.approx(1.0, abs=1e-4)
    assert np.all(normalize_wave(np.full(100, 0.5, np.float32)) == 0)  # silence stays finite


def test_bad_waves_are_refused(backbone: Wav2Vec2Backbone) -> None:
    with pytest.raises(ValueError, match="empty"):
        backbone.embed([np.zeros(0, np.float32)])
    with pytest.raises(ValueError, match="mono"):
        backbone.embed([np.zeros((2, 100), np.float32)])
    with pytest.raises(ValueError, match="NaN"):
        backbone.embed([np.array([0.1, np.nan] * 50, np.float32)])


def test_a_clip_shorter_than_the_receptive_field_gives_one_frame(backbone: Wav2Vec2Backbone) -> None:
    assert backbone.min_samples == 20
    assert min_input_samples((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)) == 400  # the standard encoder
    x = backbone.embed([wave(0.0005)])[0]  # 8 samples
    assert x.shape == (DIM,) and np.isfinite(x).all()


def test_plan_batches_sorts_by_length_and_bounds_padded_audio() -> None:
    lengths = [100, 400, 250, 50, 400]
    plan = plan_batches(lengths, batch_size=2, max_samples=800)
    assert plan == [[1, 4], [2, 0], [3]]
    assert plan_batches(lengths, batch_size=8, max_samples=500) == [[1], [4], [2, 0], [3]]
    assert plan_batches([1000, 10], batch_size=8, max_samples=500) == [[0], [1]]  # too long: alone
    assert sorted(i for b in plan_batches(lengths, 3, 10_000) for i in b) == list(range(5))


# --- long clips -------------------------------------------------------------------------------

def test_split_long_cuts_equal_consecutive_chunks() -> None:
    x = np.arange(10, dtype=np.float32)
    assert [len(c) for c in split_long(x, 4)] == [4, 3, 3]
    np.testing.assert_array_equal(np.concatenate(split_long(x, 4)), x)
    assert len(split_long(x, None)) == 1 and len(split_long(x, 10)) == 1


def test_a_long_clip_is_the_mean_over_its_chunks_frames(saved: dict[str, Path]) -> None:
    chunked = Wav2Vec2Backbone.from_pretrained(saved["base"], device="cpu", max_clip_seconds=0.5)
    whole = Wav2Vec2Backbone.from_pretrained(saved["base"], device="cpu", max_clip_seconds=None)
    long = wave(1.2, 7)  # 19200 samples → 3 chunks of 6400
    normalised = torch.from_numpy(normalize_wave(long))
    with torch.inference_mode():
        frames = torch.cat([chunked.model(chunk[None]).last_hidden_state[0] for chunk in normalised.chunk(3)])
    reference = torch.nn.functional.normalize(frames.mean(0), dim=0).numpy()
    got = chunked.embed([long])[0]
    np.testing.assert_allclose(got, reference, atol=1e-5, rtol=0)
    np.testing.assert_allclose(chunked.embed([wave(0.3), long])[1], got, atol=1e-5, rtol=0)
    assert np.abs(whole.embed([long])[0] - got).max() > 1e-4  # chunking is a real choice, recorded in config()
    assert chunked.config()["max_clip_seconds"] == 0.5 and whole.config()["max_clip_seconds"] is None


# --- group norm -------------------------------------------------------------------------------

def test_a_group_norm_encoder_runs_clips_one_at_a_time(tmp_path: Path) -> None:
    torch.manual_seed(0)
    group = Wav2Vec2Backbone.from_config(tiny_config(feat_extract_norm="group", do_stable_layer_norm=False),
                                         device="cpu")
    assert group.batchable is False
    short, long = wave(0.4, 1), wave(1.5, 2)
    np.testing.assert_allclose(group.embed([long, short])[1], group.embed([short])[0], atol=1e-6, rtol=0)
    # Why: padded into a batch, GroupNorm's statistics include the padding and the short clip changes.
    x = torch.zeros(2, len(long))
    x[0] = torch.from_numpy(normalize_wave(long))
    x[1, :len(short)] = torch.from_numpy(normalize_wave(short))
    with torch.inference_mode():
        padded = group.model(x).last_hidden_state[1]
        alone = group.model(x[1:, :len(short)]).last_hidden_state[0]
    assert (padded[:len(alone)] - alone).abs().max() > 1e-3


# --- checkpoints ------------------------------------------------------------------------------

def test_loaded_weights_are_the_saved_ones(backbone: Wav2Vec2Backbone, saved: dict[str, Path]) -> None:
    stored = Wav2Vec2Model.from_pretrained(saved["base"]).state_dict()
    for name, tensor in backbone.model.state_dict().items():
        torch.testing.assert_close(tensor, stored[name], rtol=0, atol=0, msg=name)
    assert not hasattr(backbone.model, "masked_spec_embed")


def test_a_classification_checkpoint_loads_without_random_weights(saved: dict[str, Path]) -> None:
    """Weights under ``wav2vec2.`` plus projector and classifier, as audeering's model has a head."""
    loaded = Wav2Vec2Backbone.from_pretrained(saved["cls"], device="cpu")
    stored = load_file(str(saved["cls"] / "model.safetensors"))
    assert all(k.startswith(("wav2vec2.", "projector.", "classifier.")) for k in stored)
    reference = Wav2Vec2ForSequenceClassification.from_pretrained(saved["cls"]).wav2vec2.state_dict()
    for name, tensor in loaded.model.state_dict().items():
        torch.testing.assert_close(tensor, reference[name], rtol=0, atol=0, msg=name)


def test_legacy_weight_norm_names_load(saved: dict[str, Path], tmp_path: Path) -> None:
    """Checkpoints from before torch's parametrized weight norm (audeering's, 2022) name the positional
    conv's weights ``weight_g``/``weight_v``; they must load, not be left random."""
    def legacy(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k.replace("parametrizations.weight.original0", "weight_g")
                 .replace("parametrizations.weight.original1", "weight_v"): v for k, v in weights.items()}

    folder = copy_with_weights(saved["cls"], tmp_path / "legacy", legacy)
    assert any(k.endswith("weight_g") for k in load_file(str(folder / "model.safetensors")))
    loaded = Wav2Vec2Backbone.from_pretrained(folder, device="cpu")
    reference = Wav2Vec2Backbone.from_pretrained(saved["cls"], device="cpu")
    np.testing.assert_array_equal(loaded.embed([wave(0.3)])[0], reference.embed([wave(0.3)])[0])


def test_a_checkpoint_without_masked_spec_embed_loads(saved: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_with_weights(saved["cls"], tmp_path / "no-mask",
                                lambda w: {k: v for k, v in w.items() if "masked_spec_embed" not in k})
    assert Wav2Vec2Backbone.from_pretrained(folder, device="cpu").embed([wave(0.2)])[0].shape == (DIM,)


def test_a_missing_encoder_weight_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    missing = "feature_projection.projection.weight"
    folder = copy_with_weights(saved["cls"], tmp_path / "broken",
                                lambda w: {k: v for k, v in w.items() if missing not in k})
    with pytest.raises(IncompleteWeights, match="feature_projection.projection.weight.*random") as info:
        Wav2Vec2Backbone.from_pretrained(folder, device="cpu")
    assert "\n" not in str(info.value)


def test_a_config_without_weights_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "config-only").mkdir()
    shutil.copy(saved["base"] / "config.json", tmp_path / "config-only" / "config.json")
    with pytest.raises(IncompleteWeights, match="no weights"):
        Wav2Vec2Backbone.from_pretrained(tmp_path / "config-only", device="cpu")


def test_an_uncached_hub_id_offline_is_a_one_line_error() -> None:
    with pytest.raises(BackboneUnavailable) as info:
        Wav2Vec2Backbone.from_pretrained("mmer-tests/no-such-wav2vec2", device="cpu")
    message = str(info.value)
    assert "not in the local Hugging Face cache" in message and "--source DIR" in message and "\n" not in message
