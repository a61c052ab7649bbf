"""The one reader (mmer.windows) and the record that travels with it: served features equal the
features cached for training, for a trained checkpoint and for the default model, on 25 and 30 fps
clips in one window and in several; a checkpoint trained on YOLO boxes is served with YOLO boxes;
a changed backbone setting is refused at load."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mmer import cli, media
from mmer.checkpoint import CheckpointError
from mmer.datasets import build_manifest, read_manifest
from mmer.faces.boxes import read_boxes
from mmer.faces.recipe import FaceRecipe
from mmer.features.fer import to_six
from mmer.predictor import DefaultPredictor, FusionPredictor, load_predictor
from mmer.preprocess import detect_faces
from mmer.synthetic import make_sample_data
from mmer.timing import Clock
from mmer.windows import RecordedBoxes, read_windows, window_edges

pytestmark = pytest.mark.slow


def run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def trained(work: Path, fps: int, *, faces_options: dict | None = None, seconds: float = 3.0) -> Path:
    """Synthetic clips at ``fps`` through the whole training road (boxes → features → a 1-epoch
    model): the record in its checkpoint is the trainer's own."""
    make_sample_data(work / "clips", "ravdess", clips_per_class=1, actors=3, seconds=seconds, fps=fps)
    manifest = work / "manifest.csv"
    build_manifest("ravdess", work / "clips", manifest)
    if faces_options is None:
        assert run("faces", manifest, "-o", work / "boxes") == 0
    else:  # options the CLI does not offer (a tiny input size for a fast random YOLO)
        assert detect_faces(manifest, work / "boxes", detector="yolo", detector_options=faces_options).ok
    assert run("audio", manifest, "-o", work / "audio") == 0
    assert run("extract-video", manifest, "--bboxes", work / "boxes", "--face-size", 96, "-o", work / "features",
               "--backbone", "fer", "--sample-frames", 8, "--device", "cpu") == 0
    assert run("extract-audio", manifest, "--audio", work / "audio", "-o", work / "features",
               "--backbone", "logmel") == 0
    assert run("train", "--manifest", manifest, "--features", work / "features", "-o", work / "runs",
               "--run-id", "parity", "--epochs", 1, "--dim", 16, "--heads", 2, "--batch-size", 8, "--device",
               "cpu") == 0
    return work / "runs" / "parity"


@pytest.fixture(scope="module", params=[25, 30], ids=["25fps", "30fps"])
def run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fer_cache: Path) -> Path:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MMER_CACHE_DIR", str(fer_cache))
        return trained(tmp_path_factory.mktemp(f"parity-{request.param}"), request.param)


@pytest.fixture
def fusion(run_dir: Path, fer_cache: Path, monkeypatch: pytest.MonkeyPatch) -> FusionPredictor:
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    predictor = load_predictor(run_dir, device="cpu")
    assert isinstance(predictor, FusionPredictor)
    return predictor


def cached(run_dir: Path, clip_id: str) -> tuple[np.ndarray, np.ndarray]:
    features = run_dir.parent.parent / "features"
    return (np.load(features / "video_features" / f"{clip_id}.npy").astype(np.float32),
            np.load(features / "audio_features" / f"{clip_id}.npy").astype(np.float32))


def top(fusion: FusionPredictor, video: np.ndarray | None, audio: np.ndarray | None) -> int:
    return int(np.argmax(fusion._answer(Clock(), video, audio)))


def test_the_checkpoint_records_the_whole_face_road(run_dir: Path, fusion: FusionPredictor) -> None:
    prep = json.loads((run_dir / "model" / "config.json").read_text())["preprocessing"]
    assert prep["faces"] == {"detector": "mtcnn", "detector_options": {}, "every": 1, "max_gap": 12,
                             "smooth_window": 5, "face_size": 96, "face_margin": 0.25}
    assert prep["window_s"] == pytest.approx(3.0, abs=0.05)
    assert prep["sample_rate"] == 16_000 and prep["audio_tracks"] == ["wav"]
    assert fusion.recipe == FaceRecipe.from_dict(prep["faces"]) and fusion.window_s == prep["window_s"]
    assert fusion.info()["preprocessing"]["faces"]["detector"] == "mtcnn"


