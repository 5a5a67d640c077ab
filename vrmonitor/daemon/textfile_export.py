"""The Prometheus textfile, as a job of the loop: rewritten when the published picture
changed, and at least every prometheus.REFRESH seconds; a failure is logged, never fatal."""

import logging
import math
from typing import Callable

from vrmonitor.alerts.store import AlertStore
from vrmonitor.export import prometheus
from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.health.history import read_history
from vrmonitor.health.run import KINDS

LOG = logging.getLogger(__name__)


class TextfileExport:
    def __init__(self, paths, publisher, lag: LoopLag, started: Callable[[], float]):
        """publisher: the StatePublisher whose picture is exported; started: the daemon's start
        (wall time)."""
        self._paths = paths
        self._publisher = publisher
        self._lag = lag
        self._started = started
        self._due = 0.0
        self._exported_version = -1

    def next_due(self) -> float:
        return self._due

    def tick(self, now: float) -> None:
        if now >= self._due or self._publisher.version != self._exported_version:
            self._exported_version = self._publisher.version
            self.export()
            self._due = now + prometheus.REFRESH

    def export(self) -> None:
        checks = read_history(self._paths.health_history)
        run_times = {}
        for kind in KINDS:
            try:
                run_times[kind] = self._paths.results_file(kind).stat().st_mtime
            except FileNotFoundError:
                pass
        last = AlertStore(self._paths).last_record()
        text = prometheus.render(self._publisher.services or {}, checks, run_times,
                                 last["seq"] if last else 0, self._lag.take_worst(),
                                 self._started(), self._lag)
        try:
            prometheus.write(self._paths, text)
        except OSError as exc:
            LOG.error("cannot write %s: %s", self._paths.prometheus_file, exc)


class Disabled:
    """The export when `[export] prometheus` says not to write."""

    def next_due(self) -> float:
        return math.inf

    def tick(self, now: float) -> None:
        pass
