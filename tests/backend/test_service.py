"""The service's parts that a client cannot easily reach: settings, start-up, the upload adapter under
cancellation, the catch-all error handler, and the size check as a bare ASGI middleware."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import starlette.formparsers
from fastapi.testclient import TestClient

from mmer.budget import Budget
from mmer.checkpoint import CheckpointError
from mmer.faces import FaceDetectorUnavailable
from mmer.features.base import BackboneUnavailable
from mmer.predictor import InputError
from mmer_api.errors import ApiError
from mmer_api.inference import InferenceService
from mmer_api.main import create_app
from mmer_api.middleware import UploadLimitMiddleware
from mmer_api.settings import Settings, SettingsError, get_settings
from tests.backend.conftest import upload
from tests.backend.live import BOUNDARY, SlowModel, multipart, part_head

BACK_END = Path(__file__).resolve().parents[2] / "back-end"


# --- settings ---------------------------------------------------------------------------------------------------


def test_settings_come_from_mmer_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMER_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("MMER_MAX_UPLOAD_MB", "2.5")
    monkeypatch.setenv("MMER_API_KEY", "")
    monkeypatch.setenv("MMER_CONCURRENCY", "3")
    settings = get_settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_upload_bytes == int(2.5 * 1024 * 1024)
    assert settings.api_key is None and settings.concurrency == 3
    monkeypatch.setenv("MMER_CORS_ORIGINS", '["https://c.example"]')
    assert get_settings().cors_origins == ["https://c.example"]
    assert "s3cret" not in repr(Settings(api_key="s3cret"))


@pytest.mark.parametrize(("name", "value"), [("MMER_CONCURRENCY", "0"), ("MMER_MAX_UPLOAD_MB", "-1"),
                                             ("MMER_QUEUE_SIZE", "-1"), ("MMER_MAX_SAMPLE_FRAMES", "lots"),
                                             ("MMER_RETRY_AFTER_S", "0")])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        get_settings()


def test_durations_must_leave_room() -> None:
    with pytest.raises(SettingsError, match="min_duration_s"):
        get_settings(min_duration_s=10, max_duration_s=5)


# --- start-up ---------------------------------------------------------------------------------------------------


def test_importing_the_app_reads_nothing_and_loads_nothing(tmp_path: Path) -> None:
    # An invalid setting and no weights: importing must still succeed (both are start-up matters).
    env = {"PATH": "/usr/bin:/bin", "MMER_CACHE_DIR": str(tmp_path), "MMER_CONCURRENCY": "0"}
    code = "import mmer_api.main as m, sys; assert not hasattr(m.app.state, 'service'); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=BACK_END, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_environment_is_read_at_start_up(service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app()
    monkeypatch.setenv("MMER_MAX_SAMPLE_FRAMES", "8")
    monkeypatch.setenv("MMER_CORS_ORIGINS", "https://app.example")
    with TestClient(app) as client:
        assert client.get("/").json()["limits"]["max_sample_frames"] == 8
        cors = client.get("/ping", headers={"Origin": "https://app.example"})
        assert cors.headers["access-control-allow-origin"] == "https://app.example"


def test_a_bad_environment_stops_start_up(service_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMER_QUEUE_SIZE", "-2")
    with pytest.raises(SettingsError, match="MMER_QUEUE_SIZE"), TestClient(create_app()):
        pass


def test_missing_weights_stop_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMER_CACHE_DIR", str(tmp_path))
    with pytest.raises(BackboneUnavailable, match="mmer weights fetch"), TestClient(create_app(Settings())):
        pass


def test_missing_detector_weights_stop_start_up(tmp_path: Path, fer_cache: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(fer_cache / "fer", cache / "fer")  # the face CNN is there, the MTCNN weights are not
    monkeypatch.setenv("MMER_CACHE_DIR", str(cache))
    with pytest.raises(FaceDetectorUnavailable, match="MTCNN.*mmer weights fetch"), TestClient(create_app(Settings())):
        pass


def test_an_unusable_checkpoint_stops_start_up(service_env: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError), TestClient(create_app(Settings(model=str(tmp_path)))):
        pass


# --- errors nobody expects --------------------------------------------------------------------------------------


def test_a_bug_in_the_model_is_a_500_with_the_error_body(make_client: Callable[..., TestClient],
                                                         clips: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(raise_server_exceptions=False)

    def broken(path: Path, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(client.app.state.service.predictor, "predict", broken)
    response = client.post("/infer/predict", files=upload(clips["silent"]))
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "code": "internal"}
    assert "boom" in caplog.text  # logged with its traceback, not shown to the client
    assert client.get("/health").status_code == 200


def test_an_unhandled_exception_anywhere_is_a_json_500(service_env: Path) -> None:
    app = create_app(Settings())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "code": "internal"}


# --- the upload adapter on its own (a stand-in model: no weights needed) -------------------------------------------


class StandIn:
    """Records what it was given; can hold the caller inside ``predict`` until released."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.entered = threading.Event()
        self.release = threading.Event()
        self.seen: list[tuple[str, bytes, int]] = []
        self.modalities = ("video",)

    def info(self) -> dict[str, Any]:
        return {"name": "stand-in", "kind": "default", "source": "test", "modalities": ["video"],
                "calibrated": False, "temperature": 1.0}

    def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Any:
        self.seen.append((path.suffix, path.read_bytes(), sample_frames))
        self.entered.set()
        if self.hold:
            assert self.release.wait(30)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"emotion": "NEU"}


