"""Main-face tracking: which face is kept, how gaps are bridged, how jitter is smoothed."""

from __future__ import annotations

import numpy as np
import pytest

from mmer.faces import Detection
from mmer.faces.tracking import FaceTracker, track_main_face


def box(cx: float, cy: float, size: float, score: float = 0.9) -> Detection:
    return Detection(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2, score)


def centres(boxes: list[Detection | None]) -> np.ndarray:
    return np.array([b.center if b is not None else (np.nan, np.nan) for b in boxes])


def test_picks_the_large_consistent_face_over_a_small_flickering_one():
    # The small face is more confident and listed first, but seen only every other frame.
    candidates = []
    for i in range(20):
        frame = [box(300 + i, 200, 100, 0.6)]
        if i % 2:
            frame.insert(0, box(80, 60, 30, 0.99))
        candidates.append(frame)
    result = track_main_face(candidates, smooth_window=1)
    assert all(b is not None for b in result.boxes)
    assert np.allclose(centres(result.boxes)[:, 0], 300 + np.arange(20))
    assert not any(result.interpolated)


def test_a_face_seen_throughout_beats_a_bigger_one_seen_twice():
    candidates = [[box(100, 100, 60)] for _ in range(20)]
    candidates[3].append(box(400, 300, 100))
    candidates[4].append(box(400, 300, 100))
    result = track_main_face(candidates, smooth_window=1)
    assert np.allclose(centres(result.boxes), [[100, 100]] * 20)


def test_identity_does_not_jump_when_the_detector_reorders_faces():
    # Two faces of equal size; the left one is more confident overall, and the detector's
    # list order alternates. The chosen track must stay on the left face in every frame.
    candidates = []
    for i in range(10):
        left, right = box(100, 100, 80, 0.9), box(300, 100, 80, 0.5)
        candidates.append([left, right] if i % 2 else [right, left])
    result = track_main_face(candidates, smooth_window=1)
    assert np.allclose(centres(result.boxes)[:, 0], 100)


def test_short_gap_is_interpolated_linearly():
    # Boxes across the gap still overlap (IoU ~0.4): the same track.
    candidates = [[box(100 + 10 * i, 50, 100)] for i in range(13)]
    for i in (5, 6, 7):
        candidates[i] = []
    result = track_main_face(candidates, max_gap=3, smooth_window=1)
    assert np.allclose(centres(result.boxes)[:, 0], 100 + 10 * np.arange(13))
    assert result.interpolated == [i in (5, 6, 7) for i in range(13)]
    # Interpolated boxes carry the neighbours' score, and stay valid detections.
    assert result.boxes[6].score == pytest.approx(0.9)


def test_gap_longer_than_max_gap_stays_empty():
    candidates = [[box(100, 50, 40)] if not 5 <= i < 15 else [] for i in range(20)]
    result = track_main_face(candidates, max_gap=5, smooth_window=1)
    assert all(result.boxes[i] is None for i in range(5, 15))
    # The face comes back where it was: same track, so both ends keep their boxes.
    assert all(result.boxes[i] is not None for i in (*range(5), *range(15, 20)))
    assert not any(result.interpolated)


def test_link_gap_splits_tracks_across_long_absences():
    candidates = [[box(100, 50, 40)] if i < 5 else [] if i < 15 else [box(100, 50, 40)] for i in range(25)]
    result = track_main_face(candidates, max_gap=5, smooth_window=1, link_gap=3)
    # Two tracks; the longer (second) one wins, the first is dropped.
    assert [b is not None for b in result.boxes] == [i >= 15 for i in range(25)]


def test_frames_not_examined_are_always_interpolated():
    # Detection every 4th frame: None means "not looked at", not "no face".
    candidates = [[box(10.0 * i, 50, 100)] if i % 4 == 0 else None for i in range(13)]
    result = track_main_face(candidates, max_gap=0, smooth_window=1)
    assert np.allclose(centres(result.boxes)[:, 0], 10.0 * np.arange(13))
    assert result.interpolated == [i % 4 != 0 for i in range(13)]


def test_max_gap_counts_examined_misses_only():
    d = [box(100, 100, 50)]
    candidates = [d, None, [], None, d]
    assert track_main_face(candidates, max_gap=0, smooth_window=1).boxes[1:4] == [None] * 3
    filled = track_main_face(candidates, max_gap=1, smooth_window=1)
    assert all(b is not None for b in filled.boxes)


def test_frames_before_the_first_and_after_the_last_detection_stay_empty():
    candidates = [[], None, [box(50, 50, 20)], [box(50, 50, 20)], [], None]
    result = track_main_face(candidates, max_gap=10)
    assert [b is not None for b in result.boxes] == [False, False, True, True, False, False]


