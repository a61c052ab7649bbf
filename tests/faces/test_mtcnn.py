"""The MTCNN backend on real face pictures, its weights, and its place in the detector registry.

The weights are the real ones: the facenet-pytorch wheel is downloaded from PyPI once per session
and converted once (the ``mtcnn_wheel`` fixture in tests/conftest.py, ``mtcnn_cache`` in tests/faces/conftest.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mmer import weights
from mmer.faces import Detection, FaceDetectorUnavailable, available_detectors, get_detector, iou
from mmer.faces.boxes import detect_frames
from mmer.faces.mtcnn import MtcnnFaceDetector, MtcnnNets, ONet, PNet, RNet, nms
from mmer.faces.tracking import FaceTracker
from mmer.media import Frame
from mmer.predictor.base import DETECTOR_OPTIONS, ROI_OPTIONS
from mmer.weights import WeightsError
from tests.faces.conftest import ASTRONAUT_FACE, ASTRONAUT_POINTS, HEAD_CUT, HEAD_FACE, moving_face_frames


@pytest.fixture(scope="module")
def detector(mtcnn_weights: Path) -> MtcnnFaceDetector:
    return MtcnnFaceDetector(weights=mtcnn_weights)


def _valid(dets: list[Detection], width: int, height: int) -> None:
    for d in dets:
        assert 0 <= d.x1 < d.x2 <= width and 0 <= d.y1 < d.y2 <= height
        assert 0.0 <= d.score <= 1.0
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shifted(face: Detection, dx: float, dy: float) -> Detection:
    return Detection(face.x1 + dx, face.y1 + dy, face.x2 + dx, face.y2 + dy, face.score)


# --- detection --------------------------------------------------------------------------------


def test_finds_the_astronauts_face(detector, astronaut, astronaut_face):
    dets = detector.detect(astronaut)
    _valid(dets, 512, 512)
    assert len(dets) == 1, dets
    assert iou(dets[0], astronaut_face) > 0.75
    assert dets[0].score > 0.99
    assert all(type(v) is float for v in (*dets[0].box, dets[0].score))


@pytest.mark.parametrize("kind", ["flat", "noise", "dark"])
def test_no_face_in_faceless_frames(detector, kind):
    rng = np.random.default_rng(0)
    frame = {
        "flat": np.full((480, 640, 3), 128, np.uint8),
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "dark": np.zeros((360, 640, 3), np.uint8),
    }[kind]
    assert detector.detect(frame) == []


@pytest.mark.parametrize("background", [0, 90, 200])
def test_boxes_are_in_source_pixels_of_a_large_frame(detector, astronaut, astronaut_face, background):
    # 1280 px wide: detection runs on a half-size copy (max_side 640), so boxes must be mapped back.
    ox, oy = 600, 150
    frame = np.full((720, 1280, 3), background, np.uint8)
    frame[oy:oy + 512, ox:ox + 512] = astronaut
    dets = detector.detect(frame)
    _valid(dets, 1280, 720)
    assert len(dets) == 1 and iou(dets[0], _shifted(astronaut_face, ox, oy)) > 0.75


def test_a_face_cut_by_the_border_is_found_and_clipped(detector, astronaut, astronaut_face):
    # The left third of the face is outside the picture: the crops are zero-padded, the box clipped.
    cut = np.ascontiguousarray(astronaut[:, 210:])
    dets = detector.detect(cut)
    _valid(dets, cut.shape[1], cut.shape[0])
    assert dets and dets[0].x1 == 0.0
    visible = Detection(0.0, astronaut_face.y1, astronaut_face.x2 - 210, astronaut_face.y2, 1.0)
    assert iou(dets[0], visible) > 0.5


def _points(det: Detection) -> np.ndarray:
    assert det.landmarks is not None
    return np.array(det.landmarks)


def test_landmarks_mark_the_astronauts_eyes_nose_and_mouth(detector, astronaut):
    (det,) = detector.detect(astronaut)
    points = _points(det)
    assert np.abs(points - ASTRONAUT_POINTS).max() < 4, points
    assert all(type(v) is float for p in det.landmarks for v in p)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080)])
def test_landmarks_are_in_source_pixels_of_a_large_frame(detector, astronaut, width, height):
    # Detection runs on a copy of at most 640 pixels: the landmarks must be mapped back with the box.
    ox, oy = width - 700, 100
    frame = np.full((height, width, 3), 90, np.uint8)
    frame[oy:oy + 512, ox:ox + 512] = astronaut
    (det,) = detector.detect(frame)
    assert np.abs(_points(det) - (ox, oy) - ASTRONAUT_POINTS).max() < 4


def test_landmarks_of_a_face_cut_by_the_border_are_not_clipped(detector, astronaut):
    cut = np.ascontiguousarray(astronaut[:, 210:])
    points = _points(detector.detect(cut)[0])
    assert np.abs(points[1] - (ASTRONAUT_POINTS[1][0] - 210, ASTRONAUT_POINTS[1][1])).max() < 5  # right eye
    assert points[:, 0].min() < 0  # the left eye is outside the picture, and stays there


def test_the_tracker_moves_landmarks_found_near_the_face_into_the_frame(mtcnn_weights, astronaut):
    """The service's search around a known face finds it in a region cut from the frame: its
    landmarks come back in the frame's pixels, like its box."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[150:662, 600:1112] = astronaut
    near = MtcnnFaceDetector(weights=mtcnn_weights, **ROI_OPTIONS)
    tracker = FaceTracker(lambda image: None, lambda image: near.detect(image)[0])
    tracker.last = (0.0, _shifted(ASTRONAUT_FACE, 600, 150))
    box = tracker.box(1.0, frame)
    assert box is not None
    assert np.abs(_points(box) - (600, 150) - ASTRONAUT_POINTS).max() < 4