def request_of(body: bytes, piece: int = 65_536) -> tuple[Callable[[], Any], str]:
    """An ASGI ``receive`` handing out ``body`` in pieces, then waiting (a client that stays), and its
    Content-Type."""
    pieces = [body[i:i + piece] for i in range(0, len(body), piece)] or [b""]
    queue = list(enumerate(pieces))

    async def receive() -> dict[str, Any]:
        if queue:
            i, chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": i < len(pieces) - 1}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    return receive, f"multipart/form-data; boundary={BOUNDARY}"


def service_with(stand_in: Any, tmp_path: Path, **settings: Any) -> InferenceService:
    return InferenceService(Settings(tmp_dir=str(tmp_path), **settings), predictor=stand_in)


def test_the_model_gets_an_exact_copy_named_by_its_bytes(clips: dict[str, Path], tmp_path: Path) -> None:
    stand_in = StandIn()
    service = service_with(stand_in, tmp_path)
    content = clips["noisy"].read_bytes()  # several pieces and more than one write
    receive, kind = request_of(multipart(content, filename="../../etc/passwd"), piece=10_000)
    assert anyio.run(service.predict_upload, receive, kind, 12) == {"emotion": "NEU"}
    assert stand_in.seen == [(".mp4", content, 12)]
    assert list(tmp_path.iterdir()) == []


