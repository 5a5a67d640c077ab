"""The daemon's health schedule: each kind every N minutes of health_checks_data.json, on the
monotonic clock, in worker threads. A kind never overlaps itself (the engine's lock also keeps
out cron and on-demand runs). Interval 0, or no data file, means not scheduled."""

import logging
import math
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from vrmonitor.health.run import KINDS, HealthEngine

LOG = logging.getLogger(__name__)


class HealthScheduler:
    def __init__(self, engine: HealthEngine, wake: Callable[[], None]):
        self._engine = engine
        self._wake = wake
        self._executor = ThreadPoolExecutor(max_workers=len(KINDS), thread_name_prefix="health")
        self._next: dict[str, float] = {kind: 0.0 for kind in KINDS}  # 0: as soon as scheduled
        self._jobs: dict[str, Future] = {}
        self._intervals: dict[str, float] = {kind: 0.0 for kind in KINDS}
        self.last: dict[str, object] = {}  # kind -> RunOutcome or the exception

    def next_due(self) -> float:
        due = [self._next[k] for k in KINDS if self._intervals[k] > 0 and k not in self._jobs]
        return min(due, default=math.inf)

    def tick(self, now: float) -> None:
        data = self._engine.data.load().data
        for kind in KINDS:
            job = self._jobs.get(kind)
            if job is not None and job.done():
                del self._jobs[kind]
                try:
                    self.last[kind] = job.result()
                except Exception as exc:  # a run's boundary: logged once, the schedule goes on
                    LOG.error("%s health run failed: %s", kind, exc)
                    self.last[kind] = exc
            interval = data.interval(kind) * 60.0 if data else 0.0
            if interval != self._intervals[kind]:
                self._intervals[kind] = interval
                self._next[kind] = now  # a new schedule starts with a run
            if interval <= 0 or kind in self._jobs or now < self._next[kind]:
                continue
            self._next[kind] = now + interval
            job = self._executor.submit(self._engine.run, kind)
            job.add_done_callback(lambda _: self._wake())
            self._jobs[kind] = job

    def update_settings(self, settings) -> None:
        """New [health] settings; runs in flight finish with the old ones."""
        self._engine.settings = settings

    def reload(self) -> None:
        """SIGHUP: read health_checks_data.json again even if it looks unchanged."""
        self._engine.data.forget()

    def close(self) -> None:
        """Stop: kill running checks (their run writes nothing) and wait for the workers."""
        self._engine.cancel.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
