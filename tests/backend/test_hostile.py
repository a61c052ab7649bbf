"""Hostile uploads (issue 12): clients without the key, clients arriving when the service is full, clients
that send one byte a second or nothing, clients that hang up, and bodies built to confuse the parser.

What must hold: the key and the slot are decided from the headers before any body is read; a slot is
held for the whole request and freed however it ends; nothing stays on disk; every answer is the JSON
error body without server paths or Python type names; and the service still serves afterwards.
The tests marked slow talk to uvicorn over real sockets.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from mmer.budget import Budget
from mmer_api.inference import InferenceService
from mmer_api.main import create_app
from mmer_api.middleware import UploadGateMiddleware, safe_prefix
from mmer_api.settings import MIB, Settings
from tests.backend.conftest import upload
from tests.backend.live import (
    BOUNDARY,
    Answer,
    Live,
    SlowModel,
    closing,
    live_server,
    multipart,
    part_head,
    read_answer,
    request_head,
)

KEY = "s3cret"


def assert_error_body(status: int, headers: Any, body: bytes, expected: int, code: str,
                      tmp: Path | None = None) -> dict[str, Any]:
    """The one error body, and nothing in it that a client should not see."""
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    parsed = json.loads(body)
    assert set(parsed) == {"detail", "code"} and parsed["code"] == code
    assert isinstance(parsed["detail"], str) and parsed["detail"].strip()
    text = body.decode()
    assert "<class" not in text and "Traceback" not in text and "mmer-upload-" not in text
    if tmp is not None:
        assert str(tmp) not in text
    return parsed


def assert_answer(answer: Answer, status: int, code: str, tmp: Path | None = None) -> dict[str, Any]:
    return assert_error_body(answer.status, answer.headers, answer.body, status, code, tmp)


def assert_response(response: httpx.Response, status: int, code: str, tmp: Path | None = None) -> dict[str, Any]:
    return assert_error_body(response.status_code, response.headers, response.content, status, code, tmp)


def still_serves(live: Live, clips: dict[str, Path], *, headers: dict[str, str] | None = None,
                 emotion: str | None = None) -> None:
    """/health answers and a normal upload is scored, with every slot free again."""
    assert httpx.get(f"{live.base}/health", timeout=10).json() == {"status": "ok"}
    response = httpx.post(f"{live.base}/infer", params={"sample_frames": 8}, files=upload(clips["astronaut"]),
                          headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    if emotion is not None:
        assert response.json()["emotion"] == emotion
    live.wait_for(lambda: live.service.admitted == 0)


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """The servers' MMER_TMP_DIR: every test checks it is empty afterwards."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def serve(service_env: Path, uploads: Path) -> Iterator[Callable[..., Live]]:
    """``serve(model=None, **settings)`` → uvicorn serving the app (the real model unless ``model``)."""
    stack: list[Any] = []

    def start(model: Any = None, **settings: Any) -> Live:
        app = create_app(Settings(tmp_dir=str(uploads), **settings), predictor=model)
        context = live_server(app)
        live = context.__enter__()
        stack.append(context)
        return live

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


class Drip:
    """Sends ``data`` ``piece`` bytes at a time every ``every`` seconds in a thread, until done or the
    server closes the connection."""

    def __init__(self, sock: socket.socket, data: bytes, piece: int, every: float) -> None:
        self.sent = 0
        self._stop = threading.Event()

        def run() -> None:
            for i in range(0, len(data), piece):
                if self._stop.wait(every):
                    return
                try:
                    sock.sendall(data[i:i + piece])
                except OSError:
                    return
                self.sent += len(data[i:i + piece])

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)


# --- the key and the slot, decided from the headers alone ------------------------------------------------------


@pytest.mark.slow
def test_without_the_key_the_answer_comes_before_the_body(serve: Callable[..., Live], clips: dict[str, Path],
                                                         uploads: Path) -> None:
    live = serve(api_key=KEY, concurrency=1, queue_size=0)
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}):
        with live.connect() as sock:
            # 50 MiB announced (under the 100 MiB limit, so the size check lets it through), none sent.
            sock.sendall(request_head("/infer", 50 * MIB, headers=headers))
            answer = read_answer(sock)
        assert_answer(answer, 401, "unauthorized", uploads)
        assert answer.seconds < 5
    with live.connect() as sock:  # a chunked body has no end we know of: the connection is closed
        sock.sendall(request_head("/infer/predict", None))
        answer = read_answer(sock)
    assert_answer(answer, 401, "unauthorized")
    assert answer.closed and answer.headers["connection"] == "close"
    assert live.service.admitted == 0 and list(uploads.iterdir()) == []
    still_serves(live, clips, headers={"X-API-Key": KEY}, emotion="HAP")


