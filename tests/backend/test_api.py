"""The HTTP API through the real app: what a client sees for good videos and for every kind of bad one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest
from fastapi.testclient import TestClient

import mmer
from mmer import media
from mmer.labels import CLASS_NAMES, CLASSES
from mmer_api.middleware import MULTIPART_SLACK
from mmer_api.settings import MIB
from tests.backend.conftest import astronaut, upload, write_clip
from tests.helpers import tone


def assert_prediction(body: dict[str, Any], *, segments: int | None = None) -> None:
    """The response schema's promises: six scores summing to 1, a consistent top class, a timeline."""
    assert set(body["scores"]) == set(CLASSES)
    assert sum(body["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["emotion"] == max(body["scores"], key=body["scores"].get)
    assert body["label"] == CLASS_NAMES[CLASSES.index(body["emotion"])]
    assert body["confidence"] == pytest.approx(body["scores"][body["emotion"]])
    for segment in body["timeline"]:
        assert segment["start"] < segment["end"]
        if segment["scores"] is not None:
            assert sum(segment["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    if segments is not None:
        assert abs(len(body["timeline"]) - segments) <= 1
    assert body["timing_ms"]["total"] > 0


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"].strip()
    assert set(body) == {"detail", "code"}
    return body


# --- service information --------------------------------------------------------------------------------------


def test_service_info_names_model_classes_and_limits(client: TestClient) -> None:
    body = client.get("/").json()
    assert body["name"] == "mmer" and body["version"] == mmer.__version__
    assert body["model"]["kind"] == "default" and body["model"]["modalities"] == ["video", "audio"]
    assert body["modalities"] == ["video", "audio"]
    experts = body["model"]["experts"]
    assert set(experts) == {"face", "voice"}
    assert experts["voice"]["figures"]["uar"]["mean"] > 0.3 and "RAVDESS" in experts["voice"]["data"]
    assert body["model"]["fusion"]["rule"] == "log-linear pooling"
    assert body["classes"] == [{"abbr": a, "name": n} for a, n in zip(CLASSES, CLASS_NAMES, strict=True)]
    assert body["limits"]["max_upload_mb"] == 100 and body["limits"]["max_sample_frames"] == 256
    assert body["limits"]["max_duration_s"] == 1200
    assert body["auth"] is False


def test_ping_and_health(client: TestClient) -> None:
    assert client.get("/ping").json() == {"message": "pong"}
    assert client.get("/health").json() == {"status": "ok"}


def test_docs_describe_every_answer(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/infer", "/infer/predict"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"200", "400", "413", "415", "422", "503"} <= set(responses)
        assert responses["415"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
        assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert spec["paths"]["/infer"]["post"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"].endswith("/Prediction")
    params = {p["name"]: p for p in spec["paths"]["/infer"]["post"]["parameters"]}
    assert params["sample_frames"]["schema"]["default"] == 32


def test_unknown_path_and_wrong_method_use_the_error_body(client: TestClient) -> None:
    assert_error(client.get("/nowhere"), 404, "not_found")
    response = client.get("/infer")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


# --- good videos ----------------------------------------------------------------------------------------------


def test_a_smiling_face_is_happy(client: TestClient, clips: dict[str, Path]) -> None:
    response = client.post("/infer", params={"sample_frames": 16}, files=upload(clips["astronaut"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_prediction(body, segments=3)
    assert body["emotion"] == "HAP"
    assert body["model"]["kind"] == "default"
    # its sound is a synthetic voice-like tone, not speech: the voice expert does not score it
    assert body["modalities"]["used"] == ["video"] and body["modalities"]["missing"] == ["audio"]
    assert "no speech" in body["modalities"]["detail"]["audio"]
    assert body["modalities"]["available"] == {"video": True, "audio": True}
    assert body["duration_s"] == pytest.approx(3.0, abs=0.1)
    assert body["sample_frames"] == 16


def test_predict_answers_the_same_schema_with_32_frames(client: TestClient, clips: dict[str, Path]) -> None:
    response = client.post("/infer/predict", files=upload(clips["astronaut"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_prediction(body, segments=3)
    assert body["emotion"] == "HAP" and body["sample_frames"] == 32


def test_the_file_name_and_content_type_are_ignored(client: TestClient, clips: dict[str, Path]) -> None:
    response = client.post("/infer/predict",
                           files=upload(clips["astronaut"], name="holiday.txt", content_type="text/plain"))
    assert response.status_code == 200, response.text
    assert response.json()["emotion"] == "HAP"


def test_a_silent_video_is_scored_from_the_face(client: TestClient, clips: dict[str, Path]) -> None:
    response = client.post("/infer/predict", files=upload(clips["silent"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert_prediction(body, segments=2)
    assert body["modalities"]["available"]["audio"] is False


# --- bad input: always a 4xx with a sentence and a code, never a 500 -------------------------------------------


def test_a_video_without_a_face_is_no_signal(client: TestClient, clips: dict[str, Path]) -> None:
    assert_error(client.post("/infer/predict", files=upload(clips["no_face"])), 422, "no_signal")


BAD_UPLOADS = [
    ("empty", lambda clips: b"", 400, "empty"),
    ("one byte", lambda clips: b"\x00", 415, "unsupported_media_type"),
    ("text named .mp4", lambda clips: clips["text"].read_bytes(), 415, "unsupported_media_type"),
    ("truncated mp4", lambda clips: clips["truncated"].read_bytes(), 422, "undecodable"),
    ("wav with no samples", lambda clips: clips["empty_wav"].read_bytes(), 422, "too_short"),
    ("one frame", lambda clips: clips["one_frame"].read_bytes(), 422, "too_short"),
]


@pytest.mark.parametrize(("content", "status", "code"), [b[1:] for b in BAD_UPLOADS], ids=[b[0] for b in BAD_UPLOADS])
def test_bad_uploads_are_refused_with_a_reason(client: TestClient, clips: dict[str, Path],
                                               content: Callable[[dict[str, Path]], bytes], status: int,
                                               code: str) -> None:
    response = client.post("/infer", files={"file": ("clip.mp4", content(clips), "video/mp4")})
    assert_error(response, status, code)


def test_the_service_still_works_after_every_kind_of_bad_upload(make_client: Callable[..., TestClient],
                                                                clips: dict[str, Path]) -> None:
    client = make_client(raise_server_exceptions=False, max_upload_mb=0.05)
    for _, content, status, code in BAD_UPLOADS:
        assert_error(client.post("/infer", files={"file": ("x.mp4", content(clips), "video/mp4")}), status, code)
    assert_error(client.post("/infer", files=upload(clips["noisy"])), 413, "too_large")
    assert_error(client.post("/infer", params={"sample_frames": 0}, files=upload(clips["one_frame"])),
                 422, "invalid_request")
    assert_error(client.post("/infer"), 422, "invalid_request")
    assert client.get("/health").json() == {"status": "ok"}
    small = make_client()
    assert small.post("/infer/predict", files=upload(clips["silent"])).status_code == 200


def test_a_frame_over_the_pixel_limit_is_refused(make_client: Callable[..., TestClient],
                                                 clips: dict[str, Path]) -> None:
    client = make_client(max_pixels=320 * 240)
    body = assert_error(client.post("/infer/predict", files=upload(clips["large_frame"])), 422, "frame_too_large")
    assert "640" in body["detail"]


def test_a_video_over_the_duration_limit_is_refused(make_client: Callable[..., TestClient],
                                                    clips: dict[str, Path]) -> None:
    client = make_client(max_duration_s=2.5)
    assert_error(client.post("/infer/predict", files=upload(clips["astronaut"])), 422, "too_long")


@pytest.mark.parametrize("value", [0, -1, 257, 100_000])
def test_sample_frames_out_of_range_is_an_invalid_request(client: TestClient, clips: dict[str, Path],
                                                          value: int) -> None:
    response = client.post("/infer", params={"sample_frames": value}, files=upload(clips["silent"]))
    body = assert_error(response, 422, "invalid_request")
    assert body["detail"].startswith("sample_frames: Input should be")


def test_sample_frames_bound_follows_the_settings(make_client: Callable[..., TestClient],
                                                  clips: dict[str, Path]) -> None:
    client = make_client(max_sample_frames=8)
    body = assert_error(client.post("/infer", params={"sample_frames": 9}, files=upload(clips["silent"])),
                        422, "invalid_request")
    assert body["detail"] == "sample_frames: Input should be less than or equal to 8"
    assert client.post("/infer", params={"sample_frames": 8}, files=upload(clips["silent"])).status_code == 200
    assert client.get("/").json()["limits"]["max_sample_frames"] == 8


def test_a_non_integer_sample_frames_is_an_invalid_request(client: TestClient, clips: dict[str, Path]) -> None:
    response = client.post("/infer", params={"sample_frames": "many"}, files=upload(clips["silent"]))
    assert_error(response, 422, "invalid_request")


def test_a_missing_file_field_is_an_invalid_request(client: TestClient, clips: dict[str, Path]) -> None:
    body = assert_error(client.post("/infer", files={"video": ("a.mp4", b"xx", "video/mp4")}), 422, "invalid_request")
    assert body["detail"].startswith("The request has no `file` part.")
    # Sent as a text field: the answer says so in words, never with a Python type such as <class 'str'>.
    body = assert_error(client.post("/infer/predict", data={"file": "not a file"}, files={"other": ("a", b"x")}),
                        422, "invalid_request")
    assert "is text, not a file" in body["detail"] and "<class" not in body["detail"]
    body = assert_error(client.post("/infer/predict", data={"file": "not a file"}), 422, "invalid_request")
    assert "not multipart/form-data" in body["detail"] and "<class" not in body["detail"]
    body = assert_error(client.post("/infer/predict", json={"file": "x"}), 422, "invalid_request")
    assert "multipart/form-data" in body["detail"]
    assert client.post("/infer/predict", files=upload(clips["silent"])).status_code == 200


# --- size limits ------------------------------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    response = client.post("/infer", content=b"tiny", headers={"Content-Length": str(200 * MIB),
                                                               "Content-Type": "multipart/form-data; boundary=x"})
    body = assert_error(response, 413, "too_large")
    assert "100 MB" in body["detail"]


def test_an_upload_over_a_small_limit_is_too_large(make_client: Callable[..., TestClient],
                                                   clips: dict[str, Path]) -> None:
    client = make_client(max_upload_mb=0.05)
    assert clips["noisy"].stat().st_size > 0.05 * MIB + MULTIPART_SLACK
    assert_error(client.post("/infer", files=upload(clips["noisy"])), 413, "too_large")
    # Just over the limit: within the multipart allowance of the early check, caught while copying.
    just_over = clips["noisy"].read_bytes()[: int(0.05 * MIB) + 100]
    assert_error(client.post("/infer", files={"file": ("a.mp4", just_over, "video/mp4")}), 413, "too_large")


def test_a_chunked_upload_over_the_limit_is_cut_off(make_client: Callable[..., TestClient],
                                                    clips: dict[str, Path]) -> None:
    client = make_client(max_upload_mb=0.05)
    data = clips["noisy"].read_bytes()
    boundary = "mmerboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        for i in range(0, len(data), 16_384):
            yield data[i:i + 16_384]
        yield tail

    response = client.post("/infer", content=body(),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_error(response, 413, "too_large")
    assert client.get("/health").status_code == 200


# --- access -----------------------------------------------------------------------------------------------------


def test_an_api_key_guards_inference_but_not_the_probes(make_client: Callable[..., TestClient],
                                                        clips: dict[str, Path]) -> None:
    client = make_client(api_key="s3cret")
    assert_error(client.post("/infer/predict", files=upload(clips["silent"])), 401, "unauthorized")
    assert_error(client.post("/infer/predict", files=upload(clips["silent"]), headers={"X-API-Key": "wrong"}),
                 401, "unauthorized")
    assert_error(client.get("/"), 401, "unauthorized")
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ping").json() == {"message": "pong"}
    key = {"X-API-Key": "s3cret"}
    assert client.get("/", headers=key).json()["auth"] is True
    response = client.post("/infer", files=upload(clips["silent"]), headers=key)
    assert response.status_code == 200, response.text


def test_cors_allows_only_the_configured_origins(client: TestClient) -> None:
    allowed = client.get("/health", headers={"Origin": "http://localhost:5173"})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    other = client.get("/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options("/infer", headers={"Origin": "http://localhost:8080",
                                                  "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "x-api-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8080"


def test_cors_origins_come_from_the_settings(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins="https://app.example, https://other.example")
    for origin in ("https://app.example", "https://other.example"):
        assert client.get("/ping", headers={"Origin": origin}).headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in client.get("/ping", headers={"Origin": "http://localhost:5173"}).headers


# --- load -------------------------------------------------------------------------------------------------------


class Gate:
    """Wraps the predictor's predict so that a test can hold a request inside the model."""

    def __init__(self, predict: Callable[..., Any]) -> None:
        self.predict = predict
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: Path, **kwargs: Any) -> Any:
        self.entered.set()
        assert self.release.wait(30), "the test never released the gate"
        return self.predict(path, **kwargs)


def test_a_full_queue_answers_busy_then_recovers(make_client: Callable[..., TestClient], clips: dict[str, Path],
                                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    client = make_client(concurrency=1, queue_size=0, retry_after_s=7, tmp_dir=str(uploads))
    predictor = client.app.state.service.predictor
    gate = Gate(predictor.predict)
    monkeypatch.setattr(predictor, "predict", gate)
    first: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: first.update(r=client.post("/infer/predict",
                                                                        files=upload(clips["silent"]))))
    worker.start()
    try:
        assert gate.entered.wait(30)
        assert len(list(uploads.iterdir())) == 1  # the running request's folder
        response = client.post("/infer/predict", files=upload(clips["silent"]))
        assert_error(response, 503, "busy")
        assert response.headers["retry-after"] == "7"
        assert client.get("/health").status_code == 200  # the probes never queue
    finally:
        gate.release.set()
        worker.join(60)
    assert first["r"].status_code == 200, first["r"].text
    assert list(uploads.iterdir()) == []
    assert client.post("/infer/predict", files=upload(clips["silent"])).status_code == 200


def test_waiting_requests_queue_up_to_the_queue_size(make_client: Callable[..., TestClient],
                                                     clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(concurrency=1, queue_size=1)
    service = client.app.state.service
    gate = Gate(service.predictor.predict)
    monkeypatch.setattr(service.predictor, "predict", gate)
    results: list[Any] = []
    workers = [threading.Thread(target=lambda: results.append(client.post("/infer/predict",
                                                                          files=upload(clips["silent"]))))
               for _ in range(2)]
    for w in workers:
        w.start()
    try:
        assert gate.entered.wait(30)
        for _ in range(300):
            if service.admitted == 2:
                break
            threading.Event().wait(0.01)
        assert service.admitted == 2
        assert_error(client.post("/infer/predict", files=upload(clips["silent"])), 503, "busy")
    finally:
        gate.release.set()
        for w in workers:
            w.join(60)
    assert [r.status_code for r in results] == [200, 200]
    assert service.admitted == 0


# --- temporary files --------------------------------------------------------------------------------------------


def test_no_upload_stays_on_disk(make_client: Callable[..., TestClient], clips: dict[str, Path],
                                 tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    client = make_client(tmp_dir=str(uploads), max_upload_mb=0.05)
    assert client.post("/infer/predict", files=upload(clips["silent"])).status_code == 200
    assert list(uploads.iterdir()) == []
    just_over = clips["noisy"].read_bytes()[: int(0.05 * MIB) + 100]  # refused while being copied
    cases = [(clips[name].read_bytes(), status) for name, status in
             (("truncated", 422), ("no_face", 422), ("text", 415), ("noisy", 413))] + [(just_over, 413)]
    for content, status in cases:
        response = client.post("/infer/predict", files={"file": ("a.mp4", content, "video/mp4")})
        assert response.status_code == status, response.text
        assert list(uploads.iterdir()) == []


# --- containers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mkv", ".avi", ".ts", ".flv", ".mov"])
def test_other_video_containers_are_read(client: TestClient, tmp_path: Path, suffix: str) -> None:
    path = write_clip(tmp_path / f"clip{suffix}", astronaut(), 1.0)
    response = client.post("/infer", params={"sample_frames": 8}, files=upload(path, name="clip.bin"))
    assert response.status_code == 200, response.text
    assert response.json()["emotion"] == "HAP"


def test_audio_files_without_speech_have_nothing_to_read(client: TestClient, tmp_path: Path) -> None:
    """The default model hears audio files, but a tone is not speech: nothing to score, not "Neutral"."""
    mp3 = tmp_path / "voice.mp3"
    media.write_audio(mp3, tone(1.0), media.AUDIO_SAMPLE_RATE)
    body = assert_error(client.post("/infer", files=upload(mp3, name="voice.mp4")), 422, "no_signal")
    assert "no speech" in body["detail"]
    m4a = tmp_path / "voice.m4a"  # audio in an MP4 box
    with av.open(str(m4a), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=media.AUDIO_SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone(1.0)[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = media.AUDIO_SAMPLE_RATE, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    assert_error(client.post("/infer", files=upload(m4a)), 422, "no_signal")


def test_docs_behind_the_proxy_load_their_schema_through_it(client: TestClient) -> None:
    """nginx serves the API under /api and says so in X-Forwarded-Prefix: /docs must fetch /api/openapi.json."""
    behind = client.get("/docs", headers={"X-Forwarded-Prefix": "/api"})
    assert behind.status_code == 200 and "'/api/openapi.json'" in behind.text
    direct = client.get("/docs")
    assert "'/openapi.json'" in direct.text and "/api/openapi.json" not in direct.text
    assert client.get("/ping", headers={"X-Forwarded-Prefix": "/api"}).json() == {"message": "pong"}
    for odd in ("api", "//evil.example", ""):
        assert "'/openapi.json'" in client.get("/docs", headers={"X-Forwarded-Prefix": odd}).text
