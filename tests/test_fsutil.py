from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mmer import media
from mmer.fsutil import atomic_path, write_json_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_finished_files_get_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    """mkstemp's private 0600 must not leak out: the service user has to read weights built by root."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.json"
    write_json_atomic(atomic, {"a": 1})
    assert mode(atomic) == mode(plain)
    assert mode(atomic) & stat.S_IROTH


def test_the_umask_is_honoured(tmp_path: Path) -> None:
    script = ("import os; os.umask(0o077); from mmer.fsutil import write_text_atomic; "
              f"write_text_atomic({str(tmp_path / 'secret.txt')!r}, 'x')")
    subprocess.run([sys.executable, "-c", script], check=True)
    assert mode(tmp_path / "secret.txt") == 0o600


def test_media_outputs_are_readable_too(tmp_path: Path) -> None:
    import numpy as np

    clip = tmp_path / "clip.mp4"
    media.write_video(clip, [np.zeros((32, 32, 3), np.uint8)] * 3, 10)
    assert mode(clip) & stat.S_IROTH


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert os.listdir(tmp_path) == []