def test_other_detectors_give_no_landmarks():
    assert Detection(0, 0, 10, 10, 0.5).landmarks is None


@pytest.mark.slow
def test_separates_lfw_faces_from_non_faces(detector, lfw):
    """LFW subset: first 100 are faces, last 100 are not (25×25, upscaled and framed, as for Haar)."""

    def found(gray: np.ndarray) -> bool:
        face = cv2.resize((gray * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        frame = np.full((160, 160), 128, np.uint8)
        frame[30:130, 30:130] = face
        dets = detector.detect(np.repeat(frame[..., None], 3, axis=2))
        _valid(dets, 160, 160)
        return bool(dets)

    assert np.mean([found(img) for img in lfw[:100]]) >= 0.95
    assert np.mean([found(img) for img in lfw[100:]]) <= 0.02


def test_detection_is_deterministic_and_leaves_torch_as_it_was(detector, mtcnn_weights, astronaut):
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    first = detector.detect(astronaut)
    assert detector.detect(astronaut) == first
    assert MtcnnFaceDetector(weights=mtcnn_weights).detect(astronaut) == first
    assert (torch.get_num_threads(), torch.is_grad_enabled()) == (threads, grad)
    assert not torch.is_inference_mode_enabled()


def test_follows_a_moving_face_through_the_tracker(detector):
    frames, faces = moving_face_frames()
    found = detect_frames((Frame(i, i / 12, f) for i, f in enumerate(frames)), detector, smooth_window=1)
    assert len(found.boxes) == 12
    for box, truth in zip(found.boxes, faces, strict=True):
        assert box is not None and iou(box, truth) > 0.6


# --- options ----------------------------------------------------------------------------------


def test_max_side_detects_on_a_smaller_copy(mtcnn_weights, astronaut, astronaut_face):
    # At 64 px the face is ~12 px, P-Net's window: still found, box mapped back to 512 px. At 48
    # px it is smaller than the window, and the image is never enlarged: nothing.
    dets = MtcnnFaceDetector(weights=mtcnn_weights, max_side=64).detect(astronaut)
    _valid(dets, 512, 512)
    assert dets and iou(dets[0], astronaut_face) > 0.6
    assert MtcnnFaceDetector(weights=mtcnn_weights, max_side=48).detect(astronaut) == []


def test_min_face_is_relative_to_the_frame(mtcnn_weights, astronaut):
    # The face spans ~19% of the 512 px picture.
    assert MtcnnFaceDetector(weights=mtcnn_weights, min_face=0.1).detect(astronaut)
    assert MtcnnFaceDetector(weights=mtcnn_weights, min_face=0.3).detect(astronaut) == []


def test_min_and_max_face_set_the_pyramid(mtcnn_weights):
    det = MtcnnFaceDetector(weights=mtcnn_weights, min_face=0.1)
    scales = det.pyramid(360, 640)  # smallest face 36 px: P-Net's 12 px window at scale 1/3
    assert scales[0] == pytest.approx(1 / 3)
    assert all(b / a == pytest.approx(1 / 1.41) for a, b in zip(scales, scales[1:], strict=False))
    assert 12 / scales[-1] <= 360 < 12 / scales[-1] * 1.41  # down to faces as large as the frame
    bounded = MtcnnFaceDetector(weights=mtcnn_weights, min_face=0.1, max_face=0.3).pyramid(360, 640)
    assert bounded == scales[:len(bounded)] and 12 / bounded[-1] >= 108 > 12 / bounded[-2]
    # Never finer than P-Net's window: no level enlarges the image.
    assert MtcnnFaceDetector(weights=mtcnn_weights, min_face=0.0).pyramid(100, 100)[0] == 1.0
    assert MtcnnFaceDetector(weights=mtcnn_weights).pyramid(10, 200) == []


def test_max_face_bounds_the_size_searched_for(mtcnn_weights, astronaut):
    assert MtcnnFaceDetector(weights=mtcnn_weights, min_face=0.1, max_face=0.3).detect(astronaut)
    assert MtcnnFaceDetector(weights=mtcnn_weights, min_face=0.02, max_face=0.1).detect(astronaut) == []


def test_serving_settings_find_the_face_and_then_follow_it(mtcnn_weights, astronaut, astronaut_face):
    """The service's frame search and its search around a known face, with this backend."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[150:662, 600:1112] = astronaut
    dets = MtcnnFaceDetector(weights=mtcnn_weights, **DETECTOR_OPTIONS).detect(frame)
    assert dets and iou(dets[0], _shifted(astronaut_face, 600, 150)) > 0.7
    head = np.ascontiguousarray(astronaut[HEAD_CUT])
    dets = MtcnnFaceDetector(weights=mtcnn_weights, **ROI_OPTIONS).detect(head)
    assert dets and iou(dets[0], Detection(*HEAD_FACE, 1.0)) > 0.7


def test_last_threshold_is_the_lowest_score_reported(mtcnn_weights, astronaut):
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[100:300, 100:300] = astronaut[HEAD_CUT]
    loose = MtcnnFaceDetector(weights=mtcnn_weights, thresholds=(0.3, 0.3, 0.3)).detect(frame)
    strict = MtcnnFaceDetector(weights=mtcnn_weights, thresholds=[0.6, 0.7, 0.999]).detect(frame)
    assert loose and all(d.score > 0.3 for d in loose)
    assert all(d.score > 0.999 for d in strict) and len(strict) <= len(loose)


@pytest.mark.parametrize("bad", [dict(max_side=8), dict(min_face=1.0), dict(min_face=0.3, max_face=0.2),
                                 dict(thresholds=(0.6, 0.7)), dict(thresholds=(0.6, 0.7, 1.5)),
                                 dict(scale_factor=1.0), dict(device="abacus")])
def test_bad_options_are_refused(mtcnn_weights, bad):
    with pytest.raises(ValueError):
        MtcnnFaceDetector(weights=mtcnn_weights, **bad)


@pytest.mark.parametrize("image", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32),
                                   np.zeros((64, 64, 4), np.uint8), np.zeros((0, 64, 3), np.uint8)])
def test_rejects_images_that_are_not_rgb_uint8(detector, image):
    with pytest.raises(ValueError, match="uint8|empty"):
        detector.detect(image)


def test_nms_keeps_the_best_and_drops_overlaps():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 6, 6]], dtype=float)
    scores = np.array([0.8, 0.9, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 1, 2]  # box 0 overlaps box 1 by IoU 0.68
    assert nms(boxes, scores, 0.5, over_smaller=True).tolist() == [3, 2]  # box 3 lies inside the others
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


# --- weights ----------------------------------------------------------------------------------


def test_missing_weights_say_what_to_run(tmp_path, monkeypatch):
    with pytest.raises(FaceDetectorUnavailable, match=r"run `mmer weights fetch`") as err:
        MtcnnFaceDetector(weights=tmp_path / "none.safetensors")
    assert "\n" not in str(err.value)
    monkeypatch.setenv("MMER_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(FaceDetectorUnavailable, match="empty-cache"):
        get_detector("mtcnn")
    ok, detail = available_detectors()["mtcnn"]
    assert not ok and "mmer weights fetch" in detail


def test_unreadable_weights_say_what_to_run(tmp_path):
    bad = tmp_path / "mtcnn_face.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(FaceDetectorUnavailable, match=r"cannot load MTCNN weights .*mmer weights fetch") as err:
        MtcnnFaceDetector(weights=bad)
    assert "\n" not in str(err.value)


def test_download_gives_the_pinned_wheel(mtcnn_wheel):
    assert _sha256(mtcnn_wheel) == weights.MTCNN_WHEEL_SHA256


def test_published_state_dicts_load_strictly_into_our_networks(mtcnn_wheel, mtcnn_weights):
    members = weights.read_mtcnn_members(mtcnn_wheel)
    converted = load_file(str(mtcnn_weights))
    assert set(converted) == set(MtcnnNets().state_dict())
    for name, cls in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
        state = torch.load(io.BytesIO(members[name]), map_location="cpu", weights_only=True)
        loaded = cls().load_state_dict(state, strict=True)  # raises on a misshapen tensor
        assert loaded.missing_keys == [] and loaded.unexpected_keys == []
        for key, tensor in state.items():
            assert torch.equal(converted[f"{name}.{key}"], tensor), key


def test_conversion_writes_weights_and_provenance(mtcnn_cache):
    path = weights.default_mtcnn_path(mtcnn_cache)
    assert path == mtcnn_cache / "mtcnn" / "mtcnn_face.safetensors"
    meta = json.loads(path.with_name(weights.MTCNN_META_NAME).read_text())
    assert meta["name"] == "mtcnn" and meta["wheel_sha256"] == weights.MTCNN_WHEEL_SHA256
    assert {k: (v["member"], v["sha256"]) for k, v in meta["members"].items()} == weights.MTCNN_MEMBERS
    assert meta["sha256"] == _sha256(path)
    assert meta["converter_version"] == weights.MTCNN_CONVERTER_VERSION
    assert sorted(p.name for p in path.parent.iterdir()) == ["mtcnn_face.json", "mtcnn_face.safetensors"]


def test_fetch_downloads_once_then_reuses_the_cache(tmp_path, mtcnn_wheel, monkeypatch):
    calls: list[Path] = []

    def fake_download(dest_dir: Path) -> Path:
        calls.append(dest_dir)
        return Path(shutil.copy(mtcnn_wheel, dest_dir / weights.MTCNN_WHEEL))

    monkeypatch.setattr(weights, "download_mtcnn_wheel", fake_download)
    first = weights.fetch_mtcnn(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert weights.fetch_mtcnn(tmp_path) == first == weights.default_mtcnn_path(tmp_path)
    assert len(calls) == 1 and first.stat().st_mtime_ns == stamp
    assert not calls[0].exists()  # the downloaded wheel lived in a temporary folder


@pytest.mark.parametrize("damage", ["old-converter", "altered-weights"])
def test_stale_or_altered_cache_is_converted_again(tmp_path, mtcnn_wheel, damage):
    path = weights.fetch_mtcnn(tmp_path, wheel=mtcnn_wheel)
    meta_path = path.with_name(weights.MTCNN_META_NAME)
    good = path.read_bytes()
    if damage == "old-converter":
        meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "converter_version": 0}))
    else:
        path.write_bytes(good[:-1] + b" ")
    assert not weights.is_current(path)
    assert weights.fetch_mtcnn(tmp_path, wheel=mtcnn_wheel) == path
    assert weights.is_current(path) and path.read_bytes() == good  # the conversion is deterministic


def test_tampered_wheel_is_refused(tmp_path, mtcnn_wheel):
    bad = tmp_path / "wheel" / weights.MTCNN_WHEEL
    bad.parent.mkdir()
    bad.write_bytes(mtcnn_wheel.read_bytes() + b"\0")
    with pytest.raises(WeightsError, match="sha256 mismatch") as err:
        weights.fetch_mtcnn(tmp_path / "cache", wheel=bad)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("net", ["pnet", "onet"])
def test_tampered_state_dict_inside_a_matching_wheel_is_refused(tmp_path, mtcnn_wheel, monkeypatch, net):
    member = weights.MTCNN_MEMBERS[net][0]
    bad = tmp_path / weights.MTCNN_WHEEL
    with zipfile.ZipFile(mtcnn_wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[:-1] + b"\1" if info.filename == member else data)
    monkeypatch.setattr(weights, "MTCNN_WHEEL_SHA256", _sha256(bad))
    with pytest.raises(WeightsError, match=f"{member} in .* is not the expected model"):
        weights.fetch_mtcnn(tmp_path / "cache", wheel=bad)
    assert not (tmp_path / "cache").exists()


def test_a_state_dict_that_does_not_fit_is_refused(mtcnn_wheel):
    members = weights.read_mtcnn_members(mtcnn_wheel)
    state = torch.load(io.BytesIO(members["rnet"]), weights_only=True)
    del state["dense4.bias"]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with pytest.raises(WeightsError, match=r"rnet\.pt does not fit the MTCNN rnet: .*dense4\.bias"):
        weights.convert_mtcnn({**members, "rnet": buffer.getvalue()})
    with pytest.raises(WeightsError, match=r"cannot read .*onet\.pt"):
        weights.convert_mtcnn({**members, "onet": b"not a torch file"})


def test_download_failure_names_the_mtcnn_option(tmp_path, monkeypatch):
    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found\n")

    monkeypatch.setattr(weights.subprocess, "run", fake_run)
    with pytest.raises(WeightsError, match=r"cannot download facenet-pytorch==2\.6\.0 from PyPI: .*--mtcnn-wheel PATH"):
        weights.fetch_mtcnn(tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- registry ---------------------------------------------------------------------------------


def test_get_detector_builds_mtcnn_from_the_cache(mtcnn_cache, monkeypatch, astronaut, astronaut_face):
    monkeypatch.setenv("MMER_CACHE_DIR", str(mtcnn_cache))
    det = get_detector(" MTCNN ", min_face=0.1, max_side=None, device="cpu")
    assert det.name == "mtcnn" and isinstance(det, MtcnnFaceDetector)
    assert det.min_face == 0.1 and det.max_side == 640  # None means "not given"
    assert det.weights == weights.default_mtcnn_path(mtcnn_cache)
    assert iou(det.detect(astronaut)[0], astronaut_face) > 0.75
    ok, detail = available_detectors()["mtcnn"]
    assert ok and str(det.weights) in detail


def test_get_detector_refuses_unknown_mtcnn_options(mtcnn_cache, monkeypatch):
    monkeypatch.setenv("MMER_CACHE_DIR", str(mtcnn_cache))
    with pytest.raises(ValueError, match="no option conf; options: max_side, min_face"):
        get_detector("mtcnn", conf=0.5)
    with pytest.raises(ValueError, match="no option min_neighbors"):
        get_detector("mtcnn", min_neighbors=3)


def test_registry_and_status_do_not_import_torch():
    code = ("import sys; from mmer.faces import DETECTORS, available_detectors; available_detectors(); "
            "print('mtcnn' in DETECTORS, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


# --- real photos --------------------------------------------------------------------------------


@pytest.mark.slow
def test_finds_faces_in_real_photos(detector, shared_data):
    """40 of the 2,000 labelled photos of faces-in-the-wild (evenly spaced through labels.csv):
    public figures and film stills, most 350×350, some small crops. Haar finds ~75 % of them."""
    root = shared_data / "faces-in-the-wild"
    if not (root / "labels.csv").is_file():
        pytest.skip(f"faces-in-the-wild not found in {shared_data}")
    with open(root / "labels.csv", newline="") as fh:
        names = [row["image"] for row in csv.DictReader(fh)]
    names = names[::len(names) // 40][:40]
    found = 0
    for name in names:
        image = cv2.cvtColor(cv2.imread(str(root / "images" / name)), cv2.COLOR_BGR2RGB)
        height, width = image.shape[:2]
        dets = detector.detect(image)
        _valid(dets, width, height)
        if dets:
            found += 1
            assert dets[0].area >= 0.05 * width * height, name  # the photo's face, not a speck
    assert found / len(names) >= 0.9


def test_landmarks_of_real_faces_lie_in_their_box_with_the_eyes_above_the_mouth(detector, shared_data):
    """The first 30 photos of faces-in-the-wild: each found face's five points are inside its box
    (a few pixels of slack), the left eye left of the right one, both eyes above the nose and the
    nose above the mouth corners."""
    root = shared_data / "faces-in-the-wild" / "images"
    if not root.is_dir():
        pytest.skip(f"faces-in-the-wild not found in {shared_data}")
    checked = 0
    for path in sorted(root.glob("*.jpg"))[:30]:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        dets = detector.detect(image)
        if not dets:
            continue
        det = dets[0]
        points = _points(det)
        slack = 0.05 * det.width
        assert ((points[:, 0] > det.x1 - slack) & (points[:, 0] < det.x2 + slack)
                & (points[:, 1] > det.y1 - slack) & (points[:, 1] < det.y2 + slack)).all(), path.name
        left_eye, right_eye, nose, mouth_left, mouth_right = points
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0], path.name
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1]), path.name
        checked += 1
    assert checked >= 25