def test_smoothing_reduces_jitter_without_lagging_motion():
    rng = np.random.default_rng(0)
    n = 60
    true_x = 200 + 2.0 * np.arange(n)
    noisy = true_x + rng.normal(0, 3, n)
    candidates = [[box(x, 150, 120 + rng.normal(0, 2))] for x in noisy]
    raw = centres(track_main_face(candidates, smooth_window=1).boxes)[:, 0]
    smooth = centres(track_main_face(candidates, smooth_window=7).boxes)[:, 0]
    assert np.allclose(raw, noisy)
    assert np.var(np.diff(smooth)) < 0.2 * np.var(np.diff(raw))
    assert np.abs(smooth - true_x).mean() < 0.6 * np.abs(raw - true_x).mean()
    # Steady motion comes through unchanged, ends included.
    steady = [[box(x, 150, 120)] for x in true_x]
    assert np.allclose(centres(track_main_face(steady, smooth_window=9).boxes)[:, 0], true_x)


def test_smoothing_does_not_cross_a_gap():
    candidates = [[box(100, 100, 40)] for _ in range(5)] + [[]] * 20 + [[box(110, 100, 40)] for _ in range(5)]
    result = track_main_face(candidates, max_gap=3, smooth_window=9)
    xs = centres(result.boxes)[:, 0]
    assert np.allclose(xs[:5], 100) and np.allclose(xs[25:], 110)


def test_empty_inputs():
    assert track_main_face([]).boxes == []
    result = track_main_face([[], None, []])
    assert result.boxes == [None] * 3 and result.interpolated == [False] * 3


@pytest.mark.parametrize("kwargs", [{"max_gap": -1}, {"smooth_window": 0}])
def test_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        track_main_face([[box(1, 1, 1)]], **kwargs)


# --- landmarks --------------------------------------------------------------------------------


def marked(cx: float, cy: float, size: float, tilt: float = 0.0, score: float = 0.9) -> Detection:
    """A box with five landmarks: eyes a third of the side apart, the right one ``tilt`` pixels lower."""
    d = size / 6
    points = ((cx - d, cy - d), (cx + d, cy - d + tilt), (cx, cy), (cx - d, cy + d), (cx + d, cy + d))
    return Detection(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2, score, points)


def test_landmarks_travel_with_the_box_through_gaps_and_smoothing():
    candidates = [[marked(100 + 10 * i, 50, 90, tilt=2.0 * i)] for i in range(9)]
    candidates[4] = []
    result = track_main_face(candidates, max_gap=2, smooth_window=3)
    assert all(b is not None and b.landmarks is not None for b in result.boxes)
    # Linear motion and a linearly growing tilt: interpolation and the centred mean leave both as they were.
    for i, b in enumerate(result.boxes):
        assert np.allclose(b.landmarks, marked(100 + 10 * i, 50, 90, tilt=2.0 * i).landmarks)
    assert result.interpolated[4]


def test_a_track_only_partly_landmarked_keeps_boxes_without_landmarks():
    candidates = [[marked(100, 50, 90)], [box(100, 50, 90)], [marked(100, 50, 90)]]
    result = track_main_face(candidates, smooth_window=1)
    assert [b.box for b in result.boxes] == [box(100, 50, 90).box] * 3
    assert all(b.landmarks is None for b in result.boxes)


def test_the_sparse_tracker_reuses_a_box_with_its_landmarks():
    first = marked(100, 50, 90, tilt=5.0)
    calls = []

    def detect(image: np.ndarray) -> Detection | None:
        calls.append(image.shape)
        return first

    tracker = FaceTracker(detect, lambda image: None)
    frame = np.zeros((240, 320, 3), np.uint8)
    assert tracker.box(0.0, frame) == first
    assert tracker.box(0.2, frame) is first and len(calls) == 1  # reused within REUSE_BOX_S, landmarks and all


def test_detection_moves_and_scales_its_landmarks_with_its_box():
    face = marked(100, 50, 90, tilt=3.0)
    shifted = face.shifted(10, -5)
    assert np.allclose(np.array(shifted.landmarks) - face.landmarks, (10, -5))
    scaled = face.scaled(2.0, 0.5)
    assert np.allclose(scaled.landmarks, np.array(face.landmarks) * (2.0, 0.5))
    assert scaled.box == (face.x1 * 2, face.y1 * 0.5, face.x2 * 2, face.y2 * 0.5)
    assert face.clipped(120, 60).landmarks == face.landmarks
    assert Detection(0, 0, 1, 1, 1.0, np.zeros((5, 2))).landmarks == ((0.0, 0.0),) * 5  # stored as tuples


@pytest.mark.parametrize("points", [[(0, 0)] * 4, [(0, 0)] * 4 + [(np.nan, 0)], [[0, 0, 0]] * 5])
def test_detection_refuses_malformed_landmarks(points):
    with pytest.raises(ValueError, match="landmarks"):
        Detection(0, 0, 10, 10, 0.5, points)
