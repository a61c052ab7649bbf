"""Service speed and memory with the embedded default model, measured through a real server.

1. Latency: a 4 s 1280×720 30 fps clip with sound, `POST /infer/predict` (median of 10) next to the
   time to only decode its 32 sampled frames and its audio (median of 10), as a ratio.
2. Throughput: requests per second with 8 concurrent clients (the server runs with
   MMER_CONCURRENCY=2 and a queue of 8, so none is turned away).
3. Long videos: peak RSS and speed (× real time) of a fresh process answering for 1-, 3- and
   10-minute 640×360 30 fps videos: the timeline's cost should grow linearly and memory not at all.

    .venv/bin/python benchmarks/serve.py [--requests 10] [--long-minutes 1 3 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
from skimage import data

from mmer import media

REPO = Path(__file__).resolve().parents[1]


def make_clip(path: Path, seconds: float, width: int, height: int, fps: int = 30) -> Path:
    """The astronaut drifting across a backdrop, with a voice-like tone."""
    side = int(height * 0.7)
    face = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    frames_total = int(seconds * fps)

    def frames():
        for i in range(frames_total):
            canvas = np.full((height, width, 3), 70, np.uint8)
            x = int((width - side) / 2 + (width - side) / 4 * np.sin(i / fps))
            y = (height - side) // 2
            canvas[y:y + side, x:x + side] = face
            yield canvas

    t = np.arange(int(seconds * 16_000)) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * (180 + 40 * np.sin(t)) * t)).astype(np.float32)
    media.write_video(path, frames(), fps, audio=audio)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "MMER_CONCURRENCY": "2", "MMER_QUEUE_SIZE": "8"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level",
                               "warning"], cwd=REPO / "back-end", env=env)
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit("the server did not start")


def post(url: str, clip: Path, client: httpx.Client | None = None) -> tuple[int, float]:
    """One upload; with ``client`` over its kept-alive connection, as a browser would."""
    started = time.perf_counter()
    with open(clip, "rb") as fh:
        files = {"file": (clip.name, fh, "video/mp4")}
        response = (client or httpx).post(url, files=files, timeout=600)
    return response.status_code, time.perf_counter() - started


def decode_only(clip: Path) -> float:
    started = time.perf_counter()
    media.sample_frames(clip, 32)
    media.decode_audio(clip)
    return time.perf_counter() - started


LONG_RUN = """
import json, resource, sys, time
from pathlib import Path
from mmer.pipeline import Limits, load_predictor
predictor = load_predictor(limits=Limits(max_duration_s=3600))
started = time.perf_counter()
answer = predictor.predict(Path(sys.argv[1]))
seconds = time.perf_counter() - started
peak = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "segments": len(answer.timeline),
                  "frames": answer.frames_analysed, "duration": answer.duration_s}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--long-minutes", type=float, nargs="*", default=[1, 3, 10])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", 4, 1280, 720)
        port = free_port()
        server = start_server(port)
        url = f"http://127.0.0.1:{port}/infer/predict"
        try:
            latencies = []
            with httpx.Client() as client:
                post(url, clip, client)  # warm-up: the first request builds the worker thread's detectors
                for _ in range(args.requests):
                    status, seconds = post(url, clip, client)
                    assert status == 200, status
                    latencies.append(seconds)
            decodes = [decode_only(clip) for _ in range(args.requests)]
            total = 4 * args.requests
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: post(url, clip), range(total)))
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        ok = sum(1 for status, _ in results if status == 200)

        print(f"\n4 s 1280×720 30 fps clip with sound, default model, {os.cpu_count()} CPU cores")
        print("| measure | value |")
        print("|---|---|")
        print(f"| `/infer/predict` latency, median of {args.requests} | {statistics.median(latencies) * 1000:.0f} ms |")
        print(f"| decode 32 sampled frames + audio only, median | {statistics.median(decodes) * 1000:.0f} ms |")
        print(f"| ratio | {statistics.median(latencies) / statistics.median(decodes):.2f}× |")
        print(f"| 8 concurrent clients, {total} requests | {ok / elapsed:.2f} req/s ({ok} × 200, "
              f"{total - ok} other) |")

        rows = []
        for minutes in args.long_minutes:
            long_clip = make_clip(Path(tmp) / f"long{minutes}.mp4", minutes * 60, 640, 360)
            done = subprocess.run([sys.executable, "-c", LONG_RUN, str(long_clip)], capture_output=True, text=True,
                                  check=True)
            import json

            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((minutes, result))
            long_clip.unlink()
        print("\nlong videos (640×360, 30 fps), default model, fresh process each")
        print("| video | frames analysed | timeline segments | time | × real time | peak RSS |")
        print("|---|---|---|---|---|---|")
        for minutes, r in rows:
            print(f"| {minutes:g} min | {r['frames']} | {r['segments']} | {r['seconds']:.1f} s | "
                  f"{r['duration'] / r['seconds']:.1f}× | {r['peak_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
