"""The one place the service calls the model: a thin adapter over :mod:`mmer.pipeline`.

The pipeline owns decoding, faces and the model (the same code that prepared the training data);
this module only gets an upload safely onto disk, decides whether there is room to run it, runs it
off the event loop and turns the pipeline's errors into HTTP answers.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread
from fastapi import UploadFile

from app.errors import ApiError
from app.settings import MIB, Settings
from mmer import pipeline
from mmer.media import MediaError

log = logging.getLogger(__name__)

#: Uploads are copied in pieces of this size, so memory stays flat whatever the file.
CHUNK = 1024 * 1024
#: Bytes handed to the sniffer: enough for every container's signature (MPEG-TS needs a few packets).
SNIFF_BYTES = 8192
DEFAULT_SAMPLE_FRAMES = 32
#: File suffix per sniffed container: a hint for FFmpeg's probing, derived from the bytes, not the client.
_SUFFIX = {"mp4": ".mp4", "matroska": ".mkv", "avi": ".avi", "flv": ".flv", "mpegts": ".ts", "ogg": ".ogg",
           "wav": ".wav", "mp3": ".mp3", "flac": ".flac"}
ACCEPTED = "MP4/MOV/3GP, WebM/MKV, AVI, FLV, MPEG-TS or Ogg video, or WAV, MP3, FLAC, M4A, Ogg/Opus or WebM audio"


def _mb(n: float) -> str:
    return f"{n / MIB:g} MB"


class InferenceService:
    """Holds the predictor (loaded once) and the bounded queue in front of it.

    At most ``concurrency`` predictions run at once (each one saturates the CPU or GPU); up to
    ``queue_size`` more wait for a slot; anything beyond is refused at once with 503 rather than
    piling up until clients time out. With several server workers each has its own queue.
    """

    def __init__(self, settings: Settings, predictor: pipeline.Predictor | None = None) -> None:
        self.settings = settings
        self.limits = pipeline.Limits(
            max_duration_s=settings.max_duration_s,
            min_duration_s=settings.min_duration_s,
            max_pixels=settings.max_pixels,
            max_sample_frames=settings.max_sample_frames,
        )
        self.tmp_root = Path(settings.tmp_dir) if settings.tmp_dir else None
        if self.tmp_root is not None and not self.tmp_root.is_dir():
            raise ValueError(f"MMER_TMP_DIR={self.tmp_root} is not a directory")
        if predictor is None:
            started = time.perf_counter()
            predictor = pipeline.load_predictor(settings.model, device=settings.device, limits=self.limits)
            log.info("model loaded in %.1f s: %s", time.perf_counter() - started, predictor.info())
        self.predictor = predictor
        self._capacity = settings.concurrency + settings.queue_size
        self._admitted = 0
        # Created on first use: an anyio limiter needs a running event loop.
        self._limiter: anyio.CapacityLimiter | None = None

    def info(self) -> dict[str, Any]:
        return self.predictor.info()

    @property
    def admitted(self) -> int:
        """Requests running or waiting right now."""
        return self._admitted

    @contextlib.contextmanager
    def _admission(self) -> Iterator[None]:
        # Runs on the event loop thread only, so check-and-increment cannot race.
        if self._admitted >= self._capacity:
            wait = self.settings.retry_after_s
            raise ApiError(503, "busy", f"The service is busy with other videos; try again in {wait} s.",
                           headers={"Retry-After": str(wait)})
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def predict_upload(self, upload: UploadFile, sample_frames: int = DEFAULT_SAMPLE_FRAMES) -> dict[str, Any]:
        """Save, check and score one uploaded video or audio file; the answer is ``Prediction.to_dict()``."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.settings.concurrency)
        limit = self.settings.max_upload_bytes
        if upload.size is not None and upload.size > limit:
            raise self._too_large()
        with self._admission():
            workdir = Path(tempfile.mkdtemp(prefix="mmer-upload-", dir=self.tmp_root))
            try:
                started = time.perf_counter()
                path, size, container = await anyio.to_thread.run_sync(self._save, upload.file, workdir, limit)
                result = await self._predict(path, sample_frames)
                log.info("scored %d bytes (%s, %.1f s): %s %.2f in %.0f ms", size, container,
                         result.get("duration_s", 0.0), result.get("emotion"), result.get("confidence", 0.0),
                         (time.perf_counter() - started) * 1000)
                return result
            finally:
                # Also runs when the client went away or the request was cancelled: nothing stays behind.
                shutil.rmtree(workdir, ignore_errors=True)

    def _too_large(self) -> ApiError:
        return ApiError(413, "too_large", f"The file is larger than the {_mb(self.settings.max_upload_bytes)} limit.")

    def _save(self, src: IO[bytes], workdir: Path, limit: int) -> tuple[Path, int, str]:
        """Copy the upload into ``workdir`` (in a worker thread); refuse it as soon as it is empty,
        not a media container by its bytes, or over the size limit."""
        src.seek(0)
        first = src.read(CHUNK)
        if not first:
            raise ApiError(400, "empty", "The uploaded file is empty.")
        container = pipeline.sniff_media(first[:SNIFF_BYTES])
        if container is None:
            raise ApiError(415, "unsupported_media_type",
                           f"The upload is not a video or audio file this service can read; send {ACCEPTED}.")
        if container in pipeline.AUDIO_ONLY_CONTAINERS and "audio" not in self.predictor.modalities:
            raise ApiError(415, "unsupported_media_type", "The upload is an audio-only file and this model reads "
                           "faces only; send a video.")
        path = workdir / f"upload{_SUFFIX.get(container, '')}"
        size = 0
        with open(path, "wb") as out:
            chunk = first
            while chunk:
                size += len(chunk)
                if size > limit:
                    raise self._too_large()
                out.write(chunk)
                chunk = src.read(CHUNK)
        return path, size, container

    async def _predict(self, path: Path, sample_frames: int) -> dict[str, Any]:
        run = partial(self._predict_sync, path, sample_frames)
        try:
            return await anyio.to_thread.run_sync(run, limiter=self._limiter)
        except pipeline.InputError as exc:
            status = 415 if exc.code == "not_video" else 422
            raise ApiError(status, exc.code, str(exc)) from exc
        except MediaError as exc:
            raise ApiError(422, "undecodable", f"The video could not be decoded: {exc}") from exc
        except ApiError:
            raise
        except Exception as exc:
            log.exception("prediction failed on %s", path.name)
            raise ApiError(500, "internal", "internal error") from exc

    def _predict_sync(self, path: Path, sample_frames: int) -> dict[str, Any]:
        return self.predictor.predict(path, sample_frames=sample_frames).to_dict()
