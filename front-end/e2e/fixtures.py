"""Files the browser tests upload or film, written by the project's own clip writer.

    python e2e/fixtures.py OUT_DIR

- ``face.mp4``: 3 s of a smiling face (scikit-image's astronaut) with a voice-like sound;
- ``notes.mp4``: a text file with a video's name (the service must refuse it by its bytes);
- ``face.jpg``: a photo of a smiling face (scikit-image's astronaut, a real photo), for the photo upload;
- ``camera.y4m``: the same face as raw YUV 4:2:0 frames, for Chromium's fake webcam
  (``--use-file-for-fake-video-capture``), so the recording path is tested with a real face;
- ``speech-face.mp4``: the astronaut with a real RAVDESS voice, when the real data folder is there
  (``$MMER_DATA``, default ``../shared/data`` beside the repository; the corpus is never committed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from mmer import media
from mmer.synthetic import STYLES, frames, write_sample_clip

CAMERA_SIZE = (640, 480)
CAMERA_FPS = 15


def write_y4m(path: Path, images: list[np.ndarray], fps: int) -> None:
    height, width = images[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for image in images:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420).tobytes())


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_sample_clip(out / "face.mp4", emotion="HAP", seconds=3, size=(640, 480), fps=25)
    (out / "notes.mp4").write_text("These are meeting notes, not a video.\n" * 20)
    write_photo(out / "face.jpg")
    rng = np.random.default_rng(0)
    images = list(frames(STYLES["HAP"], 4, CAMERA_FPS, CAMERA_SIZE, (90, 110, 130), rng))
    write_y4m(out / "camera.y4m", images, CAMERA_FPS)
    write_speech_face(out / "speech-face.mp4")


def write_photo(path: Path) -> None:
    """A JPEG photo of a real smiling face, as a phone or a browser would upload it."""
    from skimage import data

    picture = cv2.resize(data.astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def write_speech_face(path: Path) -> None:
    """A real face with a real actor's happy voice (RAVDESS, actor 14) muxed in, 1 s into the clip."""
    root = Path(os.environ.get("MMER_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    voice_file = root / "ravdess-speech-16k" / "Actor_14" / "03-01-03-02-01-01-14.flac"
    if not voice_file.is_file():
        return
    from skimage import data

    voice = media.decode_audio(voice_file)
    seconds = len(voice) / media.AUDIO_SAMPLE_RATE + 1.0
    sound = np.zeros(int(seconds * media.AUDIO_SAMPLE_RATE), np.float32)
    sound[media.AUDIO_SAMPLE_RATE:media.AUDIO_SAMPLE_RATE + len(voice)] = voice
    picture = cv2.resize(data.astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[:, 80:560] = picture
    media.write_video(path, [canvas] * int(seconds * 25), 25, audio=sound)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
