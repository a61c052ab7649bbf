"""Writing files so that a crash never leaves a half-written output behind.

Batch jobs decide what is already done by looking for output files; that is only safe
if every output appears whole or not at all, hence temp file + ``os.replace``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Marker in the names of in-progress files; stale ones are removed by :func:`remove_partials`.
PARTIAL_MARK = ".partial-"


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only be read by setting it,
    which would race with other threads creating files)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only if the block succeeds.

    The temp name keeps ``dest``'s suffix so that writers which pick a format from the
    extension (FFmpeg muxers, numpy) still work. The finished file gets the permissions a plain
    ``open()`` would have given it (the temp file is private while it is written): weights
    converted by root at image build time must stay readable by the service's own user.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}{PARTIAL_MARK}", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def write_text_atomic(dest: str | os.PathLike[str], text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(dest: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(dest, json.dumps(obj, indent=2) + "\n")


def remove_partials(directory: str | os.PathLike[str]) -> int:
    """Delete in-progress files left by an interrupted run; returns how many were removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.rglob(f".*{PARTIAL_MARK}*"):
        if path.is_file():
            path.unlink()
            removed += 1
    return removed
