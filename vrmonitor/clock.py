"""Time sources: monotonic time for every interval and deadline, wall time only as a label."""

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SystemClock:
    """The real clocks. Tests pass their own object with the same two methods."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Pause on the monotonic clock (for waits that poll)."""
        time.sleep(seconds)