@pytest.mark.slow
def test_a_full_service_answers_busy_before_the_body(serve: Callable[..., Live], clips: dict[str, Path],
                                                     uploads: Path) -> None:
    """The only slot is held by a client still uploading; the next one is refused from its headers."""
    live = serve(concurrency=1, queue_size=0, retry_after_s=7)
    body = multipart(clips["astronaut"].read_bytes())
    with live.connect() as holder:
        holder.sendall(request_head("/infer?sample_frames=8", len(body)) + body[:20_000])
        live.wait_for(lambda: live.service.admitted == 1)
        for path in ("/infer", "/infer/predict"):
            with live.connect() as sock:
                sock.sendall(request_head(path, 50 * MIB))
                answer = read_answer(sock)
            assert_answer(answer, 503, "busy")
            assert answer.headers["retry-after"] == "7" and answer.seconds < 5
        assert live.service.admitted == 1  # refusing took no slot
        holder.sendall(body[20_000:])
        done = read_answer(holder, timeout=120)
    assert done.status == 200, done.body
    assert done.json()["emotion"] == "HAP"
    live.wait_for(lambda: live.service.admitted == 0)
    assert list(uploads.iterdir()) == []
    still_serves(live, clips, emotion="HAP")


def test_the_gate_answers_without_reading_and_always_frees_its_slot(tmp_path: Path) -> None:
    """As a bare ASGI middleware: 401 and 503 never call ``receive``; a request that fails still frees its slot."""
    service = InferenceService(Settings(tmp_dir=str(tmp_path), concurrency=1, queue_size=0),
                               predictor=SlowModel())  # type: ignore[arg-type]
    calls: list[str] = []

    async def failing_app(scope: dict, receive: Any, send: Any) -> None:
        calls.append(f"app holding {service.admitted}")
        raise RuntimeError("boom")

    async def receive() -> dict:
        calls.append("receive")
        return {"type": "http.request", "body": b"", "more_body": False}

    def run(key: str | None, settings: Settings) -> list[dict]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        gate = UploadGateMiddleware(failing_app, settings=lambda: settings, service=lambda: service)
        headers = [(b"content-length", b"1000")] + ([(b"x-api-key", key.encode())] if key else [])
        scope = {"type": "http", "method": "POST", "path": "/infer", "root_path": "", "headers": headers}
        anyio.run(gate, scope, receive, send)
        return sent

    keyed = Settings(api_key=KEY, concurrency=1, queue_size=0)
    sent = run(None, keyed)
    assert sent[0]["status"] == 401 and b'"code":"unauthorized"' in sent[1]["body"] and calls == []
    assert service.try_admit()  # the only slot, taken by someone else
    sent = run(KEY, keyed)
    assert sent[0]["status"] == 503 and (b"retry-after", b"5") in sent[0]["headers"] and calls == []
    service.release()
    with pytest.raises(RuntimeError, match="boom"):
        run(KEY, keyed)
    assert calls == ["app holding 1"] and service.admitted == 0


