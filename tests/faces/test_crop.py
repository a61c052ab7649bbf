"""Crop geometry on single frames, and whole face clips written from box files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mmer import media
from mmer.faces import Detection, get_detector
from mmer.faces.boxes import detect_clip
from mmer.faces.crop import NoFaceFound, crop_clip, crop_face, square_crop_box
from mmer.fsutil import PARTIAL_MARK


def test_square_crop_box_is_a_square_around_the_centre_with_margin():
    # 40 wide, 80 tall, centre (120, 90): side 80 * 1.25 = 100.
    assert square_crop_box((100, 50, 140, 130), 640, 480, margin=0.25) == (70, 40, 170, 140)
    assert square_crop_box(Detection(100, 50, 140, 130, 0.5), 640, 480, margin=0.0) == (80, 50, 160, 130)


def test_square_crop_box_keeps_the_face_centred_at_the_border():
    # Near the top-left corner the square runs outside the frame instead of sliding inwards.
    assert square_crop_box((0, 0, 40, 40), 640, 480, margin=1.0) == (-20, -20, 60, 60)


def test_square_crop_box_is_capped_at_the_frame():
    x1, y1, x2, y2 = square_crop_box((0, 0, 640, 480), 640, 480, margin=0.25)
    assert x2 - x1 == y2 - y1 == 640
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == (320, 240)


def test_square_crop_box_rejects_negative_margin():
    with pytest.raises(ValueError, match="margin"):
        square_crop_box((0, 0, 10, 10), 100, 100, margin=-0.1)


def test_crop_face_framing():
    image = np.zeros((200, 200, 3), np.uint8)
    image[60:100, 60:100] = 255
    out = crop_face(image, (60, 60, 100, 100), size=64, margin=1.0)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # Side 80 around a 40 px square: the square fills the middle half of the crop.
    assert (out[18:46, 18:46] == 255).all()
    assert (out[:14] == 0).all() and (out[50:] == 0).all()
    assert (out[:, :14] == 0).all() and (out[:, 50:] == 0).all()


def test_crop_face_pads_outside_the_frame_with_black():
    image = np.full((100, 100, 3), 200, np.uint8)
    image[18:22, 18:22] = (255, 0, 0)  # marks the box centre
    out = crop_face(image, (0, 0, 40, 40), size=80, margin=1.0)  # square (-20, -20, 60, 60)
    assert (out[:18, :] == 0).all() and (out[:, :18] == 0).all()
    assert (out[44:, 22:] == 200).all() and (out[22:, 44:] == 200).all()
    assert tuple(out[40, 40]) == (255, 0, 0)  # the face stays at the centre


def test_crop_face_resizes_to_any_size(astronaut):
    for size in (32, 112, 224, 300):
        assert crop_face(astronaut, (178, 62, 272, 168), size=size).shape == (size, size, 3)


def test_crop_face_outside_the_frame_is_black():
    image = np.full((50, 50, 3), 255, np.uint8)
    assert (crop_face(image, (200, 200, 240, 240), size=16) == 0).all()


def _frames(path) -> list[np.ndarray]:
    return [f.image for f in media.iter_frames(path)]


def test_detect_then_crop_a_moving_face(moving_face_clip, tmp_path, astronaut, astronaut_face):
    boxes = detect_clip(moving_face_clip.path, get_detector("opencv"), clip_id="moving")
    dest = tmp_path / "faces" / "moving.mp4"
    assert crop_clip(moving_face_clip.path, boxes, dest, size=224) == 12
    info = media.probe(dest)
    assert (info.width, info.height, info.fps, info.has_audio) == (224, 224, 12, False)
    out = _frames(dest)
    assert len(out) == 12
    # Every crop shows the face centred: compare with the same face cut from the still picture
    # around the hand-labelled box (independent of the detector).
    reference = crop_face(astronaut, astronaut_face, size=224).astype(np.float64)
    centre = (slice(56, 168), slice(56, 168))
    for image in out:
        a, b = image[centre].astype(np.float64).ravel(), reference[centre].ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.8
        r, _, bl = image[100:124, 100:124].reshape(-1, 3).mean(axis=0)
        assert r - bl > 40  # skin, not the grey backdrop
    assert not [p for p in dest.parent.iterdir() if PARTIAL_MARK in p.name]


def _two_colour_clip(path, count: int = 9) -> None:
    """Left half red, right half blue, 128×64."""
    frame = np.zeros((64, 128, 3), np.uint8)
    frame[:, :64] = (255, 0, 0)
    frame[:, 64:] = (0, 0, 255)
    media.write_video(path, [frame] * count, 10)


def _boxes(frames: list[list[float] | None], width: int = 128, height: int = 64) -> dict:
    return {"clip_id": "c", "width": width, "height": height, "fps": 10.0, "detector": "test",
            "frames": [{"index": i, "time": i / 10, "box": b, "score": None if b is None else 0.9}
                       for i, b in enumerate(frames)]}


def _colours(path) -> list[str]:
    return ["red" if img[16, 16, 0] > 150 and img[16, 16, 2] < 100 else
            "blue" if img[16, 16, 2] > 150 and img[16, 16, 0] < 100 else "other"
            for img in _frames(path)]


LEFT, RIGHT = [16.0, 16.0, 48.0, 48.0], [80.0, 16.0, 112.0, 48.0]


def test_frames_without_a_box_use_the_nearest_box(tmp_path):
    _two_colour_clip(tmp_path / "rb.mp4")
    # 3 and 4 are nearer (or as near) to 2 than to 6; 5 is nearer to 6.
    boxes = _boxes([LEFT, LEFT, LEFT, None, None, None, RIGHT, RIGHT, None])
    assert crop_clip(tmp_path / "rb.mp4", boxes, tmp_path / "out.mp4", size=32, margin=0.0) == 9
    assert _colours(tmp_path / "out.mp4") == ["red"] * 5 + ["blue"] * 4


def test_box_file_shorter_than_the_video(tmp_path, caplog):
    _two_colour_clip(tmp_path / "rb.mp4", count=9)
    boxes = _boxes([RIGHT, RIGHT, LEFT, LEFT])
    with caplog.at_level(logging.WARNING, logger="mmer.faces.crop"):
        assert crop_clip(tmp_path / "rb.mp4", boxes, tmp_path / "out.mp4", size=32, margin=0.0) == 9
    assert _colours(tmp_path / "out.mp4") == ["blue"] * 2 + ["red"] * 7
    assert "box file lists 4 frames, the video has 9" in caplog.text


def test_box_file_for_another_frame_size_is_scaled(tmp_path, caplog):
    _two_colour_clip(tmp_path / "rb.mp4", count=3)
    boxes = _boxes([[2 * v for v in RIGHT]] * 3, width=256, height=128)
    with caplog.at_level(logging.WARNING, logger="mmer.faces.crop"):
        crop_clip(tmp_path / "rb.mp4", boxes, tmp_path / "out.mp4", size=32, margin=0.0)
    assert _colours(tmp_path / "out.mp4") == ["blue"] * 3
    assert "scaling the boxes" in caplog.text


def test_no_face_anywhere_raises_and_writes_nothing(tmp_path):
    _two_colour_clip(tmp_path / "rb.mp4", count=3)
    dest = tmp_path / "out" / "none.mp4"
    with pytest.raises(NoFaceFound, match="no face was found in any frame of rb.mp4"):
        crop_clip(tmp_path / "rb.mp4", _boxes([None] * 3), dest)
    assert not dest.exists()


def test_flat_clip_detects_no_face_and_cannot_be_cropped(flat_clip, tmp_path):
    boxes = detect_clip(flat_clip, get_detector("opencv"), clip_id="flat")
    assert all(f["box"] is None for f in boxes["frames"])
    with pytest.raises(NoFaceFound):
        crop_clip(flat_clip, boxes, tmp_path / "flat_face.mp4")
    assert not (tmp_path / "flat_face.mp4").exists()


def test_crop_clip_rejects_odd_sizes_and_bad_boxes(tmp_path):
    _two_colour_clip(tmp_path / "rb.mp4", count=2)
    with pytest.raises(ValueError, match="even"):
        crop_clip(tmp_path / "rb.mp4", _boxes([LEFT, LEFT]), tmp_path / "out.mp4", size=223)
    bad = _boxes([LEFT, LEFT])
    del bad["fps"]
    with pytest.raises(ValueError, match="missing key 'fps'"):
        crop_clip(tmp_path / "rb.mp4", bad, tmp_path / "out.mp4")


def test_crop_clip_of_unreadable_video_leaves_no_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(media.MediaError):
        crop_clip(bad, _boxes([LEFT]), tmp_path / "out" / "bad.mp4")
    out_dir = tmp_path / "out"
    assert not out_dir.exists() or list(out_dir.iterdir()) == []
