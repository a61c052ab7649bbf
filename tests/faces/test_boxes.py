"""Face-box files: detect_clip over real clips, and the JSON's round trip and validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from mmer import media
from mmer.faces import Detection, FaceDetector, get_detector, iou
from mmer.faces.boxes import detect_clip, read_boxes, write_boxes
from mmer.fsutil import PARTIAL_MARK


class BrightSquareDetector(FaceDetector):
    """Reports the bounding box of the bright pixels: a detector whose answer the test knows."""

    name = "bright-square"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        self.calls += 1
        ys, xs = np.nonzero(image_rgb.mean(axis=2) > 128)
        if not len(xs):
            return []
        return [Detection(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1), 0.8)]


class MarkedSquareDetector(BrightSquareDetector):
    """The bright square's box with five landmarks at fixed fractions of it (as MTCNN gives)."""

    FRACTIONS = ((0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75))

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        found = super().detect(image_rgb)
        return [Detection(*d.box, d.score, [(d.x1 + fx * d.width, d.y1 + fy * d.height) for fx, fy in self.FRACTIONS])
                for d in found]


def square_clip(path: Path, count: int = 11, step: int = 3, present: bool = True) -> list[tuple[int, int]]:
    """A 24 px white square moving ``step`` px right per frame on black; returns its top-left corners."""
    frames, corners = [], []
    for i in range(count):
        frame = np.zeros((96, 128, 3), np.uint8)
        x, y = 10 + step * i, 30
        if present:
            frame[y:y + 24, x:x + 24] = 255
        frames.append(frame)
        corners.append((x, y))
    media.write_video(path, frames, 10)
    return corners


@pytest.fixture
def sample_boxes() -> dict:
    return {
        "clip_id": "01-01-03-01-01-01-01",
        "width": 320,
        "height": 240,
        "fps": 29.97,
        "detector": "opencv",
        "every": 1,
        "frames": [
            {"index": 0, "time": 0.0, "box": [10.5, 20.0, 110.0, 120.25], "score": 0.91, "interpolated": False},
            {"index": 1, "time": 0.0334, "box": [11.0, 20.5, 111.0, 121.0], "score": 0.9, "interpolated": True},
            {"index": 2, "time": 0.0667, "box": None, "score": None, "interpolated": False},
        ],
    }


def test_detect_clip_every_frame_follows_the_square(tmp_path):
    corners = square_clip(tmp_path / "sq.mp4")
    det = BrightSquareDetector()
    data = detect_clip(tmp_path / "sq.mp4", det, clip_id="sq", smooth_window=1)
    assert det.calls == 11
    assert (data["clip_id"], data["width"], data["height"], data["fps"], data["detector"]) == \
        ("sq", 128, 96, 10.0, "bright-square")
    frames = data["frames"]
    assert [f["index"] for f in frames] == list(range(11))
    assert np.allclose([f["time"] for f in frames], np.arange(11) / 10, atol=1e-3)
    for f, (x, y) in zip(frames, corners, strict=True):
        assert np.allclose(f["box"], [x, y, x + 24, y + 24], atol=1.5)
        assert f["score"] == pytest.approx(0.8) and f["interpolated"] is False


def test_detect_clip_every_nth_frame_interpolates_between(tmp_path):
    corners = square_clip(tmp_path / "sq.mp4", count=11)
    det = BrightSquareDetector()
    data = detect_clip(tmp_path / "sq.mp4", det, clip_id="sq", every=3, smooth_window=1)
    # Frames 0, 3, 6, 9 and the last one (10), so the clip's end is bracketed.
    assert det.calls == 5
    assert [f["interpolated"] for f in data["frames"]] == [i % 3 != 0 and i != 10 for i in range(11)]
    for f, (x, y) in zip(data["frames"], corners, strict=True):
        assert np.allclose(f["box"], [x, y, x + 24, y + 24], atol=1.5)


def test_detect_clip_without_a_face_gives_null_boxes(tmp_path):
    square_clip(tmp_path / "black.mp4", count=5, present=False)
    data = detect_clip(tmp_path / "black.mp4", BrightSquareDetector(), clip_id="black")
    assert len(data["frames"]) == 5
    assert all(f["box"] is None and f["score"] is None for f in data["frames"])


def test_detect_clip_with_opencv_follows_a_moving_face(moving_face_clip):
    data = detect_clip(moving_face_clip.path, get_detector("opencv"), clip_id="moving")
    assert data["detector"] == "opencv" and (data["width"], data["height"]) == (320, 240)
    boxes = [Detection(*f["box"], f["score"]) for f in data["frames"]]
    assert len(boxes) == 12
    for found, truth in zip(boxes, moving_face_clip.faces, strict=True):
        assert iou(found, truth) > 0.6
    cx = np.array([b.center[0] for b in boxes])
    cy = np.array([b.center[1] for b in boxes])
    assert np.polyfit(np.arange(12), cx, 1)[0] == pytest.approx(4.0, abs=0.7)
    assert np.polyfit(np.arange(12), cy, 1)[0] == pytest.approx(1.0, abs=0.7)