# --- slow uploads ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_slow_upload_is_cut_off_and_frees_its_slot(serve: Callable[..., Live], clips: dict[str, Path],
                                                     uploads: Path) -> None:
    model = SlowModel()
    live = serve(model, concurrency=1, queue_size=0, upload_grace_s=1, upload_min_kib_s=32)
    body = multipart(clips["silent"].read_bytes())
    # One byte every 0.2 s after the headers and the first 100 bytes.
    with live.connect() as sock:
        started = time.monotonic()
        sock.sendall(request_head("/infer", len(body)) + body[:100])
        drip = Drip(sock, body[100:], 1, 0.2)
        answer = read_answer(sock)
        drip.stop()
    elapsed = time.monotonic() - started
    body_of = assert_answer(answer, 408, "upload_timeout", uploads)
    assert "32 KiB/s" in body_of["detail"]
    assert answer.closed and answer.headers["connection"] == "close"
    assert 0.9 < elapsed < 4
    # Nothing at all after the headers.
    with live.connect() as sock:
        started = time.monotonic()
        sock.sendall(request_head("/infer/predict", len(body)))
        answer = read_answer(sock)
    assert_answer(answer, 408, "upload_timeout")
    assert 0.9 < time.monotonic() - started < 4
    live.wait_for(lambda: live.service.admitted == 0, timeout=2)
    assert model.seen == [] and list(uploads.iterdir()) == []
    # Slower than the grace period but above the rate (~2 s at ~160 KiB/s): accepted.
    noisy = multipart(clips["noisy"].read_bytes())
    with live.connect() as sock:
        started = time.monotonic()
        sock.sendall(request_head("/infer", len(noisy)))
        drip = Drip(sock, noisy, 16_384, 0.1)
        answer = read_answer(sock, timeout=30)
        drip.stop()
    assert answer.status == 200, answer.body
    assert time.monotonic() - started > 1.5 and drip.sent == len(noisy)
    still_serves(live, clips)
    assert list(uploads.iterdir()) == []


def test_the_upload_rate_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.upload_min_kib_s, defaults.upload_grace_s, defaults.deadline_s) == (32, 10, 600)
    monkeypatch.setenv("MMER_UPLOAD_MIN_KIB_S", "64")
    monkeypatch.setenv("MMER_UPLOAD_GRACE_S", "2.5")
    monkeypatch.setenv("MMER_DEADLINE_S", "60")
    settings = Settings()
    assert settings.upload_min_bytes_s == 64 * 1024 and settings.upload_grace_s == 2.5 and settings.deadline_s == 60
    for name in ("MMER_UPLOAD_MIN_KIB_S", "MMER_UPLOAD_GRACE_S", "MMER_DEADLINE_S"):
        monkeypatch.setenv(name, "0")
        with pytest.raises(ValueError, match=name.removeprefix("MMER_").lower()):
            Settings()
        monkeypatch.setenv(name, "1")


# --- clients that hang up --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_clients_that_hang_up_free_their_slots_within_a_second(serve: Callable[..., Live], clips: dict[str, Path],
                                                               uploads: Path) -> None:
    """Ten clients (two running, eight queued) hang up after half a second: the running models stop at their
    next budget check, the queued ones stop waiting, and every slot is free again within about a second."""
    model = SlowModel(seconds=30)
    live = serve(model, concurrency=2, queue_size=8)
    body = multipart(clips["silent"].read_bytes())
    socks = [live.connect() for _ in range(10)]
    for sock in socks:
        sock.sendall(request_head("/infer", len(body)) + body)
    sent = time.monotonic()
    live.wait_for(lambda: live.service.admitted == 10 and model.running == 2)
    time.sleep(max(0.0, 0.5 - (time.monotonic() - sent)))
    for sock in socks:
        sock.close()
    freed = live.wait_for(lambda: live.service.admitted == 0 and model.running == 0, timeout=10)
    assert freed < 1.5, f"slots freed {freed:.2f} s after the clients left"
    assert model.ended == ["cancelled", "cancelled"]
    live.wait_for(lambda: list(uploads.iterdir()) == [], timeout=2)
    model.seconds = 0
    still_serves(live, clips, emotion="NEU")
    assert model.ended[-1] == "done"


