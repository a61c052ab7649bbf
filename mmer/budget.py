"""What one prediction may still spend: a deadline, and a flag its caller raises when it stops waiting.

A prediction runs in a worker thread that Python cannot interrupt. So the long loops (decoding,
face detection, the models' batches) call :meth:`Budget.check` between pieces of work; once the
client has hung up (the service calls :meth:`Budget.cancel`) or the deadline has passed, the next
check raises and the thread unwinds within one piece of work, freeing its slot.
"""

from __future__ import annotations

import threading
import time


class Cancelled(Exception):
    """The caller stopped waiting for this prediction (the client went away)."""


class DeadlineExceeded(Cancelled):
    """The prediction ran past the time it was allowed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the analysis took longer than the {seconds:g} s allowed")
        self.seconds = seconds


class Budget:
    """A cancellation flag and an optional deadline, shared by a prediction's threads.

    ``Budget()`` never expires; ``Budget(deadline_s=60)`` expires 60 s after it was made.
    Thread-safe: any thread may :meth:`cancel`, every worker may :meth:`check`.
    """

    def __init__(self, *, deadline_s: float | None = None) -> None:
        if deadline_s is not None and deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s}")
        self.deadline_s = deadline_s
        self._ends = None if deadline_s is None else time.monotonic() + deadline_s
        self._cancelled = threading.Event()
        self._parent: Budget | None = None

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def linked(self) -> Budget:
        """A budget for one part of this work: stopped when this one is, or on its own
        :meth:`cancel` (so a prediction can stop its other branch when one fails)."""
        child = Budget()
        child._ends, child.deadline_s, child._parent = self._ends, self.deadline_s, self
        return child

    def check(self) -> None:
        """Raise :class:`Cancelled` or :class:`DeadlineExceeded` if this work should stop now."""
        if self._parent is not None:
            self._parent.check()
        if self._cancelled.is_set():
            raise Cancelled("the caller stopped waiting")
        if self._ends is not None and time.monotonic() > self._ends:
            assert self.deadline_s is not None
            raise DeadlineExceeded(self.deadline_s)
