"""Checkpoints: exact round trips, atomic writes, seed-style state dicts, and clear errors for bad ones."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from mmer import checkpoint as checkpoint_module
from mmer.checkpoint import (
    CONFIG_FILE,
    SEED_WEIGHTS_FILE,
    WEIGHTS_FILE,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    read_checkpoint_config,
    resolve_checkpoint_dir,
    save_checkpoint,
)
from mmer.labels import CLASSES
from mmer.model import FusionConfig, MultimodalEmotionModel

VIDEO_DIM, AUDIO_DIM = 12, 8
CONFIG = FusionConfig(video_dim=VIDEO_DIM, audio_dim=AUDIO_DIM, dim=16, heads=2, layers=1, dropout=0.1)
METADATA: dict[str, Any] = {
    "backbones": {"video": {"name": "fer", "dim": VIDEO_DIM}, "audio": {"name": "wav2vec2", "dim": AUDIO_DIM}},
    "calibration": {"temperature": 1.7},
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, which only slow them down on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(seed: int = 0, config: FusionConfig = CONFIG) -> MultimodalEmotionModel:
    """A tiny model with fitted (non-identity) standardisation statistics."""
    torch.manual_seed(seed)
    model = MultimodalEmotionModel(config)
    model.video_norm.set_statistics(torch.randn(config.video_dim), torch.rand(config.video_dim) + 0.5)
    model.audio_norm.set_statistics(torch.randn(config.audio_dim), torch.rand(config.audio_dim) + 0.5)
    return model.eval()


def make_inputs(seed: int = 1) -> tuple[torch.Tensor, ...]:
    """Four clips with padding and one missing modality each way."""
    torch.manual_seed(seed)
    return (torch.randn(4, 6, VIDEO_DIM), torch.randn(4, 3, AUDIO_DIM), torch.tensor([6, 2, 0, 4]),
            torch.tensor([3, 1, 2, 0]))


def logits_of(model: MultimodalEmotionModel, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(*inputs)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_checkpoint(tmp_path / "model", make_model(), METADATA)


def edit_config(directory: Path, **changes: Any) -> None:
    path = directory / CONFIG_FILE
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(changes)
    path.write_text(json.dumps(config), encoding="utf-8")


# --- round trip --------------------------------------------------------------------------------------


def test_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    model, inputs = make_model(), make_inputs()
    directory = save_checkpoint(tmp_path / "model", model, METADATA)
    assert directory == tmp_path / "model"
    assert (directory / WEIGHTS_FILE).is_file() and (directory / CONFIG_FILE).is_file()
    loaded = load_checkpoint(directory)
    assert isinstance(loaded, Checkpoint)
    assert not loaded.model.training
    assert loaded.model.config == CONFIG
    assert loaded.path == directory
    # The standardisation statistics fitted on the training split come back too.
    assert torch.equal(loaded.model.video_norm.mean, model.video_norm.mean)
    assert torch.equal(loaded.model.audio_norm.std, model.audio_norm.std)
    assert torch.equal(logits_of(loaded.model, inputs), logits_of(model, inputs))


def test_config_describes_the_checkpoint(saved: Path) -> None:
    config = json.loads((saved / CONFIG_FILE).read_text(encoding="utf-8"))
    assert config["format"] == "mmer-checkpoint"
    assert config["format_version"] == 1
    assert config["labels"] == list(CLASSES)
    assert config["model"]["class"] == "MultimodalEmotionModel"
    assert FusionConfig.from_dict(config["model"]["fusion"]) == CONFIG
    assert config["backbones"] == METADATA["backbones"]
    assert config["calibration"] == {"temperature": 1.7}
    assert read_checkpoint_config(saved) == config


def test_checkpoint_properties_and_calibrated_probabilities(saved: Path) -> None:
    loaded = load_checkpoint(saved)
    assert loaded.labels == list(CLASSES)
    assert loaded.temperature == 1.7
    assert loaded.backbones == METADATA["backbones"]
    inputs = make_inputs()
    probs = loaded.probabilities(*inputs)
    assert probs.shape == (4, len(CLASSES))
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    torch.testing.assert_close(probs, torch.softmax(logits_of(loaded.model, inputs) / 1.7, dim=-1))
    # Calibration changes confidence, never the ranking.
    assert torch.equal(probs.argmax(-1), logits_of(loaded.model, inputs).argmax(-1))


def test_temperature_defaults_to_one(tmp_path: Path) -> None:
    directory = save_checkpoint(tmp_path / "model", make_model(), {"backbones": METADATA["backbones"]})
    loaded = load_checkpoint(directory)
    assert loaded.temperature == 1.0
    inputs = make_inputs()
    torch.testing.assert_close(loaded.probabilities(*inputs), torch.softmax(logits_of(loaded.model, inputs), -1))


# --- atomic writes -----------------------------------------------------------------------------------


def _partials(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".partial-" in p.name]


def test_saving_over_a_checkpoint_replaces_it(tmp_path: Path) -> None:
    first, second, inputs = make_model(seed=0), make_model(seed=1), make_inputs()
    save_checkpoint(tmp_path / "model", first, METADATA)
    (tmp_path / "model" / "stale.txt").write_text("from the first save")
    save_checkpoint(tmp_path / "model", second, {**METADATA, "calibration": {"temperature": 2.5}})
    loaded = load_checkpoint(tmp_path / "model")
    assert torch.equal(logits_of(loaded.model, inputs), logits_of(second, inputs))
    assert not torch.equal(logits_of(loaded.model, inputs), logits_of(first, inputs))
    assert loaded.temperature == 2.5
    assert not (tmp_path / "model" / "stale.txt").exists()  # replaced, not merged
    assert _partials(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_failed_save_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, inputs = make_model(seed=0), make_inputs()
    save_checkpoint(tmp_path / "model", model, METADATA)

    def broken_save_file(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "model", make_model(seed=1), METADATA)
    assert torch.equal(logits_of(load_checkpoint(tmp_path / "model").model, inputs), logits_of(model, inputs))
    assert _partials(tmp_path) == []


def test_save_creates_missing_parents(tmp_path: Path) -> None:
    directory = save_checkpoint(tmp_path / "runs" / "a" / "model", make_model(), METADATA)
    assert load_checkpoint(directory).model.config == CONFIG


@pytest.mark.parametrize("metadata", [{}, {"calibration": {"temperature": 1.0}}, {"backbones": {"video": {}}}],
                         ids=["empty", "no-backbones", "no-audio-backbone"])
def test_metadata_must_name_both_backbones(tmp_path: Path, metadata: dict) -> None:
    with pytest.raises(ValueError, match="backbones"):
        save_checkpoint(tmp_path / "model", make_model(), metadata)
    assert not (tmp_path / "model").exists()
    assert _partials(tmp_path) == []


# --- seed-style state dicts --------------------------------------------------------------------------


def test_loads_a_seed_style_state_dict(saved: Path) -> None:
    model, inputs = make_model(seed=3), make_inputs()
    torch.save(model.state_dict(), saved / SEED_WEIGHTS_FILE)
    (saved / WEIGHTS_FILE).unlink()
    loaded = load_checkpoint(saved)
    assert torch.equal(logits_of(loaded.model, inputs), logits_of(model, inputs))


def test_safetensors_wins_over_a_seed_state_dict(saved: Path) -> None:
    torch.save(make_model(seed=3).state_dict(), saved / SEED_WEIGHTS_FILE)
    inputs = make_inputs()
    assert torch.equal(logits_of(load_checkpoint(saved).model, inputs), logits_of(make_model(seed=0), inputs))


def _plant(path: str) -> str:
    """What a malicious pickle would run on load; here it only leaves a file behind."""
    Path(path).write_text("executed")
    return "payload"


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _plant, (self.marker,)


def test_pickled_objects_are_refused_not_executed(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "executed.txt"
    torch.save({"x": _Payload(marker)}, saved / SEED_WEIGHTS_FILE)
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="cannot read the weights"):
        load_checkpoint(saved)
    assert not marker.exists()
    # The payload is real: an unrestricted unpickler would have run it.
    torch.load(saved / SEED_WEIGHTS_FILE, weights_only=False)
    assert marker.read_text() == "executed"


def test_a_pth_that_is_not_a_state_dict_is_refused(saved: Path) -> None:
    torch.save([torch.zeros(3)], saved / SEED_WEIGHTS_FILE)
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError):
        load_checkpoint(saved)


# --- errors ------------------------------------------------------------------------------------------


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_directory_without_config(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_checkpoint(tmp_path / "empty")


def test_config_that_is_not_json(saved: Path) -> None:
    (saved / CONFIG_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(saved)


@pytest.mark.parametrize("content", [{"format": "something-else"}, {}, [1, 2]], ids=["other", "none", "list"])
def test_config_of_another_format(saved: Path, content: Any) -> None:
    (saved / CONFIG_FILE).write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(CheckpointError, match="not an mmer checkpoint config"):
        load_checkpoint(saved)


def test_newer_format_version_says_to_upgrade(saved: Path) -> None:
    edit_config(saved, format_version=99)
    with pytest.raises(CheckpointError, match=r"version 99 is newer.*upgrade mmer"):
        load_checkpoint(saved)


def test_non_integer_format_version(saved: Path) -> None:
    edit_config(saved, format_version="1")
    with pytest.raises(CheckpointError, match="version"):
        read_checkpoint_config(saved)


def test_different_labels(saved: Path) -> None:
    edit_config(saved, labels=list(reversed(CLASSES)))
    with pytest.raises(CheckpointError, match="labels"):
        load_checkpoint(saved)


def test_missing_model_settings(saved: Path) -> None:
    edit_config(saved, model={"class": "MultimodalEmotionModel"})
    with pytest.raises(CheckpointError, match="bad model settings"):
        load_checkpoint(saved)


def test_no_weights_file(saved: Path) -> None:
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"neither model\.safetensors nor model\.pth"):
        load_checkpoint(saved)
    assert read_checkpoint_config(saved)["format"] == "mmer-checkpoint"  # the config alone still reads


def test_truncated_weights(saved: Path) -> None:
    data = (saved / WEIGHTS_FILE).read_bytes()
    (saved / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read the weights"):
        load_checkpoint(saved)


def test_weights_that_do_not_fit_the_config(saved: Path) -> None:
    config = json.loads((saved / CONFIG_FILE).read_text(encoding="utf-8"))
    config["model"]["fusion"]["dim"] = 32
    (saved / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_checkpoint(saved)


def test_checkpoint_error_is_a_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


# --- run folders -------------------------------------------------------------------------------------


def test_resolves_a_run_folder_to_its_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    model, inputs = make_model(), make_inputs()
    save_checkpoint(run / "model", model, METADATA)
    (run / CONFIG_FILE).write_text(json.dumps({"arguments": {}}), encoding="utf-8")  # the run's own config
    assert resolve_checkpoint_dir(run) == run / "model"
    assert resolve_checkpoint_dir(run / "model") == run / "model"
    loaded = load_checkpoint(run)
    assert loaded.path == run / "model"
    assert torch.equal(logits_of(loaded.model, inputs), logits_of(model, inputs))
    assert read_checkpoint_config(run)["labels"] == list(CLASSES)


@pytest.mark.parametrize("run_config", [None, "{broken", "[]"], ids=["absent", "not-json", "not-a-dict"])
def test_run_folder_with_odd_own_config(tmp_path: Path, run_config: str | None) -> None:
    run = tmp_path / "run"
    save_checkpoint(run / "model", make_model(), METADATA)
    if run_config is not None:
        (run / CONFIG_FILE).write_text(run_config, encoding="utf-8")
    assert resolve_checkpoint_dir(run) == run / "model"
    assert load_checkpoint(run).model.config == CONFIG


def test_a_checkpoint_with_a_model_subfolder_is_itself(saved: Path, tmp_path: Path) -> None:
    # A real checkpoint is never redirected, even if something named model/ sits inside it.
    shutil.copytree(saved, saved.parent / "copy")
    (saved.parent / "copy").rename(saved / "model")
    assert resolve_checkpoint_dir(saved) == saved


def test_plain_folder_is_left_alone(tmp_path: Path) -> None:
    assert resolve_checkpoint_dir(tmp_path) == tmp_path


@pytest.mark.parametrize("key", ["format", "format_version", "labels", "model"])
def test_metadata_cannot_override_what_save_writes(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        save_checkpoint(tmp_path / "model", make_model(), {**METADATA, key: 7})
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("version", [0, -1, True])
def test_format_version_must_be_a_positive_integer(saved: Path, version: Any) -> None:
    edit_config(saved, format_version=version)
    with pytest.raises(CheckpointError, match="positive integer"):
        read_checkpoint_config(saved)
