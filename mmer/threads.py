"""How many threads each of torch, OpenCV and FFmpeg may use, so one process does not oversubscribe the CPU.

Each library sizes its pool to every core by default. A service with W worker processes, each
running C predictions at once, would then ask for W × C × (torch + OpenCV + decoder threads) on
the same cores, and every request slows down with context switches. :func:`configure` gives each
prediction its share: ``cores // (W × C)``, at least one.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup (container) CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.floor(quota)) if quota is not None and quota >= 1 else cores)


def _cgroup_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> float | None:
    """cgroup v2's ``cpu.max`` ("200000 100000" → 2 cores); None when unlimited or absent."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def share(workers: int = 1, concurrency: int = 1, cores: int | None = None) -> int:
    """Threads for one prediction when ``workers`` processes each run ``concurrency`` at once."""
    if workers < 1 or concurrency < 1:
        raise ValueError(f"workers and concurrency must be at least 1, got {workers} and {concurrency}")
    return max(1, (cores or available_cores()) // (workers * concurrency))


def configure(threads: int) -> None:
    """Cap torch's, OpenCV's and the video decoders' thread pools at ``threads`` in this process."""
    import cv2
    import torch

    from mmer import media

    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    media.set_decode_threads(threads)
    log.info("thread budget: %d per prediction (torch, OpenCV, decoder)", threads)