def test_a_clip_served_whole_gets_the_features_it_was_trained_on(run_dir: Path, fusion: FusionPredictor) -> None:
    """One window: live detection, cropping and both backbones give the cached training features."""
    rows = read_manifest(run_dir.parent.parent / "manifest.csv")
    for row in rows:
        (window, video, audio), = fusion.features(row.resolved_path)
        cached_video, cached_audio = cached(run_dir, row.clip_id)
        assert video.shape == cached_video.shape == (8, 128)
        frame_cosines = [cosine(a, b) for a, b in zip(video, cached_video, strict=True)]
        assert min(frame_cosines) > 0.999, (row.clip_id, frame_cosines)
        assert cosine(audio, cached_audio) > 0.9999
        assert top(fusion, video, audio) == top(fusion, cached_video, cached_audio)


def test_windows_served_match_the_same_windows_cut_with_the_box_file(run_dir: Path, fusion: FusionPredictor) -> None:
    """Several windows per clip (1 s each): serving tracks the face over the whole clip, as `mmer
    faces` did, so each window's crops are those the box file gives (tracking window by window
    moved crops at the windows' edges: per-frame cosine down to 0.92)."""
    fusion.window_s = 1.0
    rows = read_manifest(run_dir.parent.parent / "manifest.csv")
    worst, agree, total = 1.0, 0, 0
    for row in rows:
        served = fusion.features(row.resolved_path)
        assert len(served) == 3
        edges = window_edges(media.clip_duration(row.resolved_path), 1.0)
        boxes = RecordedBoxes(read_boxes(run_dir.parent.parent / "boxes" / f"{row.clip_id}.json"))
        recorded = read_windows(row.resolved_path, edges, boxes=boxes, num_frames=fusion.num_frames,
                                recipe=fusion.recipe, sample_rate=fusion.sample_rate)
        for (window, video, audio), again in zip(served, recorded, strict=True):
            assert (window.start, window.end) == (again.start, again.end)
            (expected,) = fusion.video_backbone.embed([again.faces])
            np.testing.assert_array_equal(window.audio, again.audio)
            worst = min(worst, *(cosine(a, b) for a, b in zip(video, expected, strict=True)))
            agree += top(fusion, video, audio) == top(fusion, expected, audio)
            total += 1
    assert worst > 0.999 and agree == total, (worst, agree, total)


def test_the_default_model_reads_faces_as_the_fer_features_were_cached(run_dir: Path, fer_cache: Path) -> None:
    """The default's face expert on its own settings (a 320-pixel search on 8 sparse samples, a box
    reused for 0.4 s, 64-pixel crops) against the fer features cached for training at the same
    instants (a smoothed dense track, 96-pixel crops, the default's margin): the same top class on
    nearly every face. The embeddings follow the framing closely: measured median cosine 0.94
    (p10 0.85) on these moving heads with equal margins, 0.96 detecting on every sample; the top
    class agreed on 144 of 144 faces."""
    default = DefaultPredictor(device="cpu", cache_dir=fer_cache, face_model="mini-xception")
    work = run_dir.parent.parent
    cosines, agree, total = [], 0, 0
    for row in read_manifest(work / "manifest.csv"):
        times, embeddings, six = default.face_features(row.resolved_path, sample_frames=8)
        cached_video, _ = cached(run_dir, row.clip_id)
        assert len(times) == 8 and embeddings.shape == cached_video.shape
        np.testing.assert_allclose(times, media.sample_times(media.clip_duration(row.resolved_path), 8))
        # The training crops of those instants, through the same reader: their embeddings are the cache.
        (window,) = read_windows(row.resolved_path, [0.0, media.clip_duration(row.resolved_path)],
                                 boxes=RecordedBoxes(read_boxes(work / "boxes" / f"{row.clip_id}.json")),
                                 num_frames=8, recipe=FaceRecipe(face_size=96), sample_rate=None)
        trained_embeddings, _ = default.backbone.predict(window.faces)
        np.testing.assert_allclose(trained_embeddings, cached_video, rtol=2e-3, atol=2e-3)
        # The same training road cut with the default's own margin (framing alike): what it should read.
        (alike,) = read_windows(row.resolved_path, [0.0, media.clip_duration(row.resolved_path)],
                                boxes=RecordedBoxes(read_boxes(work / "boxes" / f"{row.clip_id}.json")), num_frames=8,
                                recipe=FaceRecipe(face_size=96, face_margin=default.recipe.face_margin),
                                sample_rate=None)
        reference, p7 = default.backbone.predict(alike.faces)
        cosines += [cosine(a, b) for a, b in zip(embeddings, reference, strict=True)]
        agree += int((np.argmax(six, axis=1) == np.argmax(to_six(p7), axis=1)).sum())
        total += len(six)
    assert np.median(cosines) > 0.9 and min(cosines) > 0.6, (np.median(cosines), min(cosines))
    assert agree >= 0.95 * total, (agree, total)


