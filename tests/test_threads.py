"""Thread budgets: each prediction gets its share of the cores the process may use."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch

from mmer import media, threads


def test_the_share_divides_the_cores_among_workers_and_concurrent_requests() -> None:
    assert threads.share(1, 1, cores=8) == 8
    assert threads.share(2, 2, cores=8) == 2
    assert threads.share(4, 4, cores=8) == 1  # never zero
    with pytest.raises(ValueError):
        threads.share(0, 1, cores=8)


def test_a_container_cpu_quota_caps_the_cores(tmp_path: Path) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert threads._cgroup_quota(quota) == 1.5
    quota.write_text("max 100000\n")
    assert threads._cgroup_quota(quota) is None
    assert threads._cgroup_quota(tmp_path / "absent") is None
    assert threads.available_cores() >= 1


def test_configure_caps_torch_opencv_and_the_decoders() -> None:
    before = torch.get_num_threads(), cv2.getNumThreads(), media.decode_threads()
    try:
        threads.configure(1)
        assert (torch.get_num_threads(), cv2.getNumThreads(), media.decode_threads()) == (1, 1, 1)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
        media.set_decode_threads(before[2] or None)
    with pytest.raises(ValueError):
        threads.configure(0)
