"""The restart escalation ladder: when to try again, and when to stop trying.

Attempt 1 is immediate. Attempt n > 1 waits backoff_initial * 2^(n-2) seconds, capped at
backoff_max, with +-20% jitter so that many routers recovering from one shared cause do not
restart in lock-step. After `attempts` failed restarts the service is parked: no more restarts,
only a re-check every `parked_reprobe` seconds, until it comes back, monitor.conf changes, or
the daemon reloads.

A restart counts as a success only once the service has stayed up `stable_after` seconds; an
earlier exit is a crash loop and counts as a failed attempt, so a service that dies a second
after every start climbs the same ladder instead of being restarted back to back.
"""

import random
from dataclasses import dataclass

JITTER = 0.2


@dataclass(frozen=True)
class Ladder:
    """Its values, and their defaults, come from [services] (from_settings)."""
    attempts: int
    backoff_initial: float
    backoff_max: float
    parked_reprobe: float
    stable_after: float

    @classmethod
    def from_settings(cls, settings) -> "Ladder":
        """The ladder of a [services] table (config.settings.ServiceSettings)."""
        return cls(settings.restart_attempts, settings.backoff_initial, settings.backoff_max,
                   settings.parked_reprobe_interval, settings.stable_after)

    def delay_before(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before restart number `attempt` (1-based)."""
        if attempt <= 1:
            return 0.0
        base = min(self.backoff_initial * 2 ** (attempt - 2), self.backoff_max)
        return min(base * rng.uniform(1 - JITTER, 1 + JITTER), self.backoff_max)

    def exhausted(self, failed_attempts: int, attempts: int | None = None) -> bool:
        """Whether to park; `attempts` is a service's own budget when it has one."""
        return failed_attempts >= (self.attempts if attempts is None else attempts)
