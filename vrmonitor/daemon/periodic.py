"""The shape every job of the daemon's loop has, and the loop itself.

A job says when it is next due (`next_due()`, monotonic seconds, `math.inf` for "only when
woken") and does its work in `tick(now)`. The loop ticks every job on each turn, sleeps in the
selector until the earliest due time or an event, and runs the callback an event's key
carries (a pidfd's watcher); a key without one is the wake-up pipe. How late the loop woke
for its schedule is what LoopLag measures.
"""

import math
import os
import selectors
from typing import Callable, Protocol

from vrmonitor.export.loop_lag import LoopLag


class Periodic(Protocol):
    def next_due(self) -> float: ...

    def tick(self, now: float) -> None: ...


class Every:
    """`action()` every `interval` seconds, the first at once; interval 0 or None: never."""

    def __init__(self, interval: float | None, action: Callable[[], None]):
        self._interval = interval or 0.0
        self._action = action
        self._due = 0.0 if self._interval > 0 else math.inf

    def next_due(self) -> float:
        return self._due

    def tick(self, now: float) -> None:
        if now >= self._due:
            self._action()
            self._due = now + self._interval


def run_loop(jobs: list[Periodic], selector: selectors.BaseSelector, wake_read: int,
             monotonic: Callable[[], float], lag: LoopLag, stopping: Callable[[], bool],
             before_turn: Callable[[], None]) -> None:
    """Turn until `stopping()`; `before_turn()` handles what signals asked for (reload)."""
    while not stopping():
        before_turn()
        for job in jobs:
            job.tick(monotonic())
        due = min(job.next_due() for job in jobs)
        events = selector.select(max(0.0, due - monotonic()))
        woke = monotonic()
        if woke >= due:  # the schedule was due (an event may have come at the same time): how late?
            lag.observe(woke - due)
        for key, _ in events:
            if key.data is None:
                drain(wake_read)
            else:
                key.data()


def wake(fd: int) -> None:
    """Wake the loop from a signal handler or a worker thread."""
    try:
        os.write(fd, b"w")
    except BlockingIOError:
        pass  # the pipe is full: the loop is awake anyway


def drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
