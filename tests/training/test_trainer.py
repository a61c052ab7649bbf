"""The trainer on planted-signal features: it learns what is there, only from what is there,
repeats exactly, resumes exactly, and writes the run folder DESIGN.md describes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmer.checkpoint import load_checkpoint
from mmer.datasets import read_manifest, write_manifest
from mmer.training.config import RunError
from mmer.training.data import feature_statistics, load_features
from mmer.training.evaluate import evaluate_checkpoint
from mmer.training.sample_features import make_sample_features
from mmer.training.trainer import train
from tests.training.conftest import SIGNAL, SMALL, small_config

CHANCE = 1 / 6


def _history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "model").model.state_dict()


def test_planted_signal_is_learnt(finished_run) -> None:
    test = finished_run.metrics["test"]
    assert test["uar"] >= 0.95, test
    assert test["war"] >= 0.95


def test_model_uses_what_it_is_given(video_only_signal: Path, tmp_path: Path) -> None:
    """Signal in the video only: hiding the video leaves chance; hiding the (noise) audio costs nothing."""
    run = train(small_config(video_only_signal, tmp_path))
    model = run.run_dir / "model"
    manifest = video_only_signal / "manifest.csv"
    scores = {drop: evaluate_checkpoint(model, video_only_signal, manifest, tmp_path / f"eval-{drop}", split="test",
                                        drop=drop)["metrics"]["uar"] for drop in (None, "audio", "video")}
    assert scores[None] >= 0.9, scores
    assert scores["audio"] >= 0.9, scores
    assert scores["video"] <= CHANCE + 0.15, scores


def test_run_folder_matches_the_design(finished_run) -> None:
    run_dir = finished_run.run_dir
    for name in ("config.json", "metrics.json", "history.csv", "confusion.png", "curves.png", "attention.jsonl",
                 "model/model.safetensors", "model/config.json"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "resume.pt").exists()  # removed once the run is complete
    assert not list(run_dir.rglob("*.partial-*"))

    metrics = json.loads((run_dir / "metrics.json").read_text())
    for part in ("test", "val"):
        assert {"war", "uar", "macro_f1", "per_class", "confusion", "calibration"} <= set(metrics[part])
        assert np.asarray(metrics[part]["confusion"]).shape == (6, 6)
    assert np.asarray(metrics["test"]["confusion"]).sum() == metrics["clips"]["test"]
    splits = metrics["splits"]
    assert set(splits["train"]).isdisjoint(splits["val"]) and set(splits["train"]).isdisjoint(splits["test"])
    assert set(splits["val"]).isdisjoint(splits["test"])
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == [f"ravdess_{i:02d}" for i in range(1, 7)]

    arguments = json.loads((run_dir / "config.json").read_text())["arguments"]
    assert arguments["epochs"] == 15 and arguments["learning_rate"] == 1e-3 and arguments["save_attention"]
    history = _history(run_dir)
    assert len(history) == metrics["epochs_run"] and 1 <= metrics["best_epoch"] <= len(history)
    assert float(history[metrics["best_epoch"] - 1]["val_uar"]) == pytest.approx(metrics["val"]["uar"])


def test_attention_is_saved_per_test_clip(finished_run) -> None:
    lines = [json.loads(line) for line in (finished_run.run_dir / "attention.jsonl").read_text().splitlines()]
    assert len(lines) == finished_run.metrics["clips"]["test"]
    actors = set(finished_run.metrics["splits"]["test"])
    for line in lines:
        assert line["clip_id"].startswith(tuple(a.replace("_", "-") for a in actors))
        assert len(line["video_pool"]) == SMALL["video_frames"]
        assert sum(line["video_pool"]) == pytest.approx(1, abs=1e-3)
        (a2v,) = line["audio_to_video"]  # one layer, one audio token over 8 frames
        assert np.asarray(a2v).shape == (1, SMALL["video_frames"])
        assert 0 < line["video_share"] < 1
        assert sum(line["scores"].values()) == pytest.approx(1, abs=1e-3)


def test_checkpoint_carries_calibration_and_train_only_statistics(finished_run, planted: Path) -> None:
    checkpoint = load_checkpoint(finished_run.run_dir / "model")
    assert checkpoint.temperature == pytest.approx(finished_run.metrics["temperature"])
    assert checkpoint.config["backbones"]["video"]["dim"] == SMALL["video_dim"]
    assert checkpoint.config["splits"] == finished_run.metrics["splits"]

    features, _ = load_features(planted / "manifest.csv", planted)
    train_set = features.where_actors(set(finished_run.metrics["splits"]["train"]))
    mean, std = feature_statistics(train_set, "video")
    all_mean, _ = feature_statistics(features, "video")
    assert torch.allclose(checkpoint.model.video_norm.mean, mean, atol=1e-6)
    assert torch.allclose(checkpoint.model.video_norm.std, std, atol=1e-6)
    assert not torch.allclose(checkpoint.model.video_norm.mean, all_mean, atol=1e-3)  # test actors left out


def test_evaluate_reproduces_the_runs_test_metrics(finished_run, planted: Path, tmp_path: Path) -> None:
    result = evaluate_checkpoint(finished_run.run_dir, planted, planted / "manifest.csv", tmp_path, split="test")
    ours, theirs = result["metrics"], finished_run.metrics["test"]
    assert ours["confusion"] == theirs["confusion"]
    assert ours["uar"] == pytest.approx(theirs["uar"])
    assert ours["calibration"]["ece_after"] == pytest.approx(theirs["calibration"]["ece_after"])
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "confusion.png").is_file()


def test_same_seed_repeats_exactly_and_another_seed_differs(planted: Path, tmp_path: Path) -> None:
    runs = [train(small_config(planted, tmp_path / name, epochs=3, seed=seed)).run_dir
            for name, seed in (("a", 1), ("b", 1), ("c", 2))]
    assert _history(runs[0]) == _history(runs[1])
    first, again, other = (_weights(r) for r in runs)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_resume_ends_where_an_uninterrupted_run_ends(planted: Path, tmp_path: Path) -> None:
    whole = train(small_config(planted, tmp_path / "whole", epochs=5, patience=10))

    def interrupt(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    config = small_config(planted, tmp_path / "parts", epochs=5, patience=10)
    with pytest.raises(KeyboardInterrupt):
        train(config, on_epoch_end=interrupt)
    assert (config.run_dir / "resume.pt").is_file() and not (config.run_dir / "metrics.json").exists()
    assert len(_history(config.run_dir)) == 2
    resumed = train(config, resume=True)

    assert _history(resumed.run_dir) == _history(whole.run_dir)
    assert resumed.metrics["test"]["confusion"] == whole.metrics["test"]["confusion"]
    a, b = _weights(whole.run_dir), _weights(resumed.run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_existing_run_is_not_overwritten(finished_run) -> None:
    from mmer.training.config import TrainConfig

    arguments = json.loads((finished_run.run_dir / "config.json").read_text())["arguments"]
    with pytest.raises(RunError, match="already exists"):
        train(TrainConfig(**arguments))


def test_resume_needs_a_run_folder(planted: Path, tmp_path: Path) -> None:
    with pytest.raises(RunError, match="nothing to resume"):
        train(small_config(planted, tmp_path), resume=True)


def test_folds_test_every_actor_once_and_report_mean_and_spread(planted: Path, tmp_path: Path) -> None:
    run = train(small_config(planted, tmp_path, folds=3, epochs=4))
    summary = json.loads((run.run_dir / "metrics.json").read_text())
    assert summary["folds"] == 3
    tested = [a for fold in summary["splits"].values() for a in fold["test"]]
    assert sorted(tested) == [f"ravdess_{i:02d}" for i in range(1, 7)]
    for fold in summary["splits"].values():
        assert set(fold["val"]).isdisjoint(fold["test"]) and set(fold["train"]).isdisjoint(fold["test"])
        assert set(fold["train"]).isdisjoint(fold["val"])
    uars = [json.loads((run.run_dir / f"fold_{i}" / "metrics.json").read_text())["test"]["uar"] for i in (1, 2, 3)]
    assert summary["test"]["uar"]["values"] == pytest.approx(uars)
    assert summary["test"]["uar"]["mean"] == pytest.approx(np.mean(uars))
    assert summary["test"]["uar"]["std"] == pytest.approx(np.std(uars))
    for i in (1, 2, 3):
        assert (run.run_dir / f"fold_{i}" / "model" / "model.safetensors").is_file()


def test_weighted_cross_entropy_is_selectable(planted: Path, tmp_path: Path) -> None:
    run = train(small_config(planted, tmp_path, loss="ce", class_weights=False, epochs=4))
    assert json.loads((run.run_dir / "config.json").read_text())["arguments"]["loss"] == "ce"
    assert run.metrics["test"]["uar"] > CHANCE + 0.3


def test_clips_missing_a_modality_are_kept_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "features"
    make_sample_features(root, missing={"audio": 0.3}, signal={"video": SIGNAL, "audio": SIGNAL}, **SMALL)
    run = train(small_config(root, tmp_path / "runs", epochs=6))
    with open(run.run_dir / "missing_features.csv", newline="") as fh:
        missing = list(csv.DictReader(fh))
    assert missing and {row["missing"] for row in missing} == {"audio"}
    assert run.metrics["pairing"]["missing_audio"] == len(missing)
    assert run.metrics["pairing"]["used"] == 6 * 6 * SMALL["clips_per_class"]
    assert run.metrics["test"]["uar"] >= 0.8


def test_resume_refuses_a_changed_corpus(tmp_path: Path) -> None:
    root = tmp_path / "features"
    make_sample_features(root, actors={"ravdess": 7}, **{**SMALL, "clips_per_class": 2})
    config = small_config(root, tmp_path / "runs", epochs=3)

    def interrupt(epoch: int, row: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, on_epoch_end=interrupt)
    manifest = root / "manifest.csv"  # the manifest is rebuilt without one actor: the split moves
    write_manifest([r for r in read_manifest(manifest) if r.actor != "ravdess_07"], manifest)
    with pytest.raises(RunError, match="changed since"):
        train(config, resume=True)


def test_resumed_folds_skip_finished_folds(planted: Path, tmp_path: Path) -> None:
    whole = train(small_config(planted, tmp_path / "whole", folds=2, epochs=3))

    def interrupt(epoch: int, row: dict) -> None:
        if (config.run_dir / "fold_1" / "metrics.json").is_file() and epoch == 2:
            raise KeyboardInterrupt

    config = small_config(planted, tmp_path / "parts", folds=2, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, on_epoch_end=interrupt)
    finished = (config.run_dir / "fold_1" / "metrics.json").stat().st_mtime_ns
    resumed = train(config, resume=True)
    assert (config.run_dir / "fold_1" / "metrics.json").stat().st_mtime_ns == finished
    assert resumed.metrics["test"] == whole.metrics["test"]
