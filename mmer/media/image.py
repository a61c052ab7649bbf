"""Photos (JPEG, PNG, WebP, BMP, GIF, TIFF): told apart from video by their first bytes, decoded by
Pillow only after their header's size has passed the pixel limit, and turned upright by their EXIF
orientation, as a phone or a browser shows them.

A photo's header says how many pixels it decodes to, and a few kilobytes of compressed zeros can
claim 50,000 × 50,000 (7.5 GB of RGB): a decompression bomb. :func:`read_image` therefore opens
the file (Pillow reads the header only), checks width × height against ``max_pixels`` and refuses
with :class:`~mmer.media.LimitExceeded` before a single pixel is decoded; Pillow's own bomb guard
(:data:`PIL.Image.MAX_IMAGE_PIXELS`) stays on behind it. Only the plugin of the format the bytes
announce may open the file, so a file that claims to be a JPEG is never handed to, say, the EPS
plugin (which would run Ghostscript).

Video and sound stay with PyAV (:mod:`mmer.media.decode`); this module is the one place photos
are read.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmer.media.decode import LimitExceeded, MediaError, PathLike

log = logging.getLogger(__name__)

#: What :func:`sniff_image` calls each format, with the Pillow plugin allowed to open it.
IMAGE_FORMATS: dict[str, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF", "bmp": "BMP",
                                 "tiff": "TIFF"}
IMAGE_CONTAINERS = frozenset(IMAGE_FORMATS)
#: Bytes :func:`sniff_image` needs to tell every format (a BMP's info-header size sits at 14..18).
SNIFF_BYTES = 32
#: The sizes of the BMP info headers Pillow reads (OS/2 1.x, Windows 3.x, the v2 to v5 extensions).
_BMP_HEADERS = (12, 40, 52, 56, 64, 108, 124)
#: Pillow modes read as they are (converted to RGB); alpha is laid on white, 16-bit grey is scaled.
_MODES = {"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LA", "La", "PA", "RGBA", "RGBa"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
#: The EXIF tag saying how the stored picture is turned (1 upright, 6 a phone held upright, …).
ORIENTATION = 0x0112


def sniff_image(head: bytes) -> str | None:
    """The photo format a file's first bytes announce (a key of :data:`IMAGE_FORMATS`), or None.

    Signatures only, never the name or the client's content type. HEIC/HEIF (an ISO-BMFF ``ftyp``
    box, as iPhones write by default) is not one of them: Pillow cannot read it.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if len(head) >= 18 and head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in _BMP_HEADERS:
        return "bmp"
    return None


def image_format(path: PathLike) -> str | None:
    """:func:`sniff_image` of the file at ``path`` (None for a file too short or not a photo)."""
    with open(path, "rb") as file:
        return sniff_image(file.read(SNIFF_BYTES))


@dataclass(frozen=True)
class Photo:
    """A decoded photo: ``image`` is (H, W, 3) uint8 RGB, upright, at most ``fit_pixels`` pixels."""

    image: np.ndarray
    #: The format its bytes announced (a key of :data:`IMAGE_FORMATS`).
    format: str
    #: Its size as displayed (EXIF orientation applied), before any downscaling.
    width: int
    height: int
    #: The EXIF orientation tag that was applied (1: stored upright, or no tag).
    orientation: int = 1

    @property
    def scale(self) -> float:
        """How much ``image`` was shrunk from the photo's size (1.0: not at all)."""
        return self.image.shape[1] / self.width


