"""Running one function over many clips: progress, parallel workers, resume, per-item failures.

Every dataset-scale command (faces, crop, audio, later feature extraction) has the same needs:
a broken file must not stop the other 7,000, an interrupted run must pick up where it stopped,
and the user must get a list of what failed and why. They all go through :func:`run_batch`.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mmer.fsutil import atomic_path, remove_partials

log = logging.getLogger(__name__)

FAILURES_FILE = "failures.csv"


class SkipItem(Exception):
    """Raised by a task when its input has nothing to produce (e.g. a silent video for audio).

    Reported with its reason, but not counted as a failure.
    """


@dataclass(frozen=True)
class Task:
    """One unit of work: ``item_id`` names it in reports, ``output`` is what it must create."""

    item_id: str
    output: Path
    args: tuple[Any, ...] = ()


@dataclass
class BatchReport:
    done: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def one_line(self, what: str = "clips") -> str:
        parts = [f"{len(self.done)} {what} done", f"{len(self.already_done)} already done"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def run_batch(
    tasks: Sequence[Task],
    fn: Callable[..., None],
    *,
    out_dir: Path,
    workers: int = 1,
    overwrite: bool = False,
    desc: str = "",
) -> BatchReport:
    """Call ``fn(task.output, *task.args)`` for every task whose output does not exist yet.

    ``fn`` must write ``task.output`` atomically (see :mod:`mmer.fsutil`), so an existing
    output is always a finished one and a re-run resumes. Failures are collected, written to
    ``out_dir/failures.csv`` and returned; they never stop the batch. With ``workers > 1``
    ``fn`` runs in separate processes and must be a module-level function.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = remove_partials(out_dir)
    if stale:
        log.info("removed %d partial file(s) left by an interrupted run", stale)

    report = BatchReport()
    todo: list[Task] = []
    for task in tasks:
        if task.output.exists() and not overwrite:
            report.already_done.append(task.item_id)
        else:
            todo.append(task)
    if report.already_done:
        log.info("%d of %d already done; resuming", len(report.already_done), len(tasks))

    bar = tqdm(total=len(todo), desc=desc or None, unit="clip", disable=not todo or None, leave=False)
    try:
        if workers <= 1 or len(todo) <= 1:
            for task in todo:
                _record(report, task, _call(fn, task))
                bar.update()
        else:
            _run_parallel(todo, fn, workers, report, bar)
    finally:
        bar.close()

    write_failures(out_dir / FAILURES_FILE, report.failed)
    for item_id, reason in report.failed:
        log.warning("failed: %s: %s", item_id, reason)
    return report


def _run_parallel(todo: Sequence[Task], fn: Callable[..., None], workers: int, report: BatchReport,
                  bar: tqdm) -> None:
    # spawn, not fork: torch and FFmpeg threads do not survive a fork reliably.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: dict[Future, Task] = {}
        queue = list(reversed(todo))
        while queue or pending:
            while queue and len(pending) < workers * 2:  # bounded: do not queue 7,000 futures
                task = queue.pop()
                pending[pool.submit(_call, fn, task)] = task
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # a worker process died (e.g. out of memory)
                    outcome = ("failed", f"worker crashed: {exc}")
                _record(report, task, outcome)
                bar.update()


def _call(fn: Callable[..., None], task: Task) -> tuple[str, str]:
    """Run one task, turning any exception into a reportable outcome."""
    try:
        fn(task.output, *task.args)
    except SkipItem as exc:
        return "skipped", str(exc)
    except Exception as exc:
        log.debug("task %s failed", task.item_id, exc_info=True)
        message = str(exc) or type(exc).__name__
        return "failed", message
    return "done", ""


def _record(report: BatchReport, task: Task, outcome: tuple[str, str]) -> None:
    status, detail = outcome
    if status == "done":
        report.done.append(task.item_id)
    elif status == "skipped":
        report.skipped.append((task.item_id, detail))
    else:
        report.failed.append((task.item_id, detail))


def write_failures(path: Path, failed: list[tuple[str, str]]) -> None:
    if not failed:
        if path.exists():
            os.remove(path)
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["clip_id", "error"])
        writer.writerows(sorted(failed))
