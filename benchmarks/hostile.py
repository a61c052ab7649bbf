"""What a hostile file or client costs the service, measured through a real server, with the bounds asserted.

Each case is sent to a fresh `uvicorn mmer_api.main:app` (the default model, default settings) and timed;
the server's RSS is read from /proc before and after; then the server must answer a normal upload.

- a 0.5 MB MPEG-TS that switches mid-stream from 320×180 to 15360×8640 (the header says 320×180);
- a Matroska file holding 2 hours of video and no duration (as a live recorder writes it);
- a 60 s clip whose client hangs up after 0.5 s: the slot is free again within a second;
- a client that sends its body at 1 byte a second: refused after the grace period, not held.

    .venv/bin/python benchmarks/hostile.py

Exits non-zero if a bound is not met. The media come from tests/media_corpus.py (PyAV directly).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import media_corpus as corpus  # noqa: E402

#: Bounds the service must meet on 2 cores (seconds, MiB).
REFUSE_S = 3.0
FREE_S = 1.5
RSS_GROWTH_MB = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


def start(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "mmer_api.main:app", "--port", str(port),
                               "--log-level", "warning"], cwd=REPO / "back-end", env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    server.terminate()
    raise SystemExit("the server did not start")


def post(base: str, path: Path, timeout: float = 120) -> httpx.Response:
    with open(path, "rb") as fh:
        return httpx.post(f"{base}/infer/predict", files={"file": (path.name, fh, "application/octet-stream")},
                          timeout=timeout)


def hang_up(base: str, path: Path, after: float) -> None:
    """Upload the whole file, then close the connection ``after`` seconds later, unanswered."""
    body = path.read_bytes()
    boundary = "hostilebench"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
               f"Content-Type: video/mp4\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"POST /infer/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                      f"boundary={boundary}\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload)
        time.sleep(after)


def trickle(base: str, seconds: float) -> tuple[int | None, float]:
    """Announce 1 MB and send one byte a second; (status, seconds until the server answered)."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /infer/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                     b"boundary=b\r\nContent-Length: 1000000\r\n\r\n"
                     b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n")
        sock.settimeout(1.0)
        while time.monotonic() - started < seconds:
            try:
                sock.sendall(b"\x00")
                head = sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return None, time.monotonic() - started
            if head:
                return int(head.split()[1]), time.monotonic() - started
    return None, time.monotonic() - started


def admitted_free(base: str, normal: Path, within: float) -> float | None:
    """Seconds until a normal upload is answered 200 again (None if not within ``within``)."""
    started = time.monotonic()
    while time.monotonic() - started < within + 30:
        response = post(base, normal)
        if response.status_code == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def main() -> int:
    rows: list[tuple[str, str, str, str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        normal = corpus.rotated_mp4(root / "normal.mp4", 270, frames=15)
        bomb = corpus.resolution_switch_ts(root / "bomb.ts", small=(320, 180), large=(15360, 8640))
        long = corpus.long_live_mkv(root / "two-hours.mkv", seconds=7200)
        minute = corpus.mpegts(root / "minute.ts", frames=60 * 30, fps=30, face=True)
        server, base = start({"MMER_CONCURRENCY": "1", "MMER_QUEUE_SIZE": "0"})
        try:
            post(base, normal)  # warm-up
            cases: list[tuple[str, Path, str]] = [
                (f"resolution switch to 15360×8640 ({bomb.stat().st_size / 1e6:.1f} MB TS)", bomb, "frame_too_large"),
                (f"2 h without a duration ({long.stat().st_size / 1e6:.1f} MB MKV)", long, "too_long"),
            ]
            for name, path, code in cases:
                before = rss_mb(server.pid)
                started = time.perf_counter()
                response = post(base, path)
                seconds = time.perf_counter() - started
                growth = rss_mb(server.pid) - before
                got = f"{response.status_code} {response.json().get('code')}"
                ok = got == f"422 {code}" and seconds < REFUSE_S and growth < RSS_GROWTH_MB
                rows.append((name, got, f"{seconds:.2f} s", f"{growth:+.0f} MB", ok))
            # A client that leaves: the only slot (no queue) must be free again within a second.
            started = time.perf_counter()
            hang_up(base, minute, after=0.5)
            left = time.perf_counter() - started
            freed = admitted_free(base, normal, FREE_S)
            ok = freed is not None and freed < FREE_S + 1.0  # + the normal upload's own answer
            took = f"{freed:.2f} s to a 200 (its own analysis included)" if freed is not None else "never"
            rows.append(("60 s clip, client gone after 0.5 s", "slot free again", took, f"(left at {left:.1f} s)", ok))
            status, seconds = trickle(base, 30)
            rows.append(("1 byte/s upload", f"{status}", f"{seconds:.1f} s", "", status == 408 and seconds < 15))
            healthy = post(base, normal).status_code == 200
            rows.append(("a normal upload afterwards", "200" if healthy else "failed", "", "", healthy))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("| case | answer | time | server RSS | within bounds |")
    print("|---|---|---|---|---|")
    for name, got, seconds, growth, ok in rows:
        print(f"| {name} | {got} | {seconds} | {growth} | {'yes' if ok else 'NO'} |")
    print(f"\nbounds: refused in < {REFUSE_S:g} s with < {RSS_GROWTH_MB} MB growth; a left slot free in "
          f"< {FREE_S:g} s; a 1 B/s body refused after the grace period (MMER_UPLOAD_GRACE_S)")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
