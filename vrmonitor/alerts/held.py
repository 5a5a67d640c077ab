"""Alerts the disk refused (a full or read-only /var), held in memory and written, in order and
with their own time, as soon as the disk takes them again.

The daemon writes every alert through this; a one-shot writer (`raise-alert`) reports the
error instead, since its caller is there to see it. The hold is bounded: past `limit` the
oldest are dropped, counted, and reported in an ALERT once writing works again.
"""

import logging
import math
import time
from collections import deque

LOG = logging.getLogger(__name__)

# After a refusal, alerts written meanwhile wait for the daemon loop's flush (at least this much
# later) instead of each trying the disk or the lock again at once.
RETRY_AFTER = 1.0
LIMIT = 10_000  # about 2 MB of memory at the longest messages; far beyond any real outage


class HeldAlerts:
    def __init__(self, writer, limit: int = LIMIT, *, wall=time.time, monotonic=time.monotonic):
        self.writer = writer  # an AlertWriter
        self.limit = limit
        self._wall = wall  # an alert's own time
        self._monotonic = monotonic  # the retry's, in the loop's clock
        self._held: deque = deque()
        self._dropped = 0
        self._retry_at = 0.0

    def __len__(self) -> int:
        return len(self._held)

    # A job of the daemon's loop (daemon/periodic.py): while alerts are held, the loop wakes
    # for the retry; it need not turn for anything else then.
    def next_due(self) -> float:
        return self._retry_at if self._held else math.inf

    def tick(self, now: float) -> None:
        if self._held:
            self.flush()

    def write(self, severity: str, name: str, message: str) -> None:
        """Write the alert now, after any held before it; hold it if the disk refuses."""
        if len(self._held) >= self.limit:
            self._held.popleft()
            self._dropped += 1
        self._held.append((self._wall(), severity, name, message))
        self.flush()

    def flush(self) -> bool:
        """Write what is held, oldest first; False while the disk still refuses.

        Within RETRY_AFTER of a refusal nothing is tried: a lock held elsewhere then costs the
        loop one bounded wait a second, not one per alert or per turn."""
        if self._held and self._monotonic() < self._retry_at:
            return False
        while self._held:
            when, severity, name, message = self._held[0]
            try:
                self.writer.write(severity, name, message, when=when)
            except OSError as exc:
                LOG.error("cannot write alert %r now (%s); %d held until the disk takes them",
                          message, exc, len(self._held))
                self._retry_at = self._monotonic() + RETRY_AFTER
                return False
            self._held.popleft()
            if not self._held and self._dropped:
                dropped, self._dropped = self._dropped, 0
                self._held.append((self._wall(), "ALERT", "vrmonitor",
                                   f"{dropped} alerts were dropped while the alert log could not be "
                                   f"written (more than {self.limit} waiting)"))
        return True
