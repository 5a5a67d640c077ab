"""The Prometheus textfile, as a job of the loop: rewritten on the turn after the published
picture changed or a health run finished, and at least every prometheus.REFRESH seconds (so
`vrmonitor_last_export_timestamp_seconds` tells a live daemon from a dead one); once more
with `vrmonitor_up 0` on a clean stop. A failure is logged, never fatal."""

import logging
import math
import os
import time
from typing import Callable

from vrmonitor import __version__
from vrmonitor.alerts.store import AlertStore
from vrmonitor.cloudstack.cmdline import read_cmdline
from vrmonitor.export import prometheus
from vrmonitor.export.daemon_runs import DaemonRuns
from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.health.history import read_history
from vrmonitor.health.run import KINDS

LOG = logging.getLogger(__name__)


class AlertCounts:
    """Alerts by severity written since the daemon started, whoever wrote them (the daemon,
    `raise-alert`): the journal's records past the sequence number seen last."""

    def __init__(self, store: AlertStore):
        self._store = store
        self.journal = store.journal
        last = store.last_record()
        self._seq = last["seq"] if last else 0
        self.by_severity: dict[str, int] = {}

    def update(self) -> None:
        newer = self._store.records_after(self._seq)
        if newer is None:  # the journal was replaced or rotated past: count on from its end
            last = self._store.last_record()
            self._seq = last["seq"] if last else 0
            return
        for record in newer:
            severity = record.get("severity", "")
            self.by_severity[severity] = self.by_severity.get(severity, 0) + 1
            self._seq = record["seq"]


class TextfileExport:
    def __init__(self, paths, publisher, lag: LoopLag, started: Callable[[], float], *,
                 wall: Callable[[], float] = time.time, held: Callable[[], int] = lambda: 0,
                 reload_ok: Callable[[], bool] = lambda: True,
                 intervals: Callable[[], dict] = dict, runs: DaemonRuns | None = None):
        """publisher: the StatePublisher whose picture is exported; started: the daemon's start
        (wall time); held: how many alerts the disk refused; reload_ok: whether the last
        configuration load succeeded; intervals: kind -> health run interval in seconds;
        runs: the daemon's unclean-restart count."""
        self._paths = paths
        self._publisher = publisher
        self._lag = lag
        self._started = started
        self._wall = wall
        self._held = held
        self._reload_ok = reload_ok
        self._intervals = intervals
        self._runs = runs
        self._alerts = AlertCounts(AlertStore(paths))
        self._due = 0.0
        self._exported: tuple = ()

    def next_due(self) -> float:
        return self._due

    def tick(self, now: float) -> None:
        # A health run (the daemon's, which wakes the loop, or one from cron or the command
        # line) shows in its results files, an alert in the journal; the services in the
        # publisher's version.
        seen = (self._publisher.version, self._held(), self._reload_ok(), self._file_stamps())
        if now >= self._due or seen != self._exported:
            self._exported = seen
            self.export()
            self._due = now + prometheus.REFRESH

    def export(self, running: bool = True) -> None:
        self._alerts.update()
        picture = prometheus.Picture(
            version=__version__, started=self._started(), exported=self._wall(), running=running,
            router=self._identity(), services=self._publisher.services or {},
            checks=read_history(self._paths.health_history), run_times=self._run_times(),
            run_intervals=self._intervals(), alerts=dict(self._alerts.by_severity),
            alerts_held=self._held(), reload_ok=self._reload_ok(),
            unclean_restarts=self._runs.unclean_restarts if self._runs else 0,
            lag_max=self._lag.take_worst(), lag=self._lag)
        try:
            prometheus.write(self._paths, prometheus.render(picture))
        except OSError as exc:
            LOG.error("cannot write %s: %s", self._paths.prometheus_file, exc)

    def stop(self) -> None:
        """A clean stop: the last word is `vrmonitor_up 0`."""
        self.export(running=False)

    def _identity(self) -> prometheus.Router:
        # Read at each export: a few hundred bytes, and written early in a router's boot.
        args = read_cmdline(self._paths)
        return prometheus.Router(name=args.name or "", type=args.role or "", redundant=args.redundant)

    def _run_times(self) -> dict:
        run_times = {}
        for kind in KINDS:
            try:
                run_times[kind] = self._paths.results_file(kind).stat().st_mtime
            except FileNotFoundError:
                pass
        return run_times

    def _file_stamps(self) -> tuple:
        stamps: list[int | None] = []
        for path in (self._paths.results_file("basic"), self._paths.results_file("advanced"),
                     self._paths.health_history, self._alerts.journal):
            try:
                stamps.append(os.stat(path).st_mtime_ns)
            except OSError:
                stamps.append(None)
        return tuple(stamps)


class Disabled:
    """The export when `[export] prometheus` says not to write."""

    def next_due(self) -> float:
        return math.inf

    def tick(self, now: float) -> None:
        pass

    def stop(self) -> None:
        pass
