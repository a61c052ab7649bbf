"""Tools for talking to a real server the way a hostile client would: uvicorn serving the app in this
process (so a test can look at its slots), raw sockets that send only what a test says, and a stand-in
model that takes as long as a test wants and stops when its budget says so."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from mmer.budget import Budget, Cancelled, DeadlineExceeded
from mmer.labels import CLASSES
from mmer.predictor import Prediction

BOUNDARY = "mmerboundary"


def multipart(content: bytes, *, name: str = "file", filename: str | None = "clip.mp4") -> bytes:
    """A whole multipart/form-data body with one part (a file part unless ``filename`` is None)."""
    return part_head(name=name, filename=filename) + content + closing()


def part_head(*, name: str = "file", filename: str | None = "clip.mp4") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    kind = "Content-Type: video/mp4\r\n" if filename is not None else ""
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{kind}\r\n".encode()


def closing() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def request_head(path: str, length: int | None, *, headers: dict[str, str] | None = None,
                 content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> bytes:
    """The request line and headers of a POST; ``length=None`` announces a chunked body."""
    lines = [f"POST {path} HTTP/1.1", "Host: test", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: Whether the server closed the connection after answering.
    closed: bool
    #: Seconds from the call until the whole answer was read.
    seconds: float

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def read_answer(sock: socket.socket, timeout: float = 10.0) -> Answer:
    """One HTTP response from ``sock`` (Content-Length framed), then a short look at whether it was closed."""
    started = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    seconds = time.monotonic() - started
    sock.settimeout(0.5)
    try:
        closed = sock.recv(1) == b""
    except TimeoutError:
        closed = False
    except ConnectionResetError:
        closed = True
    return Answer(int(status_line.split()[1]), headers, body, closed, seconds)


@dataclass
class Live:
    """A running server: its base URL, address and app (whose ``state.service`` holds the slots)."""

    base: str
    host: str
    port: int
    app: FastAPI

    @property
    def service(self) -> Any:
        return self.app.state.service

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=10)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> float:
        """Seconds until ``condition()`` held; fails the test after ``timeout``."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"still not true after {timeout} s")
            time.sleep(0.01)
        return time.monotonic() - started


@contextmanager
def live_server(app: FastAPI) -> Iterator[Live]:
    """uvicorn serving ``app`` on a free loopback port in a thread (lifespan included), stopped afterwards."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Live(f"http://127.0.0.1:{port}", "127.0.0.1", port, app)
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class SlowModel:
    """A stand-in predictor that works for ``seconds`` (checking its budget every ``step``) and then
    answers a valid prediction; it records how each call ended: ``done``, ``cancelled`` or ``deadline``."""

    seconds: float = 0.0
    step: float = 0.05
    kind: str = "default"
    name: str = "slow stand-in"
    source: str = "test"
    modalities: tuple[str, ...] = ("video", "audio")
    ended: list[str] = field(default_factory=list)
    running: int = 0
    seen: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": self.source, "modalities": list(self.modalities),
                "calibrated": False, "temperature": 1.0}

    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Prediction:
        self.seen.append(path.read_bytes())
        with self._lock:
            self.running += 1
        try:
            ends = time.monotonic() + self.seconds
            while time.monotonic() < ends:
                if budget is not None:
                    budget.check()
                time.sleep(self.step)
        except DeadlineExceeded:
            self.ended.append("deadline")
            raise
        except Cancelled:
            self.ended.append("cancelled")
            raise
        finally:
            with self._lock:
                self.running -= 1
        self.ended.append("done")
        return fake_prediction(sample_frames, self.info())


def fake_prediction(sample_frames: int, model: dict[str, Any]) -> Prediction:
    scores = {c: (0.5 if c == "NEU" else 0.1) for c in CLASSES}
    return Prediction(
        scores=scores,
        modalities={"model": ["video", "audio"], "used": ["video"], "missing": ["audio"],
                    "available": {"video": True, "audio": False}, "detail": {"video": "stand-in", "audio": "none"}},
        timeline=[{"start": 0.0, "end": 1.0, "emotion": "NEU", "confidence": 0.5, "scores": scores}],
        model=model, duration_s=1.0, timing_ms={"decode": 0.0, "faces": 0.0, "model": 0.0, "total": 1.0},
        sample_frames=sample_frames, frames_analysed=1)
