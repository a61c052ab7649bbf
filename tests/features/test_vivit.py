"""The ViViT backbone with tiny models built here, saved, and loaded back by path like a real one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import VivitConfig, VivitForVideoClassification, VivitImageProcessor, VivitModel

from mmer.features.base import BackboneUnavailable, config_hash
from mmer.features.hub import IncompleteWeights
from mmer.features.vivit import (
    VivitBackbone,
    pool_tubelets,
    preprocess_frames,
    resample_indices,
    shortest_edge_size,
)
from tests.helpers import copy_with_weights

#: 4 frames of 32², tubelets 2×8×8: 2 time steps × 4×4 patches.
TINY = dict(image_size=32, num_frames=4, tubelet_size=[2, 8, 8], hidden_size=32, num_hidden_layers=1,
            num_attention_heads=2, intermediate_size=64)
STEPS, PATCHES, DIM = 2, 16, 32


def tiny_config(**changes: object) -> VivitConfig:
    return VivitConfig(**{**TINY, **changes})


def clips(count: int, frames: int = 4, size: tuple[int, int] = (40, 48), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints as save_pretrained writes them: a bare VivitModel and a classification model."""
    root = tmp_path_factory.mktemp("vivit")
    torch.manual_seed(0)
    VivitModel(tiny_config()).save_pretrained(root / "base")
    torch.manual_seed(1)
    VivitForVideoClassification(tiny_config(num_labels=3)).save_pretrained(root / "cls")
    return {"base": root / "base", "cls": root / "cls"}


@pytest.fixture(scope="module")
def backbone(saved: dict[str, Path]) -> VivitBackbone:
    return VivitBackbone.from_pretrained(saved["base"], device="cpu", batch_size=2)


# --- output -----------------------------------------------------------------------------------

def test_embed_gives_one_float32_vector_per_tubelet_step(backbone: VivitBackbone) -> None:
    out = backbone.embed(clips(3) + [clips(1, size=(64, 30))[0]])
    assert len(out) == 4
    for x in out:
        assert x.shape == (STEPS, DIM) and x.dtype == np.float32 and np.isfinite(x).all()
    assert backbone.dim == DIM and backbone.num_frames == 4 and backbone.steps == STEPS
    assert backbone.embed([]) == []


def test_embed_is_deterministic_and_independent_of_batching(backbone: VivitBackbone, saved: dict[str, Path]) -> None:
    inputs = clips(3, seed=5)
    batched = backbone.embed(inputs)  # batch_size 2: batches of 2 and 1
    np.testing.assert_array_equal(np.stack(batched), np.stack(backbone.embed(inputs)))
    single = [backbone.embed([x])[0] for x in inputs]
    np.testing.assert_allclose(np.stack(batched), np.stack(single), atol=1e-5)


def test_loaded_weights_are_the_saved_ones(backbone: VivitBackbone, saved: dict[str, Path]) -> None:
    stored = VivitModel.from_pretrained(saved["base"]).state_dict()
    for name, tensor in backbone.model.state_dict().items():
        torch.testing.assert_close(tensor, stored[name], rtol=0, atol=0, msg=name)
    assert backbone.model.pooler is None  # built without it: nothing of it can be random


def test_config_names_source_and_preprocessing(backbone: VivitBackbone, saved: dict[str, Path]) -> None:
    cfg = backbone.config()
    assert cfg["backbone"] == "vivit" and cfg["source"] == str(saved["base"].resolve())
    assert cfg["random_init"] is False and cfg["num_frames"] == cfg["model_frames"] == 4
    assert cfg["steps"] == STEPS and cfg["dtype"] == "float32" and "127.5" in cfg["preprocess"]
    json.dumps(cfg)


def test_from_config_is_marked_random(backbone: VivitBackbone) -> None:
    random = VivitBackbone.from_config(tiny_config(), device="cpu")
    assert random.source == "" and random.config()["random_init"] is True
    assert config_hash(random.config()) != config_hash(backbone.config())
    assert random.embed(clips(1))[0].shape == (STEPS, DIM)


# --- checkpoints ------------------------------------------------------------------------------

def test_a_classification_checkpoint_loads_without_random_weights(saved: dict[str, Path]) -> None:
    """Weights under ``vivit.`` plus a classifier and no pooler: every backbone weight loads."""
    loaded = VivitBackbone.from_pretrained(saved["cls"], device="cpu")
    stored = load_file(str(saved["cls"] / "model.safetensors"))
    assert any(k.startswith("vivit.") for k in stored) and "classifier.weight" in stored
    reference = VivitForVideoClassification.from_pretrained(saved["cls"]).vivit.state_dict()
    for name, tensor in loaded.model.state_dict().items():
        torch.testing.assert_close(tensor, reference[name], rtol=0, atol=0, msg=name)


def test_a_missing_weight_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    def drop(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in weights.items() if "layernorm_before.weight" not in k}

    folder = copy_with_weights(saved["base"], tmp_path / "broken", drop)
    with pytest.raises(IncompleteWeights, match="layernorm_before.weight.*random") as info:
        VivitBackbone.from_pretrained(folder, device="cpu")
    assert "\n" not in str(info.value)


def test_a_misshapen_weight_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    def shrink(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**weights, "layernorm.weight": torch.ones(5)}

    folder = copy_with_weights(saved["base"], tmp_path / "misshapen", shrink)
    with pytest.raises(IncompleteWeights, match="random"):
        VivitBackbone.from_pretrained(folder, device="cpu")


def test_a_config_without_weights_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "config-only").mkdir()
    shutil.copy(saved["base"] / "config.json", tmp_path / "config-only" / "config.json")
    with pytest.raises(IncompleteWeights, match="no weights"):
        VivitBackbone.from_pretrained(tmp_path / "config-only", device="cpu")