@pytest.mark.slow
def test_a_client_leaving_mid_upload_frees_its_slot(serve: Callable[..., Live], clips: dict[str, Path],
                                                    uploads: Path) -> None:
    model = SlowModel()
    live = serve(model, concurrency=1, queue_size=0)
    body = multipart(clips["noisy"].read_bytes())
    with live.connect() as sock:
        sock.sendall(request_head("/infer", len(body)) + body[: len(body) // 2])
        live.wait_for(lambda: live.service.admitted == 1)
        live.wait_for(lambda: any(uploads.iterdir()))  # half a file on its way to disk
    live.wait_for(lambda: live.service.admitted == 0, timeout=2)
    live.wait_for(lambda: list(uploads.iterdir()) == [], timeout=2)
    assert model.seen == []
    still_serves(live, clips)


# --- the deadline ----------------------------------------------------------------------------------------------


def test_the_deadline_answers_504_and_frees_the_slot(service_env: Path, clips: dict[str, Path],
                                                     tmp_path: Path) -> None:
    model = SlowModel(seconds=30)
    with TestClient(create_app(Settings(deadline_s=0.5, tmp_dir=str(tmp_path)), predictor=model)) as client:
        started = time.monotonic()
        response = client.post("/infer/predict", files=upload(clips["silent"]))
        assert time.monotonic() - started < 3
        body = assert_response(response, 504, "timeout")
        assert "0.5 s" in body["detail"]
        assert model.ended == ["deadline"] and client.app.state.service.admitted == 0
        model.seconds = 0
        assert client.post("/infer/predict", files=upload(clips["silent"])).status_code == 200
    assert list(tmp_path.iterdir()) == []


def test_waiting_in_the_queue_counts_towards_the_deadline(service_env: Path, clips: dict[str, Path]) -> None:
    """A model that never checks its budget holds the only place for 3 s; the request queued behind it gets
    its 504 when the deadline passes, not after waiting its turn."""

    class Unbudgeted(SlowModel):
        def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Any:
            return super().predict(path, sample_frames=sample_frames)  # the budget is never checked

    model = Unbudgeted(seconds=3)
    app = create_app(Settings(concurrency=1, queue_size=1, deadline_s=1), predictor=model)
    with TestClient(app) as client:
        first: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: first.update(r=client.post("/infer/predict",
                                                                            files=upload(clips["silent"]))))
        worker.start()
        try:
            while model.running == 0:
                time.sleep(0.01)
            started = time.monotonic()
            second = client.post("/infer/predict", files=upload(clips["silent"]))
            waited = time.monotonic() - started
            assert_response(second, 504, "timeout")
            assert waited < 2.5 and model.running == 1
        finally:
            worker.join(30)
        assert first["r"].status_code == 200  # it never checked its budget: it ran to the end
        assert client.app.state.service.admitted == 0


# --- bodies built to confuse -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_file_that_is_not_media_is_refused_from_its_first_bytes(serve: Callable[..., Live],
                                                                  clips: dict[str, Path], uploads: Path) -> None:
    model = SlowModel()
    live = serve(model, concurrency=1, queue_size=0)
    with live.connect() as sock:
        # 20 MiB announced; only the part's header and 10 kB of text are sent.
        sock.sendall(request_head("/infer", 20 * MIB) + part_head() + b"notes, not a video\n" * 500)
        answer = read_answer(sock)
    assert_answer(answer, 415, "unsupported_media_type", uploads)
    assert answer.seconds < 5
    live.wait_for(lambda: live.service.admitted == 0, timeout=2)
    assert model.seen == [] and list(uploads.iterdir()) == []
    still_serves(live, clips)


