"""A step of the wall clock (NTP at boot, an operator's `date -s`) is logged, once. The
schedules run on the monotonic clock and do not move; only labels (alert times) do."""

import logging
import math
from typing import Callable

LOG = logging.getLogger(__name__)

# A wall clock that moved this much more (or less) than the monotonic clock was stepped.
CLOCK_STEP = 2.0
# The reference is renewed this often, so slow drift (NTP slewing) never adds up to a "step".
RENEW = 3600.0


def check_clock(reference: tuple[float, float], now: float, wall: float) -> tuple[float, float]:
    """The new (monotonic, wall) reference; logs a step since `reference`."""
    drift = (wall - reference[1]) - (now - reference[0])
    if abs(drift) > CLOCK_STEP:
        LOG.warning("the wall clock stepped by %+.1f s; schedules are unaffected (monotonic)", drift)
        return now, wall
    return reference if now - reference[0] < RENEW else (now, wall)


class ClockWatch:
    """A job of the loop: compares the two clocks on every turn."""

    def __init__(self, wall: Callable[[], float]):
        self._wall = wall
        self._reference: tuple[float, float] | None = None

    def next_due(self) -> float:
        return math.inf

    def tick(self, now: float) -> None:
        wall = self._wall()
        self._reference = check_clock(self._reference or (now, wall), now, wall)
