"""How late the daemon's loop wakes for its schedule: the worst delay since the last export, and
a cumulative histogram (fixed buckets, so its size never grows) for percentiles over any window.
"""

import bisect
import math

# Upper bounds in seconds; 0.05 is the bench goal (docs/benchmarks.md), so p99 <= 50 ms is exact.
# Twelve: the histogram's 14 series fit a router's budget (docs/monitoring.md).
BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, math.inf)


class LoopLag:
    def __init__(self) -> None:
        self.worst = 0.0  # since the last take_worst()
        self.counts = [0] * len(BUCKETS)  # per bucket, not cumulative
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.worst = max(self.worst, seconds)
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def take_worst(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= it), as a Prometheus histogram's buckets."""
        running, buckets = 0, []
        for bound, count in zip(BUCKETS, self.counts):
            running += count
            buckets.append((bound, running))
        return buckets
