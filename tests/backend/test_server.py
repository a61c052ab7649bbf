"""The app starts for real, the way the README and the container start it: uvicorn, gunicorn with
uvicorn workers and `mmer serve` from any directory (the service is an installed package), and the
container's start.sh, configured only through the environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backend.conftest import upload

pytestmark = pytest.mark.slow

BACK_END = Path(__file__).resolve().parents[2] / "back-end"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(fer_cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMER_")}
    # A short grace period, so that a client that sends nothing is cut off within the test.
    return {**env, "MMER_CACHE_DIR": str(fer_cache), "MMER_MAX_UPLOAD_MB": "1", "MMER_UPLOAD_GRACE_S": "2"}


def wait_healthy(proc: subprocess.Popen[str], base: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{proc.communicate()[0]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"no healthy answer from {base} within {timeout} s")


@pytest.fixture(params=["uvicorn", "gunicorn", "mmer serve", "start.sh", "start.sh --reload"])
def server(request: pytest.FixtureRequest, fer_cache: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = server_env(fer_cache)
    if request.param.startswith("start.sh"):
        # The container's entry point: gunicorn + uvicorn workers, or uvicorn --reload for development.
        argv = ["./start.sh", *request.param.split()[1:]]
        env |= {"PORT": str(port), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    elif request.param == "uvicorn":
        argv = [sys.executable, "-m", "uvicorn", "mmer_api.main:app", "--host", "127.0.0.1", "--port", str(port)]
    elif request.param == "mmer serve":
        argv = [sys.executable, "-m", "mmer.cli", "serve", "--port", str(port)]
    else:
        argv = [sys.executable, "-m", "gunicorn", "mmer_api.main:app", "-k", "uvicorn_worker.UvicornWorker", "-w", "1",
                "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5"]
    # Anywhere but the repository: nothing may depend on where the checkout lies.
    cwd = BACK_END if request.param.startswith("start.sh") else tmp_path
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_the_server_starts_and_answers(server: str, clips: dict[str, Path]) -> None:
    assert httpx.get(f"{server}/ping").json() == {"message": "pong"}
    info = httpx.get(f"{server}/").json()
    assert info["model"]["kind"] == "default" and info["limits"]["max_upload_mb"] == 1
    response = httpx.post(f"{server}/infer", params={"sample_frames": 8}, files=upload(clips["astronaut"]),
                          timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["emotion"] == "HAP"


def test_a_declared_huge_upload_is_refused_without_sending_it(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /infer HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 10000000000\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or b'"code"' not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"code":"too_large"' in answer
    assert httpx.get(f"{server}/health").status_code == 200


def test_a_client_that_sends_nothing_is_cut_off(server: str, clips: dict[str, Path]) -> None:
    """However the server is started, an upload whose body never comes is answered 408 after the grace
    period (the JSON error body, the connection closed) and the server goes on serving."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /infer/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 500000\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert 1.5 < time.monotonic() - started < 10
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"code":"upload_timeout"' in answer and b"connection: close" in answer.lower()
    response = httpx.post(f"{server}/infer/predict", files=upload(clips["silent"]), timeout=60)
    assert response.status_code == 200, response.text


def test_start_sh_refuses_unknown_options() -> None:
    done = subprocess.run(["./start.sh", "--relaod"], cwd=BACK_END, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "usage:" in done.stderr
