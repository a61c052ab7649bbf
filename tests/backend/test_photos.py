"""POST /infer with a photo (issue 22): real photos from ``../shared/data/faces-in-the-wild`` as JPEG, PNG
and WebP, a phone's EXIF-turned picture, and the uploads a photo endpoint must refuse (decompression
bombs, pictures over the limit, junk named like a photo), each refused with nothing left on disk.
The real-photo tests skip where the data is absent; the refusals run anywhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.backend.test_api import assert_error, assert_prediction
from tests.media.test_image import png_bomb

#: A broad smile the shipped face expert reads as Happy (0.98).
SMILE = "Gerard_Butler_0001.jpg"


@pytest.fixture(scope="module")
def smile(shared_data: Path) -> Path:
    path = shared_data / "faces-in-the-wild" / "images" / SMILE
    if not path.is_file():
        pytest.skip(f"faces-in-the-wild not found in {shared_data}")
    return path


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


def send(client: TestClient, path: Path, name: str, content_type: str, route: str = "/infer") -> object:
    return client.post(route, files={"file": (name, path.read_bytes(), content_type)})


def test_the_service_says_it_reads_photos(client: TestClient) -> None:
    body = client.get("/").json()
    assert body["photos"] is True and body["limits"]["max_photo_pixels"] == 8192 * 8192


def test_jpeg_png_and_webp_photos_are_answered_by_the_face(make_client: Callable[..., TestClient], smile: Path,
                                                           uploads: Path, tmp_path: Path) -> None:
    client = make_client(tmp_dir=str(uploads))
    picture = Image.open(smile)
    picture.save(tmp_path / "smile.png")
    picture.save(tmp_path / "smile.webp", quality=95)
    answers = {}
    for path, route in ((smile, "/infer"), (tmp_path / "smile.png", "/infer/predict"),
                        (tmp_path / "smile.webp", "/infer")):
        # The client's name and type say "video": the bytes decide.
        response = send(client, path, "clip.mp4", "video/mp4", route)
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        body = response.json()  # type: ignore[attr-defined]
        assert_prediction(body, segments=1)
        assert (body["duration_s"], body["frames_analysed"]) == (1.0, 1)
        assert [(s["start"], s["end"]) for s in body["timeline"]] == [(0.0, 1.0)]
        assert body["modalities"]["used"] == ["video"] and body["modalities"]["available"]["audio"] is False
        assert body["modalities"]["detail"]["audio"] == "a photo has no sound"
        assert body["experts"]["voice"]["used"] is False and body["experts"]["face"]["used"] is True
        answers[path.suffix] = body["scores"]
        assert list(uploads.iterdir()) == []
    assert {max(s, key=s.get) for s in answers.values()} == {"HAP"}
    np.testing.assert_allclose(list(answers[".png"].values()), list(answers[".jpg"].values()), atol=1e-5)
    np.testing.assert_allclose(list(answers[".webp"].values()), list(answers[".jpg"].values()), atol=0.03)


def test_a_phone_photo_turned_by_exif_is_read_upright(client: TestClient, smile: Path, tmp_path: Path) -> None:
    upright = send(client, smile, "a.jpg", "image/jpeg").json()  # type: ignore[attr-defined]
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned a quarter clockwise; the tag says to turn it back
    Image.open(smile).transpose(Image.Transpose.ROTATE_270).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    turned = send(client, tmp_path / "phone.jpg", "IMG_0001.JPG", "image/jpeg").json()  # type: ignore[attr-defined]
    assert turned["emotion"] == upright["emotion"] == "HAP"
    assert abs(turned["scores"]["HAP"] - upright["scores"]["HAP"]) < 0.05


def test_a_photo_bomb_is_refused_fast_with_nothing_left(make_client: Callable[..., TestClient], uploads: Path,
                                                        tmp_path: Path) -> None:
    """50,000 × 50,000 claimed in 1.5 kB: 422 ``frame_too_large`` from the header, in well under a second,
    the upload's folder removed."""
    client = make_client(tmp_dir=str(uploads))
    bomb = png_bomb(tmp_path / "bomb.png", 50_000, 50_000)
    started = time.perf_counter()
    response = send(client, bomb, "cat.png", "image/png")
    assert time.perf_counter() - started < 2.0
    body = assert_error(response, 422, "frame_too_large")
    assert "2,500,000,000 pixels" in body["detail"] and "bomb.png" not in body["detail"]
    assert list(uploads.iterdir()) == []


def test_a_photo_over_the_configured_limit_or_without_a_face_is_422(make_client: Callable[..., TestClient],
                                                                     uploads: Path, tmp_path: Path) -> None:
    client = make_client(tmp_dir=str(uploads), max_photo_pixels=300 * 200)
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(tmp_path / "wall.jpg")
    body = assert_error(send(client, tmp_path / "wall.jpg", "wall.jpg", "image/jpeg"), 422, "frame_too_large")
    assert "320×240 pixels; the limit is 60,000" in body["detail"]
    Image.fromarray(np.full((150, 200, 3), 128, np.uint8)).save(tmp_path / "small.webp")
    body = assert_error(send(client, tmp_path / "small.webp", "small.webp", "image/webp"), 422, "no_signal")
    assert "no face in the photo" in body["detail"]
    assert list(uploads.iterdir()) == []


def test_junk_named_like_a_photo_is_still_415(client: TestClient, tmp_path: Path) -> None:
    junk = tmp_path / "holiday.jpg"
    junk.write_bytes(b"These are not the pixels you are looking for.\n" * 100)
    body = assert_error(send(client, junk, "holiday.jpg", "image/jpeg"), 415, "unsupported_media_type")
    assert "JPEG, PNG, WebP" in body["detail"]
    heic = tmp_path / "IMG_0002.HEIC"  # an iPhone's own format: neither FFmpeg nor Pillow reads it here
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(4000))
    assert_error(send(client, heic, "IMG_0002.HEIC", "image/heic"), 415, "unsupported_media_type")
