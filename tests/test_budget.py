"""A prediction's budget: cancelling it or passing its deadline stops the work at the next check."""

from __future__ import annotations

import threading
import time

import pytest

from mmer.budget import Budget, Cancelled, DeadlineExceeded


def test_a_fresh_budget_lets_work_go_on() -> None:
    budget = Budget()
    budget.check()
    assert not budget.cancelled


def test_cancelling_from_another_thread_stops_the_next_check() -> None:
    budget = Budget()
    threading.Thread(target=budget.cancel).start()
    deadline = time.monotonic() + 5
    with pytest.raises(Cancelled):
        while time.monotonic() < deadline:
            budget.check()
            time.sleep(0.001)
    assert budget.cancelled


def test_a_deadline_says_how_long_was_allowed() -> None:
    budget = Budget(deadline_s=0.05)
    budget.check()
    time.sleep(0.08)
    with pytest.raises(DeadlineExceeded, match="0.05 s") as caught:
        budget.check()
    assert isinstance(caught.value, Cancelled) and caught.value.seconds == 0.05


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Budget(deadline_s=0)


def test_a_linked_budget_stops_with_its_parent_or_alone() -> None:
    parent = Budget()
    child = parent.linked()
    child.check()
    child.cancel()
    with pytest.raises(Cancelled):
        child.check()
    parent.check()  # cancelling a part does not stop the whole
    other = parent.linked()
    parent.cancel()
    with pytest.raises(Cancelled):
        other.check()
