"""The one place the service calls the model: a thin adapter over :mod:`mmer.predictor`.

The predictor owns decoding, faces and the model (the same code that prepared the training data);
this module decides whether there is room for a request, gets its upload onto disk (through
:mod:`app.upload`), runs the model off the event loop under a :class:`~mmer.budget.Budget` that a
client hanging up or the deadline ends, and turns the predictor's errors into HTTP answers.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from starlette.types import Receive

from mmer import threads as mmer_threads
from mmer.budget import Budget, Cancelled, DeadlineExceeded
from mmer.media import MediaError
from mmer.predictor import (
    AUDIO_ONLY_CONTAINERS,
    IMAGE_CONTAINERS,
    InputError,
    Limits,
    Predictor,
    load_predictor,
    sniff_media,
)
from mmer_api.errors import ApiError
from mmer_api.settings import Settings
from mmer_api.upload import ClientGone, receive_upload

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_FRAMES = 32
#: How often the watcher looks again when the server hands it something other than a disconnect.
DISCONNECT_POLL_S = 0.2
#: File suffix per sniffed container: a hint for FFmpeg's probing, derived from the bytes, not the client.
_SUFFIX = {"mp4": ".mp4", "matroska": ".mkv", "avi": ".avi", "flv": ".flv", "mpegts": ".ts", "ogg": ".ogg",
           "wav": ".wav", "mp3": ".mp3", "flac": ".flac", "jpeg": ".jpg", "png": ".png", "webp": ".webp",
           "gif": ".gif", "bmp": ".bmp", "tiff": ".tiff"}
ACCEPTED = "MP4/MOV/3GP, WebM/MKV, AVI, FLV, MPEG-TS or Ogg video, or WAV, MP3, FLAC, M4A, Ogg/Opus or WebM audio"
#: The photos the default model reads (its face expert); HEIC is not among them.
PHOTOS = "a JPEG, PNG, WebP, BMP, GIF or TIFF photo"


class InferenceService:
    """Holds the predictor (loaded once) and the bounded queue in front of it.

    A request holds one of ``concurrency + queue_size`` slots from before its body is read (see
    :class:`app.middleware.UploadGateMiddleware`) until its answer; at most ``concurrency`` predictions
    run at once (each one saturates the CPU or GPU) and the others wait; a request finding every slot
    taken is refused at once with 503 rather than piling up until clients time out. With several server
    workers each has its own slots.
    """

    def __init__(self, settings: Settings, predictor: Predictor | None = None) -> None:
        self.settings = settings
        self.limits = Limits(
            max_duration_s=settings.max_duration_s,
            min_duration_s=settings.min_duration_s,
            max_pixels=settings.max_pixels,
            max_photo_pixels=settings.max_photo_pixels,
            max_sample_frames=settings.max_sample_frames,
            max_frames=settings.max_frames,
        )
        self.tmp_root = Path(settings.tmp_dir) if settings.tmp_dir else None
        if self.tmp_root is not None and not self.tmp_root.is_dir():
            raise ValueError(f"MMER_TMP_DIR={self.tmp_root} is not a directory")
        if predictor is None:
            # Each prediction gets its share of the cores, so workers × concurrency × every library's
            # own pool does not oversubscribe them.
            mmer_threads.configure(settings.threads or mmer_threads.share(settings.workers, settings.concurrency))
            started = time.perf_counter()
            predictor = load_predictor(settings.model, device=settings.device, limits=self.limits)
            log.info("model loaded in %.1f s: %s", time.perf_counter() - started, predictor.info())
        self.predictor = predictor
        self._capacity = settings.concurrency + settings.queue_size
        self._admitted = 0
        # Created on first use: an anyio limiter needs a running event loop. ``_running`` is the queue;
        # ``_threads`` only keeps the model's threads off anyio's shared pool (it never makes anyone wait).
        self._running: anyio.CapacityLimiter | None = None
        self._threads: anyio.CapacityLimiter | None = None

    def info(self) -> dict[str, Any]:
        return self.predictor.info()

    @property
    def admitted(self) -> int:
        """Requests uploading, waiting or running right now."""
        return self._admitted

    def try_admit(self) -> bool:
        """Take a slot if one is free. Called on the event loop thread only, so check-and-take cannot race;
        whoever gets True must call :meth:`release` once, whatever happens to the request."""
        if self._admitted >= self._capacity:
            return False
        self._admitted += 1
        return True

    def release(self) -> None:
        self._admitted -= 1

    def busy(self) -> ApiError:
        wait = self.settings.retry_after_s
        return ApiError(503, "busy", f"The service is busy with other videos; try again in {wait} s.",
                        headers={"Retry-After": str(wait)})

    async def predict_upload(self, receive: Receive, content_type: str | None,
                             sample_frames: int = DEFAULT_SAMPLE_FRAMES) -> dict[str, Any]:
        """Receive, check and score the video, audio file or photo in a multipart request body (read from
        ``receive``); the answer is ``Prediction.to_dict()``. The caller holds an admission slot."""
        workdir = Path(tempfile.mkdtemp(prefix="mmer-upload-", dir=self.tmp_root))
        started = time.perf_counter()
        try:
            saved = await receive_upload(receive, content_type, workdir, limit=self.settings.max_upload_bytes,
                                         identify=self._identify)
            received = time.perf_counter()
            result = await self._predict(saved.path, sample_frames, receive)
            log.info("scored %d bytes (%s, %.1f s) received in %.0f ms: %s %.2f in %.0f ms", saved.size,
                     saved.container, result.get("duration_s", 0.0), (received - started) * 1000,
                     result.get("emotion"), result.get("confidence", 0.0), (time.perf_counter() - received) * 1000)
            return result
        except ClientGone:
            log.info("the client went away after %.1f s; its request was dropped", time.perf_counter() - started)
            # Nobody reads this answer; it only gives the access log a status (nginx's "client closed request").
            raise ApiError(499, "client_gone", "The client closed the connection.") from None
        except ApiError as exc:
            exc.detail = _without(exc.detail, workdir)
            raise
        finally:
            # Also runs when the request fails half-way or is cancelled: nothing, not half a file, stays behind.
            shutil.rmtree(workdir, ignore_errors=True)

    def _identify(self, head: bytes) -> tuple[str, str]:
        """``(container, suffix)`` of an upload from its first bytes, or 415 before the rest is received."""
        container = sniff_media(head)
        photos = bool(getattr(self.predictor, "reads_photos", False))
        if container is None:
            accepted = f"{ACCEPTED}, or {PHOTOS}" if photos else ACCEPTED
            raise ApiError(415, "unsupported_media_type",
                           f"The upload is not a video, audio file or photo this service can read; send {accepted}.")
        if container in AUDIO_ONLY_CONTAINERS and "audio" not in self.predictor.modalities:
            raise ApiError(415, "unsupported_media_type", "The upload is an audio-only file and this model reads "
                           "faces only; send a video.")
        if container in IMAGE_CONTAINERS and not photos:
            raise ApiError(415, "unsupported_media_type", f"The upload is a {container.upper()} photo and this model "
                           "reads video and sound only; send a video (the default model reads photos).")
        return container, _SUFFIX.get(container, "")

    async def _predict(self, path: Path, sample_frames: int, receive: Receive) -> dict[str, Any]:
        """Run the model in a worker thread while watching for the client to leave.

        A thread cannot be interrupted, so leaving (or the deadline) cancels the prediction's budget and
        the model stops at its next check; this waits for the thread to unwind before returning, so the
        slot is only freed once the CPU is. A request still queued when its client leaves just stops waiting.
        """
        budget = Budget(deadline_s=self.settings.deadline_s)
        gone = anyio.Event()
        outcome: dict[str, Any] = {}

        async def watch(scope: anyio.CancelScope) -> None:
            try:
                while (await receive())["type"] != "http.disconnect":
                    await anyio.sleep(DISCONNECT_POLL_S)
                gone.set()
                scope.cancel()
            finally:
                budget.cancel()  # also when the prediction is over (harmless) or the request is cancelled

        async with anyio.create_task_group() as group:
            group.start_soon(watch, group.cancel_scope)
            try:
                outcome["result"] = await self._run(partial(self._predict_sync, path, sample_frames, budget))
            except Exception as exc:  # kept, not raised: a task group would wrap it in an ExceptionGroup
                outcome["error"] = exc
            finally:
                group.cancel_scope.cancel()
        if "result" in outcome and not gone.is_set():
            return outcome["result"]
        error = outcome.get("error")
        if gone.is_set() or (isinstance(error, Cancelled) and not isinstance(error, DeadlineExceeded)):
            raise ClientGone()
        assert error is not None
        raise self._answer_for(error, path)

    async def _run(self, work: partial[dict[str, Any]]) -> dict[str, Any]:
        """``work()`` in a worker thread once one of the ``concurrency`` places is free; waiting for it
        counts towards the deadline."""
        if self._running is None or self._threads is None:
            self._running = anyio.CapacityLimiter(self.settings.concurrency)
            self._threads = anyio.CapacityLimiter(self.settings.concurrency)
        with anyio.move_on_after(self.settings.deadline_s) as waiting:
            await self._running.acquire()
        if waiting.cancelled_caught:
            raise DeadlineExceeded(self.settings.deadline_s)
        try:
            return await anyio.to_thread.run_sync(work, limiter=self._threads)
        finally:
            self._running.release()

    def _answer_for(self, exc: Exception, path: Path) -> ApiError:
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, DeadlineExceeded):
            return ApiError(504, "timeout", f"The analysis took longer than the {exc.seconds:g} s allowed and was "
                            "stopped; send a shorter clip or ask for fewer sample_frames.")
        if isinstance(exc, InputError):
            return ApiError(415 if exc.code == "not_video" else 422, exc.code, str(exc))
        if isinstance(exc, MediaError):
            return ApiError(422, "undecodable", f"The video could not be decoded: {exc}")
        log.error("prediction failed on %s", path.name, exc_info=exc)
        return ApiError(500, "internal", "internal error")

    def _predict_sync(self, path: Path, sample_frames: int, budget: Budget) -> dict[str, Any]:
        budget.check()  # the deadline may have passed in the queue
        return self.predictor.predict(path, sample_frames=sample_frames, budget=budget).to_dict()


def _without(detail: str, workdir: Path) -> str:
    """A message with the request's folder taken out: an answer never shows a server path."""
    return detail.replace(f"{workdir}{os.sep}", "").replace(str(workdir), "the upload")
