"""From `mmer sample-data` clips of both datasets to an evaluated, served checkpoint, through the shell commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmer import cli
from mmer.datasets import read_manifest
from mmer.labels import CLASSES
from mmer.predictor import load_predictor


def run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


@pytest.mark.slow
def test_sample_data_to_trained_and_evaluated_model(sample_ravdess: Path, sample_cremad: Path, fer_cache: Path,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    work = tmp_path
    assert run("manifest", "ravdess", sample_ravdess, "-o", work / "ravdess.csv") == 0
    assert run("manifest", "cremad", sample_cremad, "-o", work / "cremad.csv") == 0
    manifest = work / "manifest.csv"
    assert run("merge-manifests", work / "ravdess.csv", work / "cremad.csv", "-o", manifest) == 0
    assert run("faces", manifest, "-o", work / "boxes") == 0
    assert run("audio", manifest, "-o", work / "audio") == 0
    assert run("extract-video", manifest, "--bboxes", work / "boxes", "--face-size", 96, "-o", work / "features",
               "--backbone", "fer",
               "--sample-frames", 8, "--device", "cpu") == 0
    assert run("extract-audio", manifest, "--audio", work / "audio", "-o", work / "features",
               "--backbone", "logmel") == 0
    assert run("train", "--manifest", manifest, "--features", work / "features", "-o", work / "runs",
               "--run-id", "e2e", "--epochs", 3, "--dim", 32, "--heads", 2, "--batch-size", 8,
               "--save-attention") == 0
    run_dir = work / "runs" / "e2e"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    actors = metrics["splits"]
    assert {a.split("_")[0] for a in actors["train"] + actors["val"] + actors["test"]} == {"ravdess", "cremad"}
    assert metrics["pairing"]["used"] == 18 + 12
    checkpoint = json.loads((run_dir / "model" / "config.json").read_text())
    assert checkpoint["backbones"]["video"]["backbone"] == "fer"
    assert checkpoint["backbones"]["audio"]["backbone"] == "logmel"
    prep = checkpoint["preprocessing"]
    assert (prep["num_frames"], prep["sample_rate"], prep["face_size"], prep["face_margin"]) == (8, 16_000, 96, 0.25)
    assert prep["faces"] == {"detector": "mtcnn", "detector_options": {}, "every": 1, "max_gap": 12,
                             "smooth_window": 5, "face_size": 96, "face_margin": 0.25}
    assert 1.0 < prep["window_s"] < 3.0  # the training clips' median length

    assert run("evaluate", run_dir, "--features", work / "features", "--manifest", manifest, "--split", "test") == 0
    evaluation = json.loads((run_dir / "evaluation" / "manifest-test" / "metrics.json").read_text())
    assert evaluation["metrics"]["confusion"] == metrics["test"]["confusion"]

    # The checkpoint is served as it is: one of the dataset's own clips, through `mmer predict`.
    clip = next(sample_ravdess.rglob("*.mp4"))
    capsys.readouterr()
    assert run("predict", clip, "--model", run_dir, "--json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"]["kind"] == "checkpoint"
    assert answer["modalities"]["used"] == ["video", "audio"]
    assert sum(answer["scores"].values()) == pytest.approx(1, abs=1e-4)

    # No train/serve skew: served from the raw video, every RAVDESS clip gets the scores its cached
    # training features give (up to the float16 cache): the same reader, boxes and pixels.
    predictor = load_predictor(run_dir)
    checkpoint = predictor.checkpoint
    rows = [r for r in read_manifest(manifest) if r.dataset == "ravdess"]
    gaps = []
    for row in rows:
        video = torch.from_numpy(np.load(work / "features" / "video_features" / f"{row.clip_id}.npy")
                                 .astype(np.float32))[None]
        audio = torch.from_numpy(np.load(work / "features" / "audio_features" / f"{row.clip_id}.npy")
                                 .astype(np.float32)).reshape(1, 1, -1)
        cached = checkpoint.probabilities(video, audio, torch.tensor([video.shape[1]]), torch.tensor([1]))[0]
        served = predictor.predict(row.resolved_path).scores
        gaps.append(max(abs(served[c] - float(p)) for c, p in zip(CLASSES, cached, strict=True)))
    assert max(gaps) < 0.01, gaps
