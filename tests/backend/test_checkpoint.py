"""A trained multimodal checkpoint served with no code change: built here by the project's own commands
from `mmer sample-data` clips (real backbones: the face CNN and log-mel), then pointed at by MMER_MODEL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mmer import cli
from tests.backend.conftest import upload, write_clip
from tests.backend.test_api import assert_prediction

pytestmark = pytest.mark.slow


def run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def trained_run(sample_ravdess: Path, sample_cremad: Path, fer_cache: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("served-run")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MMER_CACHE_DIR", str(fer_cache))
        assert run("manifest", "ravdess", sample_ravdess, "-o", work / "ravdess.csv") == 0
        assert run("manifest", "cremad", sample_cremad, "-o", work / "cremad.csv") == 0
        manifest = work / "manifest.csv"
        assert run("merge-manifests", work / "ravdess.csv", work / "cremad.csv", "-o", manifest) == 0
        assert run("faces", manifest, "-o", work / "boxes") == 0
        assert run("audio", manifest, "-o", work / "audio") == 0
        assert run("extract-video", manifest, "--bboxes", work / "boxes", "--face-size", 96, "-o", work / "features",
                   "--backbone", "fer", "--sample-frames", 8, "--device", "cpu") == 0
        assert run("extract-audio", manifest, "--audio", work / "audio", "-o", work / "features",
                   "--backbone", "logmel") == 0
        assert run("train", "--manifest", manifest, "--features", work / "features", "-o", work / "runs",
                   "--run-id", "served", "--epochs", 2, "--dim", 32, "--heads", 2, "--batch-size", 8) == 0
    return work / "runs" / "served"


@pytest.mark.parametrize("where", ["run", "model"])
def test_a_trained_checkpoint_is_served_as_is(make_client: Callable[..., TestClient], trained_run: Path,
                                              clips: dict[str, Path], where: str) -> None:
    model_dir = trained_run if where == "run" else trained_run / "model"
    client = make_client(model=str(model_dir))
    info = client.get("/").json()
    assert info["model"]["kind"] == "checkpoint"
    assert info["modalities"] == ["video", "audio"] == info["model"]["modalities"]

    response = client.post("/infer", params={"sample_frames": 8}, files=upload(clips["astronaut"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_prediction(body)
    assert body["model"]["kind"] == "checkpoint"
    assert body["modalities"]["used"] == ["video", "audio"] and body["modalities"]["missing"] == []

    silent = client.post("/infer/predict", files=upload(clips["silent"]))
    assert silent.status_code == 200, silent.text
    body = silent.json()
    assert_prediction(body)
    assert body["modalities"]["used"] == ["video"] and "audio" in body["modalities"]["missing"]
    assert body["modalities"]["available"]["audio"] is False


def test_the_checkpoint_answers_from_the_voice_alone(make_client: Callable[..., TestClient], trained_run: Path,
                                                     clips: dict[str, Path]) -> None:
    client = make_client(model=str(trained_run))
    response = client.post("/infer/predict", files=upload(clips["no_face"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_prediction(body)
    assert body["modalities"]["used"] == ["audio"] and body["modalities"]["missing"] == ["video"]


def test_the_checkpoint_refuses_what_it_cannot_read(make_client: Callable[..., TestClient], trained_run: Path,
                                                    clips: dict[str, Path], tmp_path: Path) -> None:
    client = make_client(model=str(trained_run))
    silent_grey = tmp_path / "silent_grey.mp4"


    write_clip(silent_grey, np.full((240, 320, 3), 128, np.uint8), 1.0, sound=False)
    for clip, status, code in ((silent_grey, 422, "no_signal"), (clips["truncated"], 422, "undecodable"),
                               (clips["one_frame"], 422, "too_short"), (clips["text"], 415,
                                                                        "unsupported_media_type")):
        response = client.post("/infer/predict", files=upload(clip))
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
