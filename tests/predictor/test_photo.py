"""A photo given to the default model (:mod:`mmer.predictor.photo`): read by the face expert through the
video road, answered in a video's shape as a one-second still, refused cleanly when too large or faceless.

Real photos from ``../shared/data/faces-in-the-wild`` (skipped where absent); pictures made here otherwise."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmer import media
from mmer.checkpoint import save_checkpoint
from mmer.features.audio_stats import LogMelStatsBackbone
from mmer.features.fer import FerBackbone
from mmer.model import FusionConfig, MultimodalEmotionModel
from mmer.predictor import IMAGE_CONTAINERS, DefaultPredictor, FusionPredictor, InputError, load_predictor, sniff_media
from mmer.predictor.default import SEGMENT_S
from mmer.predictor.photo import NO_SOUND, PHOTO_SECONDS, photo_format, read_photo
from tests.media.test_image import png_bomb

#: Broad smiles the shipped face expert reads as Happy with confidence (0.98, 0.91).
SMILES = ("Gerard_Butler_0001.jpg", "Sanja_Papic_0001.jpg")


@pytest.fixture(scope="module")
def model(fer_cache: Path) -> DefaultPredictor:
    mp = pytest.MonkeyPatch()
    mp.setenv("MMER_CACHE_DIR", str(fer_cache))
    try:
        predictor = load_predictor(device="cpu")
    finally:
        mp.undo()
    assert isinstance(predictor, DefaultPredictor) and predictor.reads_photos
    return predictor


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> Path:
    folder = shared_data / "faces-in-the-wild" / "images"
    if not folder.is_dir():
        pytest.skip(f"faces-in-the-wild not found in {shared_data}")
    return folder


def top(scores: dict[str, float]) -> str:
    return max(scores, key=scores.get)  # type: ignore[arg-type]


def test_a_photo_is_answered_by_the_face_as_a_one_second_still(model: DefaultPredictor, photos: Path) -> None:
    body = model.predict(photos / SMILES[0], sample_frames=16).to_dict()
    assert body["emotion"] == "HAP" and body["confidence"] > 0.5
    assert body["duration_s"] == PHOTO_SECONDS == SEGMENT_S  # the timeline ends where the "clip" does
    assert (body["frames_analysed"], body["sample_frames"]) == (1, 16)
    (segment,) = body["timeline"]
    assert (segment["start"], segment["end"], segment["frames"], segment["faces"]) == (0.0, 1.0, 1, 1)
    assert segment["scores"] == segment["face"] == body["scores"] and segment["voice"] is None
    assert (segment["speech_s"], segment["dominant"], segment["agree"]) == (0.0, "face", None)
    mods = body["modalities"]
    assert (mods["used"], mods["missing"], mods["available"]) == (["video"], ["audio"],
                                                                  {"video": True, "audio": False})
    assert mods["detail"]["audio"] == NO_SOUND and "JPEG photo of 350×350" in mods["detail"]["video"]
    face, voice = body["experts"]["face"], body["experts"]["voice"]
    assert face["used"] and face["scores"] == body["scores"]
    assert (voice["used"], voice["scores"], voice["detail"]) == (False, None, NO_SOUND)
    assert body["fusion"]["dominant"] == "face" and body["model"]["kind"] == "default"
    assert set(body["timing_ms"]) >= {"decode", "faces", "model", "total"}


def test_a_photo_reads_exactly_like_a_still_video_of_it(model: DefaultPredictor, photos: Path,
                                                          tmp_path: Path) -> None:
    """The photo's face goes through the video road itself: a lossless one-second video of the same
    pixels gives, at its first sample (a full-frame detection, like the photo's), the very same answer."""
    for name in SMILES:
        picture = read_photo(photos / name, model.limits).image
        clip = tmp_path / "still.mkv"
        with media.VideoWriter(clip, 15, picture.shape[1], picture.shape[0], lossless=True) as writer:
            for _ in range(15):
                writer.write(picture)
        _, _, probs = model.face_features(clip, sample_frames=1)
        photo = model.predict(photos / name).experts["face"]["scores"]  # type: ignore[index]
        np.testing.assert_allclose(list(photo.values()), probs[0], atol=1e-5)


def test_formats_and_an_exif_turned_photo_give_the_upright_answer(model: DefaultPredictor, photos: Path,
                                                                   tmp_path: Path) -> None:
    """PNG and WebP copies answer as the JPEG does; a phone's sideways picture, stored turned with its
    EXIF Orientation tag, is read upright: the face is found and the answer matches."""
    source = photos / SMILES[1]
    upright = model.predict(source).scores
    picture = Image.open(source)
    picture.save(tmp_path / "copy.png")
    picture.save(tmp_path / "copy.webp", lossless=True)
    for name in ("copy.png", "copy.webp"):
        np.testing.assert_allclose(list(model.predict(tmp_path / name).scores.values()), list(upright.values()),
                                   atol=1e-5)
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90° clockwise to show": the camera was held upright, the sensor sideways
    sideways = picture.transpose(Image.Transpose.ROTATE_90)
    sideways.save(tmp_path / "phone.png", exif=exif)
    turned = model.predict(tmp_path / "phone.png").scores
    np.testing.assert_allclose(list(turned.values()), list(upright.values()), atol=1e-5)
    # The tag matters: the same sideways JPEG without it is read otherwise (or not at all).
    sideways.save(tmp_path / "sideways.jpg", quality=95)
    sideways.save(tmp_path / "tagged.jpg", quality=95, exif=exif)
    tagged = model.predict(tmp_path / "tagged.jpg").to_dict()
    assert top(tagged["scores"]) == top(upright) and abs(tagged["scores"]["HAP"] - upright["HAP"]) < 0.05
    try:
        untagged = model.predict(tmp_path / "sideways.jpg").scores
        assert abs(untagged["HAP"] - upright["HAP"]) > abs(tagged["scores"]["HAP"] - upright["HAP"])
    except InputError as exc:
        assert exc.code == "no_signal"


def test_a_phone_sized_photo_is_read(model: DefaultPredictor, photos: Path, tmp_path: Path) -> None:
    """12 MP (4032 × 3024) is over a video frame's 4K limit but a photo's size: shrunk, then read."""
    face = Image.open(photos / SMILES[0]).resize((3024, 3024), Image.Resampling.BICUBIC)
    phone = Image.new("RGB", (4032, 3024), (90, 90, 90))
    phone.paste(face, (504, 0))
    phone.save(tmp_path / "phone.jpg", quality=90)
    body = model.predict(tmp_path / "phone.jpg").to_dict()
    assert body["emotion"] == "HAP" and "4032×3024" in body["modalities"]["detail"]["video"]


def test_no_face_is_no_signal_and_the_still_leaves_nothing_behind(model: DefaultPredictor, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(tmp_path / "wall.jpg")
    with pytest.raises(InputError, match="no face in the photo") as caught:
        model.predict(tmp_path / "wall.jpg")
    assert caught.value.code == "no_signal" and NO_SOUND in str(caught.value)
    assert list(scratch.iterdir()) == []


def test_a_photo_bomb_is_refused_before_decoding(model: DefaultPredictor, tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png", 50_000, 50_000)
    with pytest.raises(InputError, match="the photo is 2,500,000,000 pixels") as caught:
        model.predict(bomb)
    assert caught.value.code == "frame_too_large"
    broken = tmp_path / "cut.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(broken)
    broken.write_bytes(broken.read_bytes()[:60])
    with pytest.raises(InputError, match="the photo cannot be decoded") as caught:
        model.predict(broken)
    assert caught.value.code == "undecodable"


def test_photos_are_told_by_their_bytes_not_their_names(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "clip.mp4", format="PNG")
    (tmp_path / "photo.jpg").write_text("not a photo")
    assert photo_format(tmp_path / "clip.mp4") == "png"
    assert photo_format(tmp_path / "photo.jpg") is None and photo_format(tmp_path / "missing.jpg") is None


def test_a_trained_checkpoint_refuses_a_photo_saying_why(fer_cache: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint reads video and sound: a photo gets ``not_video`` (415) and what to send, not the
    "0.04 s long" a one-frame video would."""
    fer, logmel = FerBackbone.from_default(fer_cache, num_frames=8, device="cpu"), LogMelStatsBackbone()
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "model", MultimodalEmotionModel(FusionConfig(video_dim=fer.dim, audio_dim=logmel.dim,
                                                                            dim=16, heads=2)), {
        "backbones": {"video": {**fer.config(), "config": fer.config()},
                      "audio": {**logmel.config(), "source": "builtin", "config": logmel.config()}},
        "preprocessing": {"num_frames": 8, "sample_rate": 16_000},
    })
    monkeypatch.setenv("MMER_CACHE_DIR", str(fer_cache))
    checkpoint = load_predictor(tmp_path / "model", device="cpu")
    assert isinstance(checkpoint, FusionPredictor) and not checkpoint.reads_photos
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(tmp_path / "photo.jpg")
    with pytest.raises(InputError, match="JPEG photo and this trained model reads video and sound only") as caught:
        checkpoint.predict(tmp_path / "photo.jpg")
    assert caught.value.code == "not_video"


@pytest.mark.parametrize("head, name", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "png"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8L", "webp"),
    # A GIF opens with 0x47, MPEG-TS's sync byte: it is told as a photo first.
    ((b"GIF89a" + b"\x00" * 182 + b"\x47" + b"\x00" * 187 + b"\x47").ljust(400, b"\x00"), "gif"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", None),  # HEIC: MP4's boxes, no video to read
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", None),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
])
def test_the_upload_sniffer_tells_photos(head: bytes, name: str | None) -> None:
    assert sniff_media(head) == name
    assert (name in IMAGE_CONTAINERS) == (name in ("jpeg", "png", "webp", "gif"))