def test_the_upload_is_not_spooled_by_starlette(clips: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes go to disk once, into the request's folder: Starlette's spooled copy is never made."""

    def no_spooling(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the upload was spooled by Starlette")

    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", no_spooling)
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", no_spooling)
    model = SlowModel()
    with TestClient(create_app(Settings(tmp_dir=str(tmp_path)), predictor=model)) as client:  # type: ignore[arg-type]
        response = client.post("/infer/predict", files=upload(clips["silent"]))
    assert response.status_code == 200, response.text
    assert model.seen == [clips["silent"].read_bytes()]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("body", "status", "code"), [
    (lambda clip: multipart(b""), 400, "empty"),
    (lambda clip: multipart(b"These are meeting notes.\n" * 400), 415, "unsupported_media_type"),
    (lambda clip: multipart(clip)[:-20], 422, "invalid_request"),  # no closing boundary
    (lambda clip: part_head() + clip + b"\r\n" + multipart(clip), 422, "invalid_request"),  # two files
    (lambda clip: multipart(clip, name="video"), 422, "invalid_request"),
    (lambda clip: multipart(clip, filename=None), 422, "invalid_request"),  # a text field
    (lambda clip: clip, 422, "invalid_request"),  # not multipart at all
], ids=["empty", "not media", "unterminated", "two files", "no file part", "text field", "raw bytes"])
def test_a_refused_upload_leaves_nothing_behind(clips: dict[str, Path], tmp_path: Path,
                                                body: Callable[[bytes], bytes], status: int, code: str) -> None:
    stand_in = StandIn()
    service = service_with(stand_in, tmp_path)
    receive, kind = request_of(body(clips["silent"].read_bytes()))
    with pytest.raises(ApiError) as refused:
        anyio.run(service.predict_upload, receive, kind, 8)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert stand_in.seen == [] and list(tmp_path.iterdir()) == []


def test_over_the_limit_is_refused_as_the_bytes_arrive(clips: dict[str, Path], tmp_path: Path) -> None:
    """The exact per-file limit, counted while streaming: the body is not read past the byte that crosses it."""
    content = clips["noisy"].read_bytes()
    service = service_with(StandIn(), tmp_path, max_upload_mb=0.05)
    limit = service.settings.max_upload_bytes
    body = multipart(content)
    handed: list[int] = []
    receive, kind = request_of(body, piece=4096)

    async def counting() -> dict[str, Any]:
        message = await receive()
        handed.append(len(message.get("body", b"")))
        return message

    with pytest.raises(ApiError, match="0.05 MB") as refused:
        anyio.run(service.predict_upload, counting, kind, 8)
    assert refused.value.status == 413
    assert limit < sum(handed) <= limit + 2 * 4096 < len(body)
    assert list(tmp_path.iterdir()) == []
    exact = multipart(content[:limit])  # exactly at the limit: accepted
    receive, kind = request_of(exact)
    assert anyio.run(service.predict_upload, receive, kind, 8) == {"emotion": "NEU"}


def test_an_audio_file_is_refused_early_by_a_face_only_model(tmp_path: Path) -> None:
    service = service_with(StandIn(), tmp_path)
    receive, kind = request_of(multipart(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(9000)))
    with pytest.raises(ApiError, match="audio-only") as refused:
        anyio.run(service.predict_upload, receive, kind, 8)
    assert refused.value.status == 415


def test_a_photo_is_refused_early_by_a_model_that_does_not_read_photos(tmp_path: Path) -> None:
    """A checkpoint reads video and sound only: a photo is refused from its first bytes (415), named as
    a photo; a model that reads photos gets it, named by its bytes."""
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(9000)
    service = service_with(StandIn(), tmp_path)
    receive, kind = request_of(multipart(jpeg, filename="clip.mp4"))
    with pytest.raises(ApiError, match="JPEG photo and this model reads video and sound only") as refused:
        anyio.run(service.predict_upload, receive, kind, 8)
    assert (refused.value.status, refused.value.code) == (415, "unsupported_media_type")
    assert list(tmp_path.iterdir()) == []
    reader = StandIn()
    reader.reads_photos = True  # type: ignore[attr-defined]
    receive, kind = request_of(multipart(jpeg, filename="clip.mp4"))
    assert anyio.run(service_with(reader, tmp_path).predict_upload, receive, kind, 8) == {"emotion": "NEU"}
    assert reader.seen == [(".jpg", jpeg, 8)] and list(tmp_path.iterdir()) == []


def test_a_cancelled_request_leaves_nothing_behind(clips: dict[str, Path], tmp_path: Path) -> None:
    """What happens when the request's task is cancelled mid-prediction: the budget is cancelled, the worker
    thread finishes, and the upload's folder is removed."""
    stand_in = StandIn(hold=True)
    service = service_with(stand_in, tmp_path)
    receive, kind = request_of(multipart(clips["silent"].read_bytes()))

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(service.predict_upload, receive, kind, 8)
            await anyio.to_thread.run_sync(stand_in.entered.wait)
            assert len(list(tmp_path.iterdir())) == 1
            group.cancel_scope.cancel()
            stand_in.release.set()

    anyio.run(scenario)
    assert list(tmp_path.iterdir()) == []


def test_a_client_leaving_stops_the_model_within_a_check(clips: dict[str, Path], tmp_path: Path) -> None:
    """The disconnect watcher cancels the budget; the model stops at its next check (every 50 ms) and the
    request ends without an answer for anyone (499 in the access log), with its folder removed."""
    model = SlowModel(seconds=30)
    service = service_with(model, tmp_path)
    receive, kind = request_of(multipart(clips["silent"].read_bytes()))
    left = anyio.Event()
    body_done = False

    async def client_leaves() -> dict[str, Any]:
        nonlocal body_done
        if not body_done:
            message = await receive()
            body_done = not message.get("more_body", False)
            return message
        await left.wait()
        return {"type": "http.disconnect"}

    async def scenario() -> float:
        async with anyio.create_task_group() as group:
            outcome: dict[str, Any] = {}

            async def run() -> None:
                with pytest.raises(ApiError) as gone:
                    await service.predict_upload(client_leaves, kind, 8)
                outcome["error"] = gone.value
                outcome["at"] = anyio.current_time()

            group.start_soon(run)
            while model.running == 0:
                await anyio.sleep(0.01)
            await anyio.sleep(0.2)
            left_at = anyio.current_time()
            left.set()
        assert outcome["error"].code == "client_gone"
        return outcome["at"] - left_at

    assert anyio.run(scenario) < 0.5
    assert model.ended == ["cancelled"] and model.running == 0
    assert list(tmp_path.iterdir()) == []


def test_an_answer_never_shows_the_request_folder(clips: dict[str, Path], tmp_path: Path) -> None:
    """Whatever the model's message says about the file, the client does not learn where it was stored."""

    class Blunt(StandIn):
        def predict(self, path: Path, *, sample_frames: int = 32, budget: Budget | None = None) -> Any:
            raise InputError("undecodable", f"cannot read {path} (in {path.parent})")

    service = service_with(Blunt(), tmp_path)
    receive, kind = request_of(multipart(clips["silent"].read_bytes()))
    with pytest.raises(ApiError) as refused:
        anyio.run(service.predict_upload, receive, kind, 8)
    assert refused.value.code == "undecodable"
    assert refused.value.detail == "cannot read upload.mp4 (in the upload)"
    assert str(tmp_path) not in refused.value.detail


def test_the_deadline_stops_the_model_and_says_so(clips: dict[str, Path], tmp_path: Path) -> None:
    model = SlowModel(seconds=30)
    service = service_with(model, tmp_path, deadline_s=0.3)
    receive, kind = request_of(multipart(clips["silent"].read_bytes()))
    started = time.monotonic()
    with pytest.raises(ApiError) as late:
        anyio.run(service.predict_upload, receive, kind, 8)
    assert time.monotonic() - started < 2
    assert (late.value.status, late.value.code) == (504, "timeout")
    assert "0.3 s" in late.value.detail
    assert model.ended == ["deadline"]


# --- the size check as a bare ASGI middleware ---------------------------------------------------------------------


def test_the_size_check_answers_before_the_body_is_read() -> None:
    calls: list[str] = []

    async def inner(scope: dict, receive: Any, send: Any) -> None:
        calls.append("app")

    async def receive() -> dict:
        calls.append("receive")
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    middleware = UploadLimitMiddleware(inner, limit=lambda: 1024)
    scope = {"type": "http", "method": "POST", "path": "/infer", "headers": [(b"content-length", b"10000000000")]}
    anyio.run(middleware, scope, receive, send)
    assert calls == []
    assert sent[0]["status"] == 413
    assert b'"code":"too_large"' in sent[1]["body"]
