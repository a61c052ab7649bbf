"""Frame sampling and audio decoding: time and peak memory against clip length.

The claim checked: sampling N frames costs memory for N frames, whatever the clip's length, and
seeking keeps time from growing with length for long clips. Each measurement runs in a fresh
process so peak RSS belongs to that call alone.

    .venv/bin/python benchmarks/decode.py [--lengths 10 60 240] [--frames 32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mmer import media

WIDTH, HEIGHT, FPS = 640, 360, 30


def make_clip(path: Path, seconds: int) -> None:
    # a smooth moving pattern compresses like camera footage (random noise would not)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([128 + 100 * np.sin(xx / 23), 128 + 100 * np.cos(yy / 17), 128 + 60 * np.sin((xx + yy) / 31)],
                    axis=-1).astype(np.uint8)
    t = np.arange(seconds * media.AUDIO_SAMPLE_RATE) / media.AUDIO_SAMPLE_RATE
    audio = (0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    with media.VideoWriter(path, FPS, WIDTH, HEIGHT, audio_rate=media.AUDIO_SAMPLE_RATE,
                           keyframe_interval=2 * FPS) as writer:
        for i in range(seconds * FPS):
            writer.write(np.roll(base, 3 * i, axis=1))
        writer.write_audio(audio)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage: Linux carries ru_maxrss over from the parent
    across fork+exec, which would charge the clip-writing parent's memory to the measurement."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def measure(path: str, what: str, frames: int) -> dict:
    start = time.perf_counter()
    if what == "sample":
        media.sample_frames(path, frames)
    elif what == "sample-noseek":
        media.sample_frames(path, frames, seek_gap=float("inf"))
    elif what == "audio":
        media.decode_audio(path)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 60, 240])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.frames)))
        return

    rows = []
    sizes: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.lengths:
            path = Path(tmp) / f"clip_{seconds}s.mp4"
            make_clip(path, seconds)
            sizes[seconds] = path.stat().st_size / 1e6
            for what in ("sample", "sample-noseek", "audio"):
                out = subprocess.run([sys.executable, __file__, "--frames", str(args.frames), "--child", str(path),
                                      what], check=True, capture_output=True, text=True).stdout
                rows.append((seconds, what, json.loads(out.strip().splitlines()[-1])))
    print(f"{WIDTH}x{HEIGHT} @ {FPS} fps, keyframe every 2 s, {args.frames} sampled frames")
    print("file sizes: " + ", ".join(f"{s} s: {mb:.1f} MB" for s, mb in sizes.items()))
    print(f"{'clip s':>7} {'operation':<14} {'seconds':>8} {'x realtime':>11} {'peak RSS MB':>12}")
    for seconds, what, r in rows:
        print(f"{seconds:>7} {what:<14} {r['seconds']:>8.2f} {seconds / r['seconds']:>11.0f} {r['peak_rss_mb']:>12.0f}")


if __name__ == "__main__":
    main()
