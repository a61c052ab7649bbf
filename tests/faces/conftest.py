"""Face fixtures: real face pictures from scikit-image, short clips made from them, and the MTCNN weights.

ultralytics and huggingface_hub read their environment when first imported, so the offline
switches are set here, before any test can import them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ["YOLO_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

from skimage import data as skdata  # noqa: E402

from mmer import media, weights  # noqa: E402
from mmer.faces import Detection  # noqa: E402
from tests.conftest import _session_fer_cache  # noqa: E402

#: The astronaut's face in skimage.data.astronaut(), hairline to chin, labelled by hand.
ASTRONAUT_FACE = Detection(178.0, 62.0, 272.0, 168.0, 1.0)
#: Her eyes, nose tip and mouth corners, labelled by hand (left and right as the image shows them).
ASTRONAUT_POINTS = ((202, 101), (246, 103), (225, 126), (203, 141), (245, 141))
#: Head and shoulders cut from the astronaut picture, and where the face lies inside it.
HEAD_CUT = (slice(30, 230), slice(120, 320))
HEAD_FACE = (ASTRONAUT_FACE.x1 - 120, ASTRONAUT_FACE.y1 - 30, ASTRONAUT_FACE.x2 - 120, ASTRONAUT_FACE.y2 - 30)


@pytest.fixture(scope="session", autouse=True)
def _offline_yolo(tmp_path_factory: pytest.TempPathFactory):
    """Keep ultralytics' settings file out of the user's home and every library off the network."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo-config")))
        mp.setenv("YOLO_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def mtcnn_weights(mtcnn_cache: Path) -> Path:
    return weights.default_mtcnn_path(mtcnn_cache)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


@pytest.fixture(scope="session")
def astronaut_face() -> Detection:
    return ASTRONAUT_FACE


@pytest.fixture(scope="session")
def lfw() -> np.ndarray:
    """scikit-image's LFW subset: (200, 25, 25) float grey images, 100 faces then 100 non-faces."""
    faces = np.load(os.path.join(os.path.dirname(skdata.__file__), "lfw_subset.npy"))
    assert faces.shape == (200, 25, 25)
    return faces


@dataclass(frozen=True)
class MovingClip:
    path: Path
    fps: int
    #: Where the face truly is in each frame.
    faces: list[Detection]


def moving_face_frames(count: int = 12, width: int = 320, height: int = 240, dx: int = 4, dy: int = 1,
                       background: int = 110) -> tuple[list[np.ndarray], list[Detection]]:
    """The astronaut's head on a flat backdrop, moving (dx, dy) pixels per frame."""
    head = skdata.astronaut()[HEAD_CUT]
    frames, faces = [], []
    for i in range(count):
        frame = np.full((height, width, 3), background, np.uint8)
        x, y = 40 + dx * i, 20 + dy * i
        frame[y:y + head.shape[0], x:x + head.shape[1]] = head
        frames.append(frame)
        fx1, fy1, fx2, fy2 = HEAD_FACE
        faces.append(Detection(fx1 + x, fy1 + y, fx2 + x, fy2 + y, 1.0))
    return frames, faces


@pytest.fixture
def moving_face_clip(tmp_path: Path) -> MovingClip:
    """12 frames, 320×240 at 12 fps, the face moving 4 px right and 1 px down per frame."""
    frames, faces = moving_face_frames()
    path = tmp_path / "moving.mp4"
    media.write_video(path, frames, 12)
    return MovingClip(path, 12, faces)


@pytest.fixture
def flat_clip(tmp_path: Path) -> Path:
    """8 grey frames with nothing in them."""
    path = tmp_path / "flat.mp4"
    media.write_video(path, [np.full((240, 320, 3), 128, np.uint8)] * 8, 12)
    return path


@pytest.fixture(scope="session")
def mtcnn_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root holding the converted MTCNN weights (the session's model cache)."""
    return _session_fer_cache(tmp_path_factory)
