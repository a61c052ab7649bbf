"""The YOLO backend: weight resolution offline, and the real loading code on a tiny model.

No weights can be downloaded here, so the model is YOLO11n built from its config with random
weights and saved the way ultralytics saves checkpoints; it finds nothing meaningful, but it
goes through exactly the loading and prediction code a real face model does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmer.faces import FaceDetectorUnavailable, get_detector
from mmer.faces.yolo import DEFAULT_WEIGHTS, detections_from_arrays, resolve_device, resolve_weights


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    ultralytics = pytest.importorskip("ultralytics")
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("yolo") / "tiny-face.pt"
    ultralytics.YOLO("yolo11n.yaml").save(path)  # config shipped with ultralytics: no download
    return path


@pytest.mark.slow
def test_tiny_model_loads_by_path_and_detects_in_source_pixels(tiny_weights, astronaut):
    det = get_detector("yolo", weights=str(tiny_weights), conf=0.0, device="cpu", imgsz=160)
    assert det.name == "yolo" and det.path == tiny_weights and det.device == "cpu"
    # A wide frame, much larger than the 160 px network input: ultralytics letterboxes it, and the
    # boxes must come back in this frame's pixels.
    frame = np.zeros((200, 800, 3), np.uint8)
    frame[:, 300:500] = astronaut[:200, 150:350]
    dets = det.detect(frame)
    assert dets, "conf=0 keeps the random model's boxes"
    for d in dets:
        assert 0 <= d.x1 <= d.x2 <= 800 and 0 <= d.y1 <= d.y2 <= 200
        assert 0.0 <= d.score <= 1.0
    assert max(d.x2 for d in dets) > 160
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)
    # The default threshold drops the random model's near-zero confidences.
    strict = get_detector("yolo", weights=tiny_weights, device="cpu", imgsz=160)
    assert strict.detect(frame) == []


@pytest.mark.slow
def test_corrupt_weights_file_is_a_one_line_error(tmp_path):
    pytest.importorskip("ultralytics")
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(FaceDetectorUnavailable, match=r"cannot load YOLO face weights .*broken\.pt") as info:
        get_detector("yolo", weights=str(bad), device="cpu")
    assert "\n" not in str(info.value)


def test_hub_id_offline_and_uncached_is_a_clear_error(tmp_path):
    pytest.importorskip("huggingface_hub")
    with pytest.raises(FaceDetectorUnavailable) as info:
        get_detector("yolo", cache_dir=str(tmp_path / "empty-cache"), device="cpu")
    message = str(info.value)
    assert DEFAULT_WEIGHTS in message
    assert "not in the local cache" in message and "--yolo-weights PATH" in message
    assert "\n" not in message


def test_missing_local_weights_file(tmp_path):
    with pytest.raises(FaceDetectorUnavailable, match="no such file"):
        resolve_weights(tmp_path / "nope.pt")


def test_local_weights_file_is_used_as_is(tmp_path):
    weights = tmp_path / "face.pt"
    weights.write_bytes(b"x")
    assert resolve_weights(str(weights)) == weights


def test_hub_weights_come_from_the_local_cache(tmp_path):
    """A cached file is found with the hub unreachable (offline mode): no download is needed."""
    pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hub"
    repo = cache / "models--someone--face-model"
    blob = repo / "blobs" / "abc123"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"weights")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef0123456789abcdef01234567")
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (snapshot / "model.pt").symlink_to(blob)
    path = resolve_weights("someone/face-model", cache_dir=cache)
    assert path.read_bytes() == b"weights"


@pytest.mark.parametrize("option, value", [("conf", 1.5), ("imgsz", 100)])
def test_rejects_bad_options(option, value):
    with pytest.raises(ValueError, match=option):
        get_detector("yolo", **{option: value})


def test_device_resolution(monkeypatch):
    torch = pytest.importorskip("torch")
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(FaceDetectorUnavailable, match="no CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("AUTO") == "cuda:0"


def test_detections_from_arrays_clips_and_sorts():
    xyxy = np.array([[-5.0, 10.0, 50.0, 60.0], [20.0, 20.0, 130.0, 90.0]])
    conf = np.array([0.4, 0.9])
    dets = detections_from_arrays(xyxy, conf, width=100, height=80)
    assert [d.box for d in dets] == [(20.0, 20.0, 100.0, 80.0), (0.0, 10.0, 50.0, 60.0)]
    assert [d.score for d in dets] == pytest.approx([0.9, 0.4])
    assert detections_from_arrays(np.zeros((0, 4)), np.zeros(0), 10, 10) == []
