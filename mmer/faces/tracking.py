"""From per-frame face candidates to one steady box per frame for the main face.

Detectors work frame by frame: they miss a face for a few frames, find a second person or a
poster in the background, and their boxes jitter by a few pixels. A crop that follows the raw
boxes jumps between faces and shakes, which a video backbone sees as motion. So: link boxes
into tracks, keep the one main face, bridge short misses, and smooth what is left.

Landmarks (MTCNN's five points) travel with their box: interpolated and smoothed as the box is
(so an aligned crop's roll angle moves as smoothly as its square), and moved with it when a box
found in a region of the frame is put back into the frame's pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from mmer.errors import InvalidValue
from mmer.faces.base import Detection, iou

#: Frames the detector may miss the face and still have the box interpolated (0.5 s at 25 fps).
DEFAULT_MAX_GAP = 12
#: Moving-average window, in frames, over each box coordinate.
DEFAULT_SMOOTH_WINDOW = 5
#: Boxes in different frames overlapping at least this much are the same face.
DEFAULT_IOU = 0.3


class MainFace(NamedTuple):
    """One entry per frame: the main face's box (``None`` where it is unknown), and whether that
    box was interpolated rather than detected in that frame."""

    boxes: list[Detection | None]
    interpolated: list[bool]


@dataclass
class _Track:
    frames: dict[int, Detection] = field(default_factory=dict)
    last_frame: int = -1

    @property
    def last(self) -> Detection:
        return self.frames[self.last_frame]

    def add(self, frame: int, det: Detection) -> None:
        self.frames[frame] = det
        self.last_frame = frame

    @property
    def weight(self) -> float:
        """How much this track looks like the main face: big, confident and present often."""
        return sum(d.area * d.score for d in self.frames.values())


def track_main_face(
    candidates: Sequence[Sequence[Detection] | None],
    *,
    max_gap: int = DEFAULT_MAX_GAP,
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
    iou_threshold: float = DEFAULT_IOU,
    link_gap: int | None = None,
) -> MainFace:
    """Pick the main face in each frame of a clip.

    ``candidates[i]`` holds frame ``i``'s detections, or ``None`` if the detector did not look
    at that frame (detection every n-th frame); those frames are always interpolated between
    neighbouring detections. ``max_gap`` counts frames the detector looked at and missed: a run
    of misses that long or shorter inside the track is interpolated, a longer one stays
    ``None``, as do frames before the first and after the last detection. ``link_gap``: frames
    a track may go unseen and still continue (``None``: no limit, overlap alone decides, so
    a face that comes back to where it was is the same face).
    """
    if max_gap < 0:
        raise InvalidValue(f"max_gap cannot be negative, got {max_gap}")
    if smooth_window < 1:
        raise InvalidValue(f"smooth_window must be at least 1, got {smooth_window}")
    n = len(candidates)
    tracks = link_tracks(candidates, iou_threshold=iou_threshold, link_gap=link_gap)
    if not tracks:
        return MainFace([None] * n, [False] * n)
    main = max(tracks, key=lambda t: t.weight)  # max keeps the first of equals: deterministic
    coords, scores = _as_arrays(main, n)
    examined = np.array([c is not None for c in candidates], dtype=bool)
    interpolated = fill_gaps(coords, scores, examined, max_gap=max_gap)
    coords = smooth_runs(coords, smooth_window)
    boxes = [None if np.isnan(scores[i]) else _detection(coords[i], float(scores[i])) for i in range(n)]
    return MainFace(boxes, interpolated.tolist())


def _detection(row: np.ndarray, score: float) -> Detection:
    """A row of :func:`_as_arrays` (box, then the landmarks' x, y pairs if it has them) as a Detection."""
    landmarks = row[4:].reshape(-1, 2) if len(row) > 4 else None
    return Detection(*(float(v) for v in row[:4]), score, landmarks)


def link_tracks(
    candidates: Sequence[Sequence[Detection] | None],
    *,
    iou_threshold: float = DEFAULT_IOU,
    link_gap: int | None = None,
) -> list[_Track]:
    """Chain detections frame to frame: each goes to the track whose last box overlaps it most
    (greedy, best pairs first, one detection per track per frame), or starts a new track."""
    tracks: list[_Track] = []
    for frame, dets in enumerate(candidates):
        if not dets:
            continue
        alive = [t for t in tracks if link_gap is None or frame - t.last_frame - 1 <= link_gap]
        pairs = sorted(
            ((iou(t.last, d), ti, di) for ti, t in enumerate(alive) for di, d in enumerate(dets)),
            key=lambda p: p[0],
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for overlap, ti, di in pairs:
            if overlap < iou_threshold:
                break
            if ti in used_tracks or di in used_dets:
                continue
            alive[ti].add(frame, dets[di])
            used_tracks.add(ti)
            used_dets.add(di)
        for di, d in enumerate(dets):
            if di not in used_dets:
                track = _Track()
                track.add(frame, d)
                tracks.append(track)
    return tracks


def _as_arrays(track: _Track, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) box coordinates, or (n, 14) with the five landmarks' (x, y) after them when every box
    of the track has landmarks, and (n,) scores; NaN where the track has no box. Landmarks are
    columns like the box's, so gap filling and smoothing treat them alike; a track only partly
    landmarked (a detector that gives them for some faces) keeps none, rather than a hole in a run."""
    landmarked = all(det.landmarks is not None for det in track.frames.values())
    coords = np.full((n, 14 if landmarked else 4), np.nan)
    scores = np.full(n, np.nan)
    for frame, det in track.frames.items():
        coords[frame] = (*det.box, *np.ravel(det.landmarks)) if landmarked else det.box
        scores[frame] = det.score
    return coords, scores


def fill_gaps(coords: np.ndarray, scores: np.ndarray, examined: np.ndarray, *, max_gap: int) -> np.ndarray:
    """Linearly interpolate, in place, the holes between known boxes whose examined-and-missed
    frames number at most ``max_gap``; returns which frames were filled."""
    filled = np.zeros(len(scores), dtype=bool)
    known = np.flatnonzero(~np.isnan(scores))
    for a, b in zip(known[:-1], known[1:], strict=True):
        if b - a < 2 or int(examined[a + 1:b].sum()) > max_gap:
            continue
        t = (np.arange(a + 1, b) - a) / (b - a)
        coords[a + 1:b] = coords[a] + t[:, None] * (coords[b] - coords[a])
        scores[a + 1:b] = scores[a] + t * (scores[b] - scores[a])
        filled[a + 1:b] = True
    return filled


def smooth_runs(coords: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of each coordinate within each contiguous run of known boxes.

    The window shrinks symmetrically near a run's ends, so steady motion passes through
    unchanged (no lag, no pull towards the middle) while frame-to-frame jitter averages out.
    Runs are smoothed separately: a box must not drift towards a face seen after a gap.
    """
    out = coords.copy()
    half = window // 2
    if half == 0:
        return out
    for start, stop in _runs(~np.isnan(coords[:, 0])):
        out[start:stop] = _centred_mean(coords[start:stop], half)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _centred_mean(values: np.ndarray, half: int) -> np.ndarray:
    m = len(values)
    idx = np.arange(m)
    h = np.minimum(half, np.minimum(idx, m - 1 - idx))
    cs = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    return (cs[idx + h + 1] - cs[idx - h]) / (2 * h + 1)[:, None]


#: A face box found at time t is reused for frames up to this many seconds later instead of
#: detecting again: detection is most of the cost, and a talking head moves a few percent of its
#: width in that time, well inside the crop's 25 % margin. At the default model's 8 samples a
#: second of a short clip this detects on every fourth sample.
REUSE_BOX_S = 0.4
#: Once a face is known, the next detection looks only around it: a square region of this many face sides.
ROI_SIDES = 2.2


class FaceTracker:
    """Boxes for sparse frames (samples a few frames apart) in time order, for a model that reads
    single frames (the default's face CNN): no interpolation or smoothing, which need every frame.
    A box is reused for frames within :data:`REUSE_BOX_S` of the frame it was found in; after that
    the face is looked for around its last place first (cheap), and in the whole frame only when it
    is not there. A reused box keeps its landmarks as found (no roll is guessed between detections:
    a head turns little in :data:`REUSE_BOX_S`)."""

    def __init__(self, detect: Callable[[np.ndarray], Detection | None],
                 detect_near: Callable[[np.ndarray], Detection | None]) -> None:
        self.detect = detect
        self.detect_near = detect_near
        self.last: tuple[float, Detection] | None = None

    def box(self, t: float, image: np.ndarray) -> Detection | None:
        if self.last is not None and 0 <= t - self.last[0] <= REUSE_BOX_S:
            return self.last[1]
        box = self._near(image, self.last[1]) if self.last is not None else None
        if box is None:
            box = self.detect(image)
        self.last = None if box is None else (t, box)
        return box

    def _near(self, image: np.ndarray, previous: Detection) -> Detection | None:
        height, width = image.shape[:2]
        cx, cy = previous.center
        half = max(previous.width, previous.height) * ROI_SIDES / 2
        x1, y1 = max(0, int(cx - half)), max(0, int(cy - half))
        x2, y2 = min(width, int(cx + half)), min(height, int(cy + half))
        if x2 - x1 < 8 or y2 - y1 < 8:
            return None
        found = self.detect_near(np.ascontiguousarray(image[y1:y2, x1:x2]))
        return None if found is None else found.shifted(x1, y1)


def main_face(faces: Sequence[Detection]) -> Detection | None:
    """The largest confident box of a frame's detections."""
    return max(faces, key=lambda d: d.area * d.score) if faces else None