def test_a_changed_backbone_setting_is_refused_at_load(run_dir: Path, tmp_path: Path, fer_cache: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    edited = tmp_path / "run"
    shutil.copytree(run_dir, edited)
    config_path = edited / "model" / "config.json"
    config = json.loads(config_path.read_text())
    config["backbones"]["video"]["config"]["preprocess"] = "pil-grey/nearest/[0,1]"
    config_path.write_text(json.dumps(config))

    with pytest.raises(CheckpointError, match="preprocess: trained with 'pil-grey/nearest/\\[0,1\\]'.*re-extract"):
        load_predictor(edited, device="cpu")
    monkeypatch.setenv("MMER_ALLOW_BACKBONE_MISMATCH", "1")
    with caplog.at_level(logging.WARNING):
        assert isinstance(load_predictor(edited, device="cpu"), FusionPredictor)
    assert "serving it anyway" in caplog.text
    # Where the weights lay on the training machine is not a setting: another path loads.
    monkeypatch.delenv("MMER_ALLOW_BACKBONE_MISMATCH")
    config = json.loads((run_dir / "model" / "config.json").read_text())
    config["backbones"]["video"]["config"]["source"] = "/elsewhere/fer.safetensors"
    config["backbones"]["video"]["source"] = "/elsewhere/fer.safetensors"
    config_path.write_text(json.dumps(config))
    assert isinstance(load_predictor(edited, device="cpu"), FusionPredictor)


@pytest.fixture(scope="module")
def tiny_yolo(tmp_path_factory: pytest.TempPathFactory):
    ultralytics = pytest.importorskip("ultralytics", reason="the yolo extra is not installed")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo-config")))
        env.setenv("YOLO_OFFLINE", "1")
        path = tmp_path_factory.mktemp("yolo") / "tiny-face.pt"
        torch.manual_seed(0)
        ultralytics.YOLO("yolo11n.yaml").save(path)  # a config shipped with ultralytics: no download
        yield path


def test_a_checkpoint_trained_on_yolo_boxes_is_served_with_yolo_boxes(
        tiny_yolo: Path, tmp_path: Path, fer_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmer.faces.opencv import OpenCVFaceDetector
    from mmer.faces.yolo import YoloFaceDetector

    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "yolo-config"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    options = {"weights": str(tiny_yolo), "conf": 0.0, "imgsz": 96, "device": "cpu"}
    run_dir = trained(tmp_path, 25, faces_options=options, seconds=1.2)
    prep = json.loads((run_dir / "model" / "config.json").read_text())["preprocessing"]
    assert prep["faces"]["detector"] == "yolo"
    assert prep["faces"]["detector_options"] == {"weights": str(tiny_yolo), "conf": 0.0, "imgsz": 96}

    calls = {"yolo": 0}
    real = YoloFaceDetector.detect

    def counted(self, image):
        calls["yolo"] += 1
        return real(self, image)

    def never(self, image):
        raise AssertionError("a checkpoint trained on YOLO boxes was boxed with the Haar cascade")

    monkeypatch.setattr(YoloFaceDetector, "detect", counted)
    monkeypatch.setattr(OpenCVFaceDetector, "detect", never)
    fusion = load_predictor(run_dir, device="cpu")
    row = read_manifest(tmp_path / "manifest.csv")[0]
    (window, video, audio), = fusion.features(row.resolved_path)
    assert calls["yolo"] == sum(1 for _ in media.iter_frames(row.resolved_path))  # every frame, as `mmer faces`
    cached_video, _ = cached(run_dir, row.clip_id)
    assert min(cosine(a, b) for a, b in zip(video, cached_video, strict=True)) > 0.999
