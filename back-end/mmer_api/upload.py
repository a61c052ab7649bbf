"""Receive a multipart upload straight onto disk: its ``file`` part is written once, as it arrives.

Starlette's form parser spools a file part to a temporary file that the service would then copy again;
this parser streams the request body through :mod:`python_multipart` and writes the ``file`` part to
its final place, deciding as early as the bytes allow: the container from the first bytes (415 before
the rest is received), the size limit byte by byte (413), an empty file at its end (400).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.types import Receive

from mmer_api.errors import ApiError
from mmer_api.settings import MIB

log = logging.getLogger(__name__)

#: The multipart field that carries the video.
FIELD = "file"
#: Bytes handed to the sniffer: enough for every container's signature (MPEG-TS needs a few packets).
SNIFF_BYTES = 8192
#: File bytes gathered before one write (each write is a trip to a worker thread): memory stays flat.
WRITE_BYTES = 1024 * 1024
SEND_AS = f"Send the video as multipart/form-data with the file in a field named `{FIELD}`."


class ClientGone(Exception):
    """The client closed the connection: there is nobody left to answer."""


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    size: int
    container: str


def invalid(detail: str) -> ApiError:
    return ApiError(422, "invalid_request", detail)


def too_large(limit: int, headers: dict[str, str] | None = None) -> ApiError:
    # 4 digits: a limit of 0.05 MiB is int(52428.8) bytes, which reads better as "0.05" than "0.0499992".
    return ApiError(413, "too_large", f"The file is larger than the {limit / MIB:.4g} MB limit.", headers=headers)


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives; :class:`ClientGone` if the client hangs up before its end."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        if message["type"] != "http.request":
            continue
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a request's Content-Type, or 422 saying what to send instead."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise invalid(f"{SEND_AS} This request is not multipart/form-data.")
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > 70:  # RFC 2046: 1 to 70 characters
        raise invalid(f"{SEND_AS} The request's Content-Type has no usable multipart boundary.")
    return boundary


class _Parts:
    """python_multipart's callbacks: keeps the bytes of the ``file`` part, skips every other part.

    The callbacks only record; the receiving loop acts on what they recorded after each chunk, so that
    an error is raised from one place and never from inside the parser.
    """

    def __init__(self) -> None:
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        #: File bytes parsed but not yet taken by the loop.
        self.data = bytearray()
        self.file_started = False
        self.file_ended = False
        self.error: ApiError | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end}

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._field).strip().lower()] = bytes(self._value).strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != FIELD.encode() or self.error is not None:
            return
        if self.file_started:
            self.error = invalid(f"The request holds more than one `{FIELD}` part; send one file.")
        elif b"filename" not in options:
            # A text field (curl -F 'file=<clip.mp4', a form's text input): say so rather than guess.
            self.error = invalid(f"The `{FIELD}` field is text, not a file: attach the video as a file "
                                 "(with a filename), e.g. curl -F 'file=@clip.mp4'.")
        else:
            self.file_started = self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.data += data[start:end]

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self.file_ended = True


class _Spool:
    """The file part on its way to disk: held in memory until its container is known, then written
    to ``workdir/upload<suffix>`` in pieces by a worker thread."""

    def __init__(self, workdir: Path, limit: int, identify: Callable[[bytes], tuple[str, str]]) -> None:
        self.workdir = workdir
        self.limit = limit
        self.identify = identify
        self.size = 0
        self.container: str | None = None
        self.path: Path | None = None
        #: The whole part has been counted, identified and written.
        self.done = False
        self._pending = bytearray()
        self._out: IO[bytes] | None = None

    async def take(self, data: bytearray, *, ended: bool) -> None:
        """Count, sniff and (in pieces) write the bytes just parsed; ``ended``: the part is complete."""
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(self.limit)
        self._pending += data
        data.clear()
        if self._out is None:
            if len(self._pending) < SNIFF_BYTES and not ended:
                return
            if not self._pending:
                raise ApiError(400, "empty", "The uploaded file is empty.")
            # In a worker thread: for the less common containers the sniffer runs FFmpeg's probe on the bytes.
            head = bytes(self._pending[:SNIFF_BYTES])
            self.container, suffix = await anyio.to_thread.run_sync(self.identify, head)
            self.path = self.workdir / f"upload{suffix}"
            self._out = await anyio.to_thread.run_sync(self.path.open, "wb")
        if len(self._pending) >= WRITE_BYTES or ended:
            await self._flush()
        self.done = ended

    async def _flush(self) -> None:
        assert self._out is not None
        piece = bytes(self._pending)
        self._pending.clear()
        await anyio.to_thread.run_sync(self._out.write, piece)

    async def close(self) -> None:
        if self._out is not None:
            # Shielded: a request being cancelled must still let go of its file.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._out.close)


async def _feed(parser: MultipartParser, parts: _Parts, spool: _Spool, chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except FormParserError:
        raise invalid(f"The request body is not valid multipart/form-data. {SEND_AS}") from None
    if parts.error is not None:
        raise parts.error
    if parts.data or (parts.file_ended and not spool.done):
        await spool.take(parts.data, ended=parts.file_ended)


async def receive_upload(receive: Receive, content_type: str | None, workdir: Path, *, limit: int,
                         identify: Callable[[bytes], tuple[str, str]]) -> SavedUpload:
    """Stream the request body into ``workdir`` and return where the ``file`` part went.

    ``identify(head)`` gets the file's first bytes and returns ``(container, suffix)`` or raises (415);
    the caller owns ``workdir`` and removes it, whatever this raises.
    """
    parts = _Parts()
    parser = MultipartParser(boundary_of(content_type), parts.callbacks())  # type: ignore[arg-type]
    spool = _Spool(workdir, limit, identify)
    try:
        async with aclosing(body_chunks(receive)) as chunks:
            async for chunk in chunks:
                await _feed(parser, parts, spool, chunk)
        if parser.state != MultipartState.END:
            raise invalid(f"The request body ended before the multipart closing boundary. {SEND_AS}")
    finally:
        await spool.close()
    if not parts.file_started:
        raise invalid(f"The request has no `{FIELD}` part. {SEND_AS}")
    assert spool.path is not None and spool.container is not None
    return SavedUpload(spool.path, spool.size, spool.container)
