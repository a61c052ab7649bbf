"""Service speed and memory with the embedded default model, measured through a real server.

1. Latency: a 4 s 1280×720 30 fps clip with sound, `POST /infer/predict` end to end (upload
   included; median of ``--requests``) and the same clip through ``predict`` in this process,
   each next to the *decode floor*: the time PyAV alone needs, in this process, to decode every
   video frame (no conversion to RGB) and all the audio of the clip (median of ``--requests``).
   The ratios say how much the service adds to what any reader of the file must pay.
   The latency server runs with the defaults (MMER_CONCURRENCY=1: one prediction at a time, with
   every core's threads).
2. Throughput: requests per second with 8 concurrent clients (a second server runs with
   MMER_CONCURRENCY=2, a core's threads each, and a queue of 8, so none is turned away).
3. Long videos: peak RSS and speed (× real time) of a fresh process answering for 1-, 3- and
   10-minute 640×360 30 fps videos: the timeline's cost should grow linearly and memory not at all.

The clip is made to cost what camera footage costs. A clean still picture on a flat backdrop
encodes to almost nothing and decodes several times faster than a real recording, which flatters
the ratio; so the clip is a real face (scikit-image's astronaut, framed as in a video call) that
moves a little (a few pixels of drift, a small scale and rotation wobble), with per-frame sensor
grain and brightness flicker, encoded by PyAV directly (not the project's writer) with libx264 at
its defaults (preset medium, crf 23, B-frames), and real speech (RAVDESS, when
``$MMER_DATA/ravdess-speech-16k`` or ``../shared/data/ravdess-speech-16k`` is there; otherwise a
voiced, syllable-modulated tone) as 48 kHz AAC. Long videos repeat one encoded 8 s segment
(closed GOPs, so the copies are a valid stream) instead of encoding minutes of footage.

    .venv/bin/python benchmarks/serve.py [--requests 10] [--long-minutes 1 3 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
from skimage import data

from mmer import media

REPO = Path(__file__).resolve().parents[1]
AUDIO_RATE = 48_000
#: Long clips repeat a segment this long: 8 s is a whole number of 30 fps frames (240) and of
#: 1024-sample AAC frames at 48 kHz (375), so the copies keep audio and video in step.
SEGMENT_S = 8.0
#: The astronaut's face in scikit-image's 512 × 512 picture (OpenCV's frontal Haar cascade), and the
#: 16:9 part of the picture shown: the face is a third of the frame's height, as in a video call.
FACE_CENTRE = (224.5, 113.5)
VIEW = (512, 288)
GRAIN_SIGMA = 5.0
FLICKER = 0.015


def ravdess_dir() -> Path | None:
    for root in (os.environ.get("MMER_DATA"), REPO.parent / "shared" / "data"):
        if root and (Path(root) / "ravdess-speech-16k").is_dir():
            return Path(root) / "ravdess-speech-16k"
    return None


def voice(seconds: float) -> tuple[np.ndarray, str]:
    """``seconds`` of speech at 48 kHz and where it came from: RAVDESS sentences (actor 1, strong
    intensity, happy / sad / angry / fearful in turn, their own pauses kept), else a voiced tone."""
    samples = int(round(seconds * AUDIO_RATE))
    root = ravdess_dir()
    if root is not None:
        files = sorted((root / "Actor_01").glob("03-01-0[3-6]-02-0[12]-01-01.flac"))
        if files:
            pieces, total = [], 0
            for path in files * math.ceil(samples / AUDIO_RATE / 2):
                piece = media.decode_audio(path, AUDIO_RATE)
                pieces.append(piece)
                total += len(piece)
                if total >= samples:
                    break
            speech = np.concatenate(pieces)
            while len(speech) < samples:
                speech = np.concatenate([speech, speech])
            return speech[:samples], f"RAVDESS speech ({', '.join(p.name for p in files[:len(pieces)])})"
    t = np.arange(samples) / AUDIO_RATE
    f0 = 140 + 25 * np.sin(2 * np.pi * 0.7 * t)  # an intonation contour
    phase = 2 * np.pi * np.cumsum(f0) / AUDIO_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))  # a glottal-like harmonic series
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) * (np.sin(2 * np.pi * 0.25 * t) > -0.3)
    return (0.15 * voiced * syllables).astype(np.float32), "a voiced tone (no RAVDESS here)"


def camera_frames(count: int, width: int, height: int, fps: int, seed: int = 0) -> Iterator[np.ndarray]:
    """RGB frames of the astronaut as a camera would film her: upscaled to fill ``width`` × ``height``,
    drifting a few pixels and wobbling in scale and angle, with fresh sensor grain (Gaussian, sigma
    5) and a little brightness flicker on every frame."""
    picture = data.astronaut()
    scale = width / VIEW[0]
    cx, cy = FACE_CENTRE
    cv2.setRNGSeed(seed)
    flicker = np.random.default_rng(seed).normal(1.0, FLICKER, count)
    grain = np.empty((height, width, 3), np.int16)
    for i in range(count):
        t = i / fps
        angle = 1.0 * math.sin(2 * math.pi * 0.3 * t)
        zoom = scale * (1 + 0.012 * math.sin(2 * math.pi * 0.2 * t + 1))
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, zoom)  # about the face, which stays put…
        matrix[0, 2] += cx * (scale - 1) + 6 * scale / 2.5 * math.sin(2 * math.pi * 0.5 * t)  # …then drifts
        matrix[1, 2] += cy * (scale - 1) + 4 * scale / 2.5 * math.sin(2 * math.pi * 0.37 * t + 2)
        frame = cv2.warpAffine(picture, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101)
        frame = cv2.convertScaleAbs(frame, alpha=float(flicker[i]))
        cv2.randn(grain, (0, 0, 0), (GRAIN_SIGMA,) * 3)
        yield cv2.add(frame, grain, dtype=cv2.CV_8U)


@dataclass
class Clip:
    path: Path
    seconds: float
    frames: int
    voice: str
    megabytes: float


def make_clip(path: Path, seconds: float, width: int, height: int, fps: int = 30) -> Clip:
    """An MP4 of camera-like footage and speech (see the module's docstring), written by PyAV.

    Up to :data:`SEGMENT_S` it is encoded frame by frame; a longer one repeats one encoded segment's
    packets with shifted timestamps (libx264's GOPs are closed, the segment is shorter than its
    250-frame keyframe interval, so every copy starts at an IDR frame), rounded to whole segments.
    """
    copies = 1 if seconds <= SEGMENT_S else max(1, round(seconds / SEGMENT_S))
    length = seconds if copies == 1 else SEGMENT_S
    count = int(round(length * fps))
    speech, source = voice(length)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)  # libx264's defaults: preset medium, crf 23, B-frames
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        packets: list[av.Packet] = []
        for i, picture in enumerate(camera_frames(count, width, height, fps)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            packets += video.encode(frame)
        packets += video.encode(None)
        sound = av.AudioFrame.from_ndarray(speech.reshape(1, -1), format="flt", layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = AUDIO_RATE, 0, Fraction(1, AUDIO_RATE)
        packets += audio.encode(sound) + audio.encode(None)
        # Mux in time order (as a camera writes), each copy shifted by a segment; AAC's priming
        # packet (negative pts) only at the very start, no copy past the segment's end.
        packets.sort(key=lambda p: float(p.dts * p.time_base))
        for copy in range(copies):
            for packet in packets:
                at = packet.pts * packet.time_base
                if copies > 1 and packet.stream is audio and not (0 <= at < length or (copy == 0 and at < 0)):
                    continue
                shift = round(copy * length / packet.time_base)
                again = av.Packet(bytes(packet))
                again.stream, again.time_base = packet.stream, packet.time_base
                again.pts, again.dts = packet.pts + shift, packet.dts + shift
                again.duration, again.is_keyframe = packet.duration, packet.is_keyframe
                out.mux(again)
    return Clip(path, length * copies, count * copies, source, path.stat().st_size / 1e6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, concurrency: int = 1, queue: int = 4) -> subprocess.Popen:
    """uvicorn serving the default model; each prediction gets cores / concurrency threads."""
    env = {**os.environ, "MMER_CONCURRENCY": str(concurrency), "MMER_QUEUE_SIZE": str(queue)}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "mmer_api.main:app", "--port", str(port), "--log-level",
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


def decode_floor(clip: Path) -> float:
    """Seconds for PyAV, in this process, to decode every video frame and all the audio: what any
    reader of the file pays. Frames stay in the decoder's YUV (no RGB conversion); video decodes with
    FFmpeg's own threading choice (frame and slice threads), as the project's reader asks for."""
    started = time.perf_counter()
    with av.open(str(clip)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for _ in container.decode(video=0, audio=0):
            pass
    return time.perf_counter() - started


def predict_in_process(clip: Path, runs: int) -> list[float]:
    """``predict`` on the clip in this process (no HTTP, no upload), after one warm-up run."""
    from mmer.predictor import load_predictor

    predictor = load_predictor()
    predictor.predict(clip)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        predictor.predict(clip)
        seconds.append(time.perf_counter() - started)
    return seconds


LONG_RUN = """
import json, resource, sys, time
from pathlib import Path
from mmer.predictor import Limits, load_predictor
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
        started = time.perf_counter()
        clip = make_clip(Path(tmp) / "clip.mp4", 4, 1280, 720)
        made = time.perf_counter() - started
        # Latency: the service as `make run` starts it (one prediction at a time, with every core).
        port = free_port()
        server = start_server(port)
        url = f"http://127.0.0.1:{port}/infer/predict"
        try:
            latencies = []
            with httpx.Client() as client:
                post(url, clip.path, client)  # warm-up: the first request builds the worker thread's detectors
                for _ in range(args.requests):
                    status, seconds = post(url, clip.path, client)
                    assert status == 200, status
                    latencies.append(seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        # Throughput: two predictions at once (a core each), eight clients, none turned away.
        port = free_port()
        server = start_server(port, concurrency=2, queue=8)
        url = f"http://127.0.0.1:{port}/infer/predict"
        try:
            post(url, clip.path)
            total = 4 * args.requests
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: post(url, clip.path), range(total)))
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        ok = sum(1 for status, _ in results if status == 200)
        # With the server gone, nothing else competes for the cores.
        floor = statistics.median(decode_floor(clip.path) for _ in range(args.requests))
        predicts = predict_in_process(clip.path, args.requests)
        served, inproc = statistics.median(latencies), statistics.median(predicts)

        bitrate = clip.path.stat().st_size * 8 / clip.seconds / 1e6
        print(f"\n{clip.seconds:g} s 1280×720 30 fps clip ({clip.frames} frames, libx264 defaults, "
              f"{clip.megabytes:.2f} MB = {bitrate:.1f} Mbit/s; voice: {clip.voice}; made in {made:.1f} s), "
              f"default model, {os.cpu_count()} CPU cores")
        print("| measure | median | × decode floor |")
        print("|---|---|---|")
        print(f"| decode floor: all {clip.frames} frames + all audio, PyAV in-process, of {args.requests} "
              f"| {floor * 1000:.0f} ms | 1.00× |")
        print(f"| `predict` in-process, of {args.requests} | {inproc * 1000:.0f} ms | {inproc / floor:.2f}× |")
        print(f"| `POST /infer/predict` end to end (upload included), of {args.requests} | {served * 1000:.0f} ms "
              f"| {served / floor:.2f}× |")
        print(f"| 8 concurrent clients, {total} requests | {ok / elapsed:.2f} req/s ({ok} × 200, "
              f"{total - ok} other) | |")

        rows = []
        for minutes in args.long_minutes:
            long_clip = make_clip(Path(tmp) / f"long{minutes:g}.mp4", minutes * 60, 640, 360)
            done = subprocess.run([sys.executable, "-c", LONG_RUN, str(long_clip.path)], capture_output=True,
                                  text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((minutes, long_clip, result))
            long_clip.path.unlink()
        if rows:
            print(f"\nlong videos (640×360, 30 fps, an {SEGMENT_S:g} s camera-like segment repeated), "
                  "default model, fresh process each")
            print("| video | size | frames analysed | timeline segments | time | × real time | peak RSS |")
            print("|---|---|---|---|---|---|---|")
            for minutes, long_clip, r in rows:
                print(f"| {minutes:g} min ({long_clip.seconds:g} s) | {long_clip.megabytes:.1f} MB | {r['frames']} | "
                      f"{r['segments']} | {r['seconds']:.1f} s | {r['duration'] / r['seconds']:.1f}× | "
                      f"{r['peak_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