def read_image(path: PathLike, *, max_pixels: int, fit_pixels: int | None = None) -> Photo:
    """The photo at ``path``, upright, as RGB; its first frame for GIF, animated WebP or multi-page TIFF.

    Refused before decoding (:class:`LimitExceeded`, ``frame_too_large``) when its header claims
    more than ``max_pixels``; :class:`MediaError` for a file that is not a photo of a known format
    or is damaged. With ``fit_pixels`` the picture is shrunk (area averaging) to at most that many
    pixels; a JPEG is then decoded at a reduced DCT scale to start with, which costs a fraction of
    the memory and time of the full picture.
    """
    from PIL import Image, ImageOps

    name = Path(path).name
    kind = image_format(path)
    if kind is None:
        raise MediaError(f"{name}: not a photo in a format read here ({', '.join(IMAGE_FORMATS)})")
    try:
        with Image.open(path, formats=[IMAGE_FORMATS[kind]]) as im:  # reads the header only
            width, height = im.size
            if width < 1 or height < 1:
                raise MediaError(f"{name}: the picture is {width}×{height}")
            if width * height > max_pixels:
                raise _too_large(name, width, height, max_pixels)
            if fit_pixels is not None and kind == "jpeg" and width * height > fit_pixels:
                # Decode at 1/2, 1/4 or 1/8 scale: the largest that still leaves ``fit_pixels``.
                shrink = math.sqrt(width * height / fit_pixels)
                im.draft(None, (math.ceil(width / shrink), math.ceil(height / shrink)))
            im.load()
            orientation = im.getexif().get(ORIENTATION, 1)
            ImageOps.exif_transpose(im, in_place=True)  # no copy of the picture
            image = _rgb(im, name)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fires at the header too, for sizes past twice its MAX_IMAGE_PIXELS.
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(claimed[1]):,} pixels" if claimed else "more pixels than Pillow allows"
        raise LimitExceeded("frame_too_large", f"{name}: is {size}; the limit is {max_pixels:,} pixels per "
                            "photo") from exc
    except (OSError, ValueError, SyntaxError, EOFError, Image.UnidentifiedImageError) as exc:
        # Truncated data, a corrupt chunk, a header Pillow rejects: all "cannot be decoded".
        raise MediaError(f"{name}: not a readable {kind.upper()} picture ({exc})") from exc
    orientation = orientation if orientation in range(1, 9) else 1
    if orientation in (5, 6, 7, 8):  # turned a quarter: the size as displayed is the other way round
        width, height = height, width
    if fit_pixels is not None and image.shape[0] * image.shape[1] > fit_pixels:
        image = _fit(image, fit_pixels)
    log.debug("%s: %s %d×%d (orientation %d) read as %d×%d", name, kind, width, height, orientation,
              image.shape[1], image.shape[0])
    return Photo(image=image, format=kind, width=width, height=height, orientation=orientation)


def _too_large(name: str, width: int, height: int, limit: int) -> LimitExceeded:
    return LimitExceeded("frame_too_large", f"{name}: is {width}×{height} pixels; the limit is {limit:,} pixels per "
                         "photo")


def _rgb(im: object, name: str) -> np.ndarray:
    """A decoded Pillow image as (H, W, 3) uint8 RGB: transparency laid on white (as a page shows a
    logo), 16-bit grey scaled to 8 bits; floating-point or other exotic modes are refused."""
    from PIL import Image

    assert isinstance(im, Image.Image)
    if im.mode in _SIXTEEN_BIT:
        grey = np.asarray(im, dtype=np.uint32)
        grey8 = (grey >> 8 if grey.max(initial=0) > 255 else grey).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey8[..., None], 3, axis=2))
    if im.mode not in _MODES:
        raise MediaError(f"{name}: pictures with {im.mode} pixels are not supported; save it as an 8-bit "
                         "JPEG or PNG")
    if im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        page = Image.new("RGB", rgba.size, (255, 255, 255))
        page.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(page, dtype=np.uint8).copy()
    return np.asarray(im.convert("RGB") if im.mode != "RGB" else im, dtype=np.uint8).copy()


def _fit(image: np.ndarray, pixels: int) -> np.ndarray:
    """``image`` shrunk, aspect kept, to at most ``pixels`` pixels (area averaging: no aliasing)."""
    import cv2

    height, width = image.shape[:2]
    shrink = math.sqrt(width * height / pixels)
    size = (max(1, math.floor(width / shrink)), max(1, math.floor(height / shrink)))
    while size[0] * size[1] > pixels:  # floating-point rounding
        size = (max(1, size[0] - 1), max(1, size[1] - 1))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
