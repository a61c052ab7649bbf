"""The service's parts that a client cannot easily reach: settings, start-up, the upload adapter under
cancellation, the catch-all error handler, and the size check as a bare ASGI middleware."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fastapi import UploadFile
from fastapi.testclient import TestClient

from app.inference import InferenceService
from app.main import create_app
from app.middleware import UploadLimitMiddleware
from app.settings import Settings, SettingsError, get_settings
from mmer.checkpoint import CheckpointError
from mmer.features.base import BackboneUnavailable
from tests.backend.conftest import upload

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
    code = "import app.main as m, sys; assert not hasattr(m.app.state, 'service'); print('ok')"
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

    def info(self) -> dict[str, Any]:
        return {"name": "stand-in", "kind": "default", "source": "test", "modalities": ["video"],
                "calibrated": False, "temperature": 1.0}

    def predict(self, path: Path, *, sample_frames: int = 32) -> Any:
        self.seen.append((path.suffix, path.read_bytes(), sample_frames))
        self.entered.set()
        if self.hold:
            assert self.release.wait(30)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"emotion": "NEU"}


def _upload(content: bytes) -> UploadFile:
    return UploadFile(io.BytesIO(content), filename="../../etc/passwd", size=len(content))


def test_the_model_gets_an_exact_copy_named_by_its_bytes(clips: dict[str, Path], tmp_path: Path) -> None:
    stand_in = StandIn()
    service = InferenceService(Settings(tmp_dir=str(tmp_path)), predictor=stand_in)  # type: ignore[arg-type]
    content = clips["noisy"].read_bytes()  # several 1 MiB chunks would be the same code path
    assert anyio.run(service.predict_upload, _upload(content), 12) == {"emotion": "NEU"}
    assert stand_in.seen == [(".mp4", content, 12)]
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_request_leaves_nothing_behind(clips: dict[str, Path], tmp_path: Path) -> None:
    """What happens when a client disconnects mid-prediction: the task is cancelled, the worker thread
    finishes, and the upload's folder is removed."""
    stand_in = StandIn(hold=True)
    service = InferenceService(Settings(tmp_dir=str(tmp_path)), predictor=stand_in)  # type: ignore[arg-type]

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(service.predict_upload, _upload(clips["silent"].read_bytes()), 8)
            await anyio.to_thread.run_sync(stand_in.entered.wait)
            assert len(list(tmp_path.iterdir())) == 1 and service.admitted == 1
            group.cancel_scope.cancel()
            stand_in.release.set()

    anyio.run(scenario)
    assert list(tmp_path.iterdir()) == []
    assert service.admitted == 0


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