def test_another_model_type_is_refused(tmp_path: Path) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    Wav2Vec2Model(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                 conv_dim=(8,), conv_kernel=(4,), conv_stride=(2,), num_conv_pos_embeddings=4,
                                 num_conv_pos_embedding_groups=1)).save_pretrained(tmp_path / "w2v")
    with pytest.raises(BackboneUnavailable, match="wav2vec2 model, not vivit"):
        VivitBackbone.from_pretrained(tmp_path / "w2v", device="cpu")


def test_an_uncached_hub_id_offline_is_a_one_line_error() -> None:
    with pytest.raises(BackboneUnavailable) as info:
        VivitBackbone.from_pretrained("mmer-tests/no-such-vivit", device="cpu")
    message = str(info.value)
    assert "not in the local Hugging Face cache" in message and "--source DIR" in message and "\n" not in message


def test_a_missing_folder_is_not_sent_to_the_hub(tmp_path: Path) -> None:
    with pytest.raises(BackboneUnavailable, match="no such folder"):
        VivitBackbone.from_pretrained(tmp_path / "nothing-here", device="cpu")


# --- frames and preprocessing -----------------------------------------------------------------

def test_resample_indices_pick_the_frame_under_each_part_centre() -> None:
    assert resample_indices(8, 4).tolist() == [1, 3, 5, 7]
    assert resample_indices(4, 4).tolist() == [0, 1, 2, 3]
    assert resample_indices(2, 4).tolist() == [0, 0, 1, 1]
    assert resample_indices(1, 3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        resample_indices(0, 4)


def test_clips_of_other_lengths_are_resampled_to_the_model_frames(backbone: VivitBackbone) -> None:
    clip = clips(1, frames=8, seed=3)[0]
    np.testing.assert_allclose(backbone.embed([clip])[0], backbone.embed([clip[[1, 3, 5, 7]]])[0], atol=1e-6)


def test_sampling_more_frames_than_the_model_takes(saved: dict[str, Path]) -> None:
    wide = VivitBackbone.from_pretrained(saved["base"], device="cpu", num_frames=8)
    assert wide.num_frames == 8 and wide.model_frames == 4
    assert wide.embed(clips(1, frames=8))[0].shape == (STEPS, DIM)
    assert wide.config()["num_frames"] == 8


@pytest.mark.parametrize("shape", [(4, 40, 48, 3), (4, 64, 30, 3), (4, 37, 37, 3), (4, 300, 260, 3)])
def test_preprocessing_matches_the_vivit_image_processor_in_minus_one_to_one(shape: tuple[int, ...]) -> None:
    """Resize, crop and [-1, 1] scaling as VivitImageProcessor computes them (with PIL), less its
    extra mean/std step (module docstring); within one grey level where PIL rounds differently."""
    frames = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    ours = preprocess_frames(frames, num_frames=4, image_size=32).numpy()
    processor = VivitImageProcessor(size={"shortest_edge": 37}, crop_size={"height": 32, "width": 32},
                                    do_normalize=False)
    reference = np.asarray(processor(list(frames), return_tensors="np")["pixel_values"][0])
    assert ours.shape == reference.shape == (4, 3, 32, 32)
    diff = np.abs(ours - reference) * 127.5
    assert diff.max() <= 1.0 + 1e-3 and diff.mean() < 0.3
    assert ours.min() >= -1.0 and ours.max() <= 1.0


def test_shortest_edge_size_truncates_the_long_side_like_transformers() -> None:
    assert shortest_edge_size(480, 640, 256) == (256, 341)
    assert shortest_edge_size(640, 480, 256) == (341, 256)
    assert shortest_edge_size(64, 64, 256) == (256, 256)


def test_bad_frames_are_refused(backbone: VivitBackbone) -> None:
    with pytest.raises(ValueError, match="uint8"):
        backbone.embed([np.zeros((4, 32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match="RGB"):
        backbone.embed([np.zeros((4, 32, 32), np.uint8)])
    with pytest.raises(ValueError, match="no frames"):
        backbone.embed([np.zeros((0, 32, 32, 3), np.uint8)])


# --- token order ------------------------------------------------------------------------------

def test_pool_tubelets_reads_tokens_in_time_height_width_order() -> None:
    """Token k of the Conv3d flatten is (t, h, w) = divmod chain of k; each step's mean is its t."""
    t_index = torch.arange(STEPS).repeat_interleave(PATCHES).float()  # 0×16, 1×16
    hidden = torch.cat([torch.full((1, 1), -100.0), t_index[None]], dim=1)[..., None].expand(2, -1, 3)
    pooled = pool_tubelets(hidden, STEPS)
    assert pooled.shape == (2, STEPS, 3)
    torch.testing.assert_close(pooled[..., 0], torch.tensor([[0.0, 1.0], [0.0, 1.0]]))


def test_each_output_step_sees_only_its_own_frames() -> None:
    """With no encoder layers, step t depends on frames of tubelet t only, if and only if tokens are
    grouped by time as :func:`pool_tubelets` assumes (a (h, w, t) order would mix the steps)."""
    torch.manual_seed(0)
    flat = VivitBackbone.from_config(tiny_config(num_hidden_layers=0), device="cpu")
    clip = clips(1, size=(32, 32), seed=7)[0]
    changed = clip.copy()
    changed[2:] = 255 - changed[2:]  # frames 2 and 3: the second tubelet
    before, after = flat.embed([clip, changed])
    np.testing.assert_allclose(before[0], after[0], atol=1e-6)
    assert np.abs(before[1] - after[1]).max() > 1e-3
