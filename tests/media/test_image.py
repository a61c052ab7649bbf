"""Photos read by :mod:`mmer.media.image`: told by their bytes, refused by their header when too large
(decompression bombs), turned upright by EXIF, converted to RGB whatever their pixel format."""

from __future__ import annotations

import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from mmer import media
from mmer.media.image import IMAGE_FORMATS, ORIENTATION, sniff_image

MB = 1024 * 1024


def astronaut(width: int = 160, height: int = 120) -> np.ndarray:
    """scikit-image's astronaut, a real photo, resized (not square: turns and flips show)."""
    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BOX))


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` × ``height`` RGB pixels, with a few rows of compressed zeros:
    a few kB on disk, ``width · height · 3`` bytes if decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    rows = b"".join(packer.compress(b"\x00" * (1 + 3 * width)) for _ in range(16)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


# --- telling a photo by its bytes ------------------------------------------------------------------------------


@pytest.mark.parametrize("head, kind", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
    (b"\xff\xd8\xff\xe1\x00\x10Exif\x00", "jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "png"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
    (b"GIF89a\x01\x00\x01\x00", "gif"),
    (b"GIF87a\x01\x00\x01\x00", "gif"),
    (b"II*\x00\x08\x00\x00\x00", "tiff"),
    (b"MM\x00*\x00\x00\x00\x08", "tiff"),
    (b"BM" + b"\x00" * 12 + (40).to_bytes(4, "little"), "bmp"),
    (b"BM" + b"\x00" * 12 + (7).to_bytes(4, "little"), None),  # "BM" and no BMP info header: text, say
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
    (b"\x00\x00\x00\x20ftypheic\x00\x00\x00\x00", None),  # HEIC: Pillow cannot read it
    (b"\xff\xfb\x90\x64", None),  # an MP3 frame
    (b"hello", None),
    (b"", None),
])
def test_photos_are_told_by_their_signature(head: bytes, kind: str | None) -> None:
    assert sniff_image(head) == kind


@pytest.mark.parametrize("kind", sorted(IMAGE_FORMATS))
def test_every_format_is_read_upright_as_rgb(tmp_path: Path, kind: str) -> None:
    picture = astronaut()
    path = tmp_path / "photo.bin"  # the name says nothing: the bytes do
    Image.fromarray(picture).save(path, format=IMAGE_FORMATS[kind], **({"quality": 95} if kind in ("jpeg", "webp")
                                                                        else {}))
    assert media.image_format(path) == kind
    photo = media.read_image(path, max_pixels=10**6)
    assert (photo.format, photo.width, photo.height, photo.orientation) == (kind, 160, 120, 1)
    assert photo.image.shape == (120, 160, 3) and photo.image.dtype == np.uint8
    error = np.abs(photo.image.astype(int) - picture).mean()
    # JPEG and WebP are lossy, GIF has 256 colours, the others are exact.
    assert error < {"jpeg": 3, "webp": 3, "gif": 8}.get(kind, 1e-9), error


def test_an_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((40, 60, 3), v, np.uint8)) for v in (30, 200, 120)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    photo = media.read_image(tmp_path / "anim.gif", max_pixels=10**6)
    assert abs(float(photo.image.mean()) - 30) < 2


def test_transparency_lies_on_white_and_sixteen_bit_grey_is_scaled(tmp_path: Path) -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (255, 0, 0, 255)  # opaque red left half, transparent right half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    image = media.read_image(tmp_path / "logo.png", max_pixels=10**6).image
    assert image[0, 0].tolist() == [255, 0, 0] and image[0, -1].tolist() == [255, 255, 255]
    grey = np.full((20, 30), 40000, np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    image = media.read_image(tmp_path / "grey16.png", max_pixels=10**6).image
    assert image.shape == (20, 30, 3) and int(image[0, 0, 0]) == 40000 >> 8


def test_what_cannot_be_read_says_so(tmp_path: Path) -> None:
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(astronaut()).save(jpeg, quality=90)
    (tmp_path / "cut.jpg").write_bytes(jpeg.read_bytes()[:600])
    (tmp_path / "notes.txt").write_text("not a picture\n")
    Image.fromarray(np.zeros((8, 8), np.float32)).save(tmp_path / "float.tiff")
    for name, match in (("cut.jpg", "not a readable JPEG"), ("notes.txt", "not a photo"),
                        ("float.tiff", "F pixels are not supported")):
        with pytest.raises(media.MediaError, match=match) as caught:
            media.read_image(tmp_path / name, max_pixels=10**6)
        assert not isinstance(caught.value, media.LimitExceeded)


# --- limits: refused from the header, before memory grows -------------------------------------------------------


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    """50,000 × 50,000 claimed (7.5 GB of RGB) in a few kB: refused in milliseconds, memory flat."""
    bomb = png_bomb(tmp_path / "bomb.png", 50_000, 50_000)
    assert bomb.stat().st_size < 50_000
    before = peak_rss_mb()
    started = time.perf_counter()
    with pytest.raises(media.LimitExceeded, match="2,500,000,000 pixels") as caught:
        media.read_image(bomb, max_pixels=8192 * 8192)
    assert caught.value.code == "frame_too_large"
    assert time.perf_counter() - started < 1.0
    assert peak_rss_mb() - before < 50


def test_a_photo_over_the_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    """Below Pillow's own guard, our limit speaks: the size and the limit, before anything is decoded."""
    bomb = png_bomb(tmp_path / "big.png", 9_000, 8_000)
    before = peak_rss_mb()
    with pytest.raises(media.LimitExceeded, match="9000×8000 pixels; the limit is 67,108,864") as caught:
        media.read_image(bomb, max_pixels=8192 * 8192)
    assert caught.value.code == "frame_too_large"
    assert peak_rss_mb() - before < 50
    gif = tmp_path / "screen.gif"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(gif)
    gif.write_bytes(gif.read_bytes()[:6] + struct.pack("<HH", 60_000, 60_000) + gif.read_bytes()[10:])
    with pytest.raises(media.LimitExceeded, match="3,600,000,000 pixels"):  # past Pillow's guard
        media.read_image(gif, max_pixels=8192 * 8192)


def test_a_large_photo_is_shrunk_to_fit(tmp_path: Path) -> None:
    """A 24 MP JPEG read for at most 1 MP: decoded at a reduced scale, then shrunk; its size as shot is kept."""
    big = np.asarray(Image.fromarray(data.astronaut()).resize((6000, 4000)))
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=85)
    Image.fromarray(big).save(tmp_path / "big.png", compress_level=1)
    for name in ("big.jpg", "big.png"):
        photo = media.read_image(tmp_path / name, max_pixels=8192 * 8192, fit_pixels=1_000_000)
        h, w = photo.image.shape[:2]
        assert (photo.width, photo.height) == (6000, 4000) and w * h <= 1_000_000 and w > 1200
        assert abs(w / h - 1.5) < 0.01 and photo.scale == pytest.approx(w / 6000)
        small = np.asarray(Image.fromarray(big).resize((w, h), Image.Resampling.BOX))
        assert np.abs(photo.image.astype(int) - small).mean() < 4


# --- EXIF orientation ---------------------------------------------------------------------------------------------

#: How a camera stores an upright picture for each EXIF orientation (the tag says how to undo it).
STORED = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_orientation_is_honoured(tmp_path: Path, orientation: int) -> None:
    upright = astronaut()
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = tmp_path / "phone.png"  # lossless, so the turned picture must equal the upright one exactly
    STORED[orientation](Image.fromarray(upright)).save(path, exif=exif)
    photo = media.read_image(path, max_pixels=10**6)
    assert photo.orientation == orientation
    assert (photo.width, photo.height) == (160, 120)
    np.testing.assert_array_equal(photo.image, upright)