def test_detect_clip_rejects_unreadable_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(media.MediaError):
        detect_clip(bad, BrightSquareDetector(), clip_id="bad")
    with pytest.raises(ValueError, match="every"):
        detect_clip(bad, BrightSquareDetector(), clip_id="bad", every=0)


def test_round_trip(tmp_path, sample_boxes):
    path = tmp_path / "out" / "clip.json"
    write_boxes(path, sample_boxes)
    assert read_boxes(path) == sample_boxes
    assert not [p for p in path.parent.iterdir() if PARTIAL_MARK in p.name]


def test_round_trip_of_detect_clip_output(tmp_path):
    square_clip(tmp_path / "sq.mp4", count=4)
    data = detect_clip(tmp_path / "sq.mp4", BrightSquareDetector(), clip_id="sq")
    write_boxes(tmp_path / "sq.json", data)
    assert read_boxes(tmp_path / "sq.json") == data


def test_box_files_keep_the_detectors_landmarks(tmp_path):
    corners = square_clip(tmp_path / "sq.mp4", count=5)
    data = detect_clip(tmp_path / "sq.mp4", MarkedSquareDetector(), clip_id="sq", smooth_window=1)
    for (x, y), entry in zip(corners, data["frames"], strict=True):
        expected = [[x + fx * 24, y + fy * 24] for fx, fy in MarkedSquareDetector.FRACTIONS]
        assert np.allclose(entry["landmarks"], expected, atol=0.6)
    write_boxes(tmp_path / "sq.json", data)
    assert read_boxes(tmp_path / "sq.json") == data
    # A detector without landmarks writes the files it always wrote: no such key.
    plain = detect_clip(tmp_path / "sq.mp4", BrightSquareDetector(), clip_id="sq", smooth_window=1)
    assert all("landmarks" not in entry for entry in plain["frames"])


def _break(data: dict, how: str) -> object:
    data = copy.deepcopy(data)
    frames = data["frames"]
    if how == "not an object":
        return [data]
    if how == "missing clip_id":
        del data["clip_id"]
    elif how == "width as text":
        data["width"] = "320"
    elif how == "zero fps":
        data["fps"] = 0
    elif how == "frames not a list":
        data["frames"] = {}
    elif how == "box of three":
        frames[0]["box"] = [1, 2, 3]
    elif how == "inverted box":
        frames[0]["box"] = [100, 20, 10, 120]
    elif how == "score above one":
        frames[0]["score"] = 1.5
    elif how == "index repeats":
        frames[1]["index"] = 0
    elif how == "frame without time":
        del frames[2]["time"]
    elif how == "bool index":
        frames[0]["index"] = True
    elif how == "four landmarks":
        frames[0]["landmarks"] = [[1, 2]] * 4
    elif how == "landmark as text":
        frames[0]["landmarks"] = [[1, 2]] * 4 + [["1", 2]]
    return data


@pytest.mark.parametrize("how, message", [
    ("not an object", "JSON object"),
    ("missing clip_id", "missing key 'clip_id'"),
    ("width as text", "'width' has the wrong type"),
    ("zero fps", "positive"),
    ("frames not a list", "'frames' has the wrong type"),
    ("box of three", r"frames\[0\]: box must be"),
    ("inverted box", r"frames\[0\]: box .* x2 < x1"),
    ("score above one", r"frames\[0\]: score"),
    ("index repeats", r"frames\[1\]: index 0 does not increase"),
    ("frame without time", r"frames\[2\]: missing key 'time'"),
    ("bool index", r"frames\[0\]: index"),
    ("four landmarks", r"frames\[0\]: landmarks"),
    ("landmark as text", r"frames\[0\]: landmarks"),
])
def test_read_boxes_rejects_malformed_files(tmp_path, sample_boxes, how, message):
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(_break(sample_boxes, how)))
    with pytest.raises(ValueError, match=message):
        read_boxes(path)


def test_write_boxes_refuses_malformed_data_and_writes_nothing(tmp_path, sample_boxes):
    path = tmp_path / "clip.json"
    with pytest.raises(ValueError, match="x2 < x1"):
        write_boxes(path, _break(sample_boxes, "inverted box"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"), ("", "not valid JSON")])
def test_read_boxes_rejects_broken_json(tmp_path, text, message):
    path = tmp_path / "clip.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"clip.json: {message}"):
        read_boxes(path)
