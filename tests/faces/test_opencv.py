"""The Haar-cascade backend on real face pictures, and the detector registry."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmer.faces import Detection, FaceDetectorUnavailable, available_detectors, get_detector, iou
from mmer.faces.opencv import OpenCVFaceDetector, weight_to_score

pytestmark = pytest.mark.skipif(not hasattr(cv2, "CascadeClassifier"),
                                reason=f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5): the opencv "
                                       "detector is unavailable here")


@pytest.fixture(scope="module")
def detector() -> OpenCVFaceDetector:
    return OpenCVFaceDetector()


def _valid(dets: list[Detection], width: int, height: int) -> None:
    for d in dets:
        assert 0 <= d.x1 < d.x2 <= width and 0 <= d.y1 < d.y2 <= height
        assert 0.0 <= d.score <= 1.0
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def test_finds_the_astronauts_face(detector, astronaut, astronaut_face):
    dets = detector.detect(astronaut)
    _valid(dets, 512, 512)
    assert dets, "no face found on the astronaut picture"
    assert iou(dets[0], astronaut_face) > 0.6
    assert dets[0].score > 0.5
    assert all(isinstance(v, float) for v in (*dets[0].box, dets[0].score))


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
    # 1280 px wide: detection runs on a half-size copy, so boxes must be mapped back. A flat
    # backdrop covering most of the frame also checks that equalisation is local.
    ox, oy = 600, 150
    frame = np.full((720, 1280, 3), background, np.uint8)
    frame[oy:oy + 512, ox:ox + 512] = astronaut
    dets = detector.detect(frame)
    _valid(dets, 1280, 720)
    expected = Detection(astronaut_face.x1 + ox, astronaut_face.y1 + oy, astronaut_face.x2 + ox,
                         astronaut_face.y2 + oy, 1.0)
    assert dets and iou(dets[0], expected) > 0.6


def test_separates_lfw_faces_from_non_faces(detector, lfw):
    """LFW subset: first 100 are faces, last 100 are not (25×25, upscaled and framed)."""

    def found(gray: np.ndarray) -> bool:
        face = cv2.resize((gray * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        frame = np.full((160, 160), 128, np.uint8)
        frame[30:130, 30:130] = face
        dets = detector.detect(np.repeat(frame[..., None], 3, axis=2))
        _valid(dets, 160, 160)
        return bool(dets)

    face_rate = np.mean([found(img) for img in lfw[:100]])
    other_rate = np.mean([found(img) for img in lfw[100:]])
    assert face_rate >= 0.85
    assert other_rate <= 0.05


def test_min_face_is_relative_to_the_frame(astronaut):
    # The face spans ~18% of the 512 px picture.
    assert OpenCVFaceDetector(min_face=0.1).detect(astronaut)
    assert OpenCVFaceDetector(min_face=0.3).detect(astronaut) == []


def test_max_face_bounds_the_size_searched_for(astronaut):
    # A search around a face of known size (serving's tracker) scans only the sizes it can be.
    assert OpenCVFaceDetector(min_face=0.1, max_face=0.3).detect(astronaut)
    assert OpenCVFaceDetector(min_face=0.05, max_face=0.1).detect(astronaut) == []
    with pytest.raises(ValueError, match="max_face"):
        OpenCVFaceDetector(min_face=0.3, max_face=0.2)


def test_min_score_drops_weak_boxes(astronaut):
    assert OpenCVFaceDetector(min_score=0.999).detect(astronaut) == []


def test_score_is_a_monotonic_map_into_unit_interval():
    weights = np.linspace(-20, 40, 121)
    scores = [weight_to_score(w) for w in weights]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(b > a for a, b in zip(scores, scores[1:], strict=False) if b < 1.0)
    assert weight_to_score(3.0) == pytest.approx(0.5)


@pytest.mark.parametrize("image", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32),
                                   np.zeros((64, 64, 4), np.uint8), np.zeros((0, 64, 3), np.uint8)])
def test_rejects_images_that_are_not_rgb_uint8(detector, image):
    with pytest.raises(ValueError, match="uint8|empty"):
        detector.detect(image)


def test_missing_cascades_give_a_clear_error(monkeypatch):
    monkeypatch.delattr(cv2, "data")
    with pytest.raises(FaceDetectorUnavailable, match=r"opencv-python-headless<5"):
        OpenCVFaceDetector()
    ok, detail = available_detectors()["opencv"]
    assert not ok and "Haar cascades" in detail


def test_cascade_file_missing_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path))
    with pytest.raises(FaceDetectorUnavailable, match="haarcascade_frontalface_default.xml not found"):
        OpenCVFaceDetector()


def test_get_detector_builds_opencv_with_options(astronaut):
    det = get_detector(" OpenCV ", min_face=0.3, max_side=None)
    assert det.name == "opencv" and isinstance(det, OpenCVFaceDetector)
    assert det.min_face == 0.3 and det.max_side == 640  # None means "not given"
    assert det.detect(astronaut) == []


def test_get_detector_rejects_unknown_names_and_options():
    with pytest.raises(ValueError, match="opencv, mtcnn, yolo"):
        get_detector("retinaface")
    with pytest.raises(ValueError, match="no option weights"):
        get_detector("opencv", weights="x.pt")


def test_available_detectors_reports_each_backend():
    status = available_detectors()
    assert set(status) == {"opencv", "mtcnn", "yolo"}
    ok, detail = status["opencv"]
    assert ok and "haarcascade_frontalface_default.xml" in detail
    ok, detail = status["yolo"]
    assert isinstance(ok, bool) and detail


def test_ultralytics_is_imported_only_for_the_yolo_backend():
    code = ("import sys; from mmer.faces import available_detectors, get_detector; "
            "available_detectors(); get_detector('opencv'); print('ultralytics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [dict(x1=5, y1=0, x2=1, y2=1, score=0.5), dict(x1=0, y1=0, x2=1, y2=1, score=1.5),
                                 dict(x1=0, y1=0, x2=float("nan"), y2=1, score=0.5)])
def test_detection_validates_itself(bad):
    with pytest.raises(ValueError):
        Detection(**bad)


def test_detection_clipped_to_frame():
    d = Detection(-10, -5, 120, 90, 0.7).clipped(100, 80)
    assert d.box == (0, 0, 100, 80) and d.score == 0.7