def _raw(content_type: str | None, body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": content_type} if content_type else {}}


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
CONFUSING: list[tuple[str, Callable[[bytes], dict[str, Any]], int, str]] = [
    ("json", lambda clip: {"json": {"file": "x"}}, 422, "invalid_request"),
    ("no content type", lambda clip: _raw(None, multipart(clip)), 422, "invalid_request"),
    ("no boundary", lambda clip: _raw("multipart/form-data", multipart(clip)), 422, "invalid_request"),
    ("wrong boundary", lambda clip: _raw("multipart/form-data; boundary=other", multipart(clip)), 422,
     "invalid_request"),
    ("boundary too long", lambda clip: _raw("multipart/form-data; boundary=" + "b" * 200, b"x"), 422,
     "invalid_request"),
    ("garbage", lambda clip: _raw(MULTIPART, b"\x00\xff" * 5000), 422, "invalid_request"),
    ("unterminated", lambda clip: _raw(MULTIPART, part_head() + clip), 422, "invalid_request"),
    ("headers only", lambda clip: _raw(MULTIPART, part_head()), 422, "invalid_request"),
    ("text field", lambda clip: {"data": {"file": "not a file"}}, 422, "invalid_request"),
    ("text field holding a video", lambda clip: _raw(MULTIPART, multipart(clip, filename=None)), 422,
     "invalid_request"),
    ("two files", lambda clip: _raw(MULTIPART, part_head() + clip + b"\r\n" + multipart(clip)), 422,
     "invalid_request"),
    ("no file part", lambda clip: _raw(MULTIPART, multipart(clip, name="video")), 422, "invalid_request"),
    ("empty body", lambda clip: _raw(MULTIPART, b""), 422, "invalid_request"),
    ("empty file", lambda clip: _raw(MULTIPART, multipart(b"")), 400, "empty"),
    ("a name like a path", lambda clip: _raw(MULTIPART, multipart(b"text" * 3000, filename="/etc/passwd")), 415,
     "unsupported_media_type"),
    ("header flood", lambda clip: _raw(MULTIPART, f"--{BOUNDARY}\r\n".encode() + b"X-A: b\r\n" * 5000 + b"\r\n"),
     422, "invalid_request"),
]


@pytest.mark.parametrize(("request_of", "status", "code"), [c[1:] for c in CONFUSING], ids=[c[0] for c in CONFUSING])
def test_a_confusing_body_gets_a_json_error_and_leaves_nothing(service_env: Path, clips: dict[str, Path],
                                                               tmp_path: Path, request_of: Callable[..., Any],
                                                               status: int, code: str) -> None:
    model = SlowModel()
    app = create_app(Settings(tmp_dir=str(tmp_path)), predictor=model)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/infer", **request_of(clips["silent"].read_bytes()))
        assert_response(response, status, code, tmp_path)
        assert model.seen == [] and list(tmp_path.iterdir()) == []
        assert client.app.state.service.admitted == 0
        assert client.get("/health").json() == {"status": "ok"}
        assert client.post("/infer", files=upload(clips["silent"])).status_code == 200


def test_the_other_parts_of_a_form_are_skipped(service_env: Path, clips: dict[str, Path]) -> None:
    model = SlowModel()
    clip = clips["silent"].read_bytes()
    body = multipart(b"a note", name="comment", filename=None)[: -len(closing())] + b"\r\n" + multipart(clip)
    with TestClient(create_app(Settings(), predictor=model)) as client:
        response = client.post("/infer", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 200, response.text
    assert model.seen == [clip]


def test_other_http_errors_use_the_error_body(service_env: Path) -> None:
    with TestClient(create_app(Settings(), predictor=SlowModel()), raise_server_exceptions=False) as client:
        assert_response(client.get("/nowhere"), 404, "not_found")
        assert_response(client.put("/infer"), 405, "method_not_allowed")
        assert_response(client.post("/infer", params={"sample_frames": "x' OR 1"}, files={"file": ("a", b"x")}),
                        422, "invalid_request")
        refused = client.options("/infer", headers={"Origin": "http://evil.example",
                                                    "Access-Control-Request-Method": "DELETE"})
        body = assert_response(refused, 400, "cors_refused")
        assert "origin" in body["detail"] and "method" in body["detail"]
        assert "access-control-allow-origin" not in refused.headers
        allowed = client.options("/infer", headers={"Origin": "http://localhost:5173",
                                                    "Access-Control-Request-Method": "POST"})
        assert allowed.status_code == 200
        assert client.get("/health").json() == {"status": "ok"}


# --- the proxy's prefix ----------------------------------------------------------------------------------------


INJECTIONS = ['"</script><script>alert(1)</script>', "/api'</script><script>alert(1)</script>",
              "/api\"><img src=x onerror=alert(1)>", "/api/../../x", "/api?x=1", "/api#x", "/a b",
              "javascript:alert(1)", "/" + "a" * 300, "/api%2f", "//evil.example", "/api/", "/.."]


def test_the_forwarded_prefix_cannot_be_injected_into_the_docs(service_env: Path) -> None:
    with TestClient(create_app(Settings(), predictor=SlowModel())) as client:
        for header in INJECTIONS:
            page = client.get("/docs", headers={"X-Forwarded-Prefix": header})
            assert page.status_code == 200
            assert "alert(1)" not in page.text and "onerror" not in page.text and "evil" not in page.text
            expected = "'/api/openapi.json'" if header == "/api/" else "'/openapi.json'"
            assert expected in page.text, header
        assert "'/mmer/v-1_2.x~/openapi.json'" in client.get(
            "/docs", headers={"X-Forwarded-Prefix": "/mmer/v-1_2.x~"}).text
        assert client.get("/health", headers={"X-Forwarded-Prefix": INJECTIONS[0]}).json() == {"status": "ok"}
    assert [safe_prefix(h) for h in ("/api", "/api/", " /api ", None, "", "/")] == ["/api", "/api", "/api", None,
                                                                                   None, None]

