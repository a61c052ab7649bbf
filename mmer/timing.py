"""Milliseconds per stage of a prediction (``timing_ms`` in the answer), counted from two threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


class Clock:
    """Milliseconds spent per stage, including time spent inside generators (decoding)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {"decode": 0.0, "faces": 0.0, "model": 0.0}
        self.started = time.perf_counter()
        self._lock = threading.Lock()  # the face and voice branches run in two threads

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self.ms[stage] = self.ms.get(stage, 0.0) + ms

    def timed(self, stage: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.add(stage, (time.perf_counter() - t0) * 1000)

    def iterate(self, stage: str, items: Iterator[Any]) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                self.add(stage, (time.perf_counter() - t0) * 1000)
                return
            self.add(stage, (time.perf_counter() - t0) * 1000)
            yield item

    def result(self) -> dict[str, float]:
        total = (time.perf_counter() - self.started) * 1000
        return {**{k: round(v, 1) for k, v in self.ms.items()}, "total": round(total, 1)}


