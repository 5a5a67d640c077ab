"""The service monitor: detect by event, recover safely, alert on transitions only.

One ServiceRecord per /etc/monitor.conf section; its decisions are lifecycle.py's (a pure state
machine), and this module does what they call for. A service's death is learnt from a pidfd on
its process (registered in the daemon's selector). A full verification every `verify_interval`
seconds catches what events cannot: a replaced pidfile, a service started by someone else, a
changed monitor.conf.

Recovery runs in worker threads: config test, apache2 orphans, then the init system's restart.
A 3-second dnsmasq restart therefore never delays detection elsewhere or the watchdog.
Restarts climb the ladder (ladder.py), and a broken configuration stops the climb at once.
A restart holds only once the service has stayed up `stable_after` seconds; dying earlier is a
crash loop, answered with the ladder's waits and parking, and one ALERT, not an alert per cycle.

Alert lines keep the reference's texts with the name in the brackets. Alerts are written on
transitions only, with a reminder while a service stays down.
"""

import logging
import os
import random
import selectors
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from vrmonitor.clock import SystemClock
from vrmonitor.services.carry_over import restored
from vrmonitor.services.detect import ServiceState, observe
from vrmonitor.services.lifecycle import (SETTLE, Alert, CameUp, Lifecycle, Outcome, Phase,
                                          ServiceRecord, StartRecovery, Unwatch, Watch)

__all__ = ["Outcome", "ServiceMonitor", "SETTLE"]

LOG = logging.getLogger(__name__)


class ServiceMonitor:
    def __init__(self, load_entries: Callable[[], tuple], settings, alerts, init, selector: selectors.BaseSelector,
                 wake: Callable[[], None], *, recover_job: Callable, probe: Callable | None = None,
                 reminder_interval: float = 3600.0, rng: random.Random | None = None,
                 booting: Callable[[], bool] = lambda: False, previous: dict | None = None,
                 on_up: Callable | None = None, clock=SystemClock()):
        """load_entries: () -> (entries, fingerprint) of monitor.conf; settings: [services];
        alerts: an AlertWriter; recover_job: (entry, init, seen) -> Outcome, run in a worker
        thread, seen: the process last seen up (ProcessIdentity or None);
        probe: (entry) -> ProbeResult | None; reminder_interval: seconds, 0 for none;
        booting: () -> whether the router is still booting (start-up grace: a service not yet
        seen up is neither alerted nor restarted); previous: the snapshot of the daemon that ran
        before this one on the same boot, to carry on from without re-alerting; on_up: (entry)
        run in a worker thread whenever a service comes up (the daemon primes its config gate);
        clock: monotonic() and wall() (vrmonitor.clock)."""
        self._load_entries = load_entries
        self._settings = settings
        self._alerts = alerts
        self._init = init
        self._selector = selector
        self._wake = wake
        self._recover_job = recover_job
        self._probe = probe
        self._clock = clock
        self._lifecycle = Lifecycle(settings, reminder_interval, rng or random.Random())
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="recover")
        self._fingerprint = None
        self.watched: dict[str, ServiceRecord] = {}
        self._jobs: dict[str, Future] = {}
        self._pidfds: dict[str, int] = {}
        self._next_verify = 0.0
        self._booting = booting
        self._previous = previous or {}
        self._on_up = on_up

    # --- the loop's interface ---

    def next_due(self) -> float:
        now = self._clock.monotonic()
        due = [self._next_verify]
        due += [t for t in (r.next_due(now) for r in self.watched.values()) if t is not None]
        return min(due)

    def tick(self, now: float) -> None:
        for section, job in list(self._jobs.items()):
            if job.done():
                del self._jobs[section]
                record = self.watched[section]
                outcome = _outcome(record.name, job)
                self._apply(section, self._lifecycle.job_done(record, outcome, now))
                if outcome.kind == "deferred":  # back by another hand, or soon: look now
                    self._check(section, now)
        if now >= self._next_verify:
            self._reload_if_changed()
            for section in self.watched:
                self._check(section, now)
            self._next_verify = now + self._settings.verify_interval
        for section, record in self.watched.items():
            if record.phase is Phase.SETTLING:
                seen = observe(record.entry.processname, record.entry.pidfile, record.seen)
                self._apply(section, self._lifecycle.settle_observed(record, seen, now, self._clock.wall()))
            else:
                self._apply(section, self._lifecycle.attempt_due(record, now))

    def update_settings(self, settings, reminder_interval: float) -> None:
        """New [services] settings (SIGHUP with a valid vrmonitor.toml)."""
        self._settings = settings
        self._lifecycle.configure(settings, reminder_interval)

    def reload(self) -> None:
        """SIGHUP: re-read monitor.conf and give parked services a fresh budget."""
        self._fingerprint = None
        for record in self.watched.values():
            self._lifecycle.reload(record)
        self._next_verify = 0.0

    def close(self) -> None:
        for section in list(self._pidfds):
            self._unwatch(section)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def summary(self) -> str:
        up = sum(1 for r in self.watched.values() if r.state is ServiceState.UP)
        return f"services up {up}/{len(self.watched)}"

    def snapshot(self, now_wall: float) -> dict:
        """section -> daemon.json's service entry (services/snapshot.py)."""
        now = self._clock.monotonic()
        return {section: r.snapshot(now).to_dict() for section, r in self.watched.items()}

    # --- observing ---

    def _on_exit(self, section: str) -> None:
        """The watched process exited: judge the service now, not at the next verification."""
        record = self.watched.get(section)
        if record is None:
            return
        seen, probe, booting = self._observe(record)
        self._apply(section, self._lifecycle.exited(record, seen, probe, self._clock.monotonic(),
                                                    self._clock.wall(), booting))

    def _check(self, section: str, now: float) -> None:
        record = self.watched[section]
        if record.busy:
            return  # a recovery is under way; its completion judges the service
        seen, probe, booting = self._observe(record)
        self._apply(section, self._lifecycle.observed(record, seen, probe, now, self._clock.wall(), booting))

    def _observe(self, record: ServiceRecord):
        """(observation, probe result or None, whether the router still boots) for a record
        not busy; the probe runs only on a live process, the boot is asked only when down."""
        if record.busy:
            return None, None, False
        seen = observe(record.entry.processname, record.entry.pidfile, record.seen)
        probe = None
        if seen.state is ServiceState.UP and self._probe is not None:
            probe = self._probe(record.entry)
        booting = seen.state is ServiceState.DOWN and not record.seen_up and self._booting()
        return seen, probe, booting

    # --- effects ---

    def _apply(self, section: str, effects: list) -> None:
        record = self.watched[section]
        for effect in effects:
            if isinstance(effect, Alert):
                self._alert(effect.severity, effect.name, effect.text)
            elif isinstance(effect, Watch):
                self._watch(section, effect.pid)
            elif isinstance(effect, Unwatch):
                self._unwatch(section)
            elif isinstance(effect, StartRecovery):
                job = self._executor.submit(self._recover_job, record.entry, self._init, effect.seen)
                self._jobs[section] = job
                job.add_done_callback(lambda _: self._wake())
            elif isinstance(effect, CameUp) and self._on_up is not None:
                self._executor.submit(self._on_up, record.entry)

    def _alert(self, severity: str, name: str, message: str) -> None:
        try:
            self._alerts.write(severity, name, message)
        except OSError as exc:  # a full /var must not stop monitoring
            LOG.error("cannot write alert %r: %s", message, exc)

    def _watch(self, section: str, pid: int) -> None:
        if section in self._pidfds:
            return
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return  # gone already: the next verification sees it
        self._pidfds[section] = pidfd
        self._selector.register(pidfd, selectors.EVENT_READ, lambda: self._on_exit(section))

    def _unwatch(self, section: str) -> None:
        pidfd = self._pidfds.pop(section, None)
        if pidfd is not None:
            self._selector.unregister(pidfd)
            os.close(pidfd)

    # --- monitor.conf ---

    def _reload_if_changed(self) -> None:
        entries, fingerprint = self._load_entries()
        if fingerprint == self._fingerprint:
            return
        self._fingerprint = fingerprint
        wanted = {e.section: e for e in entries}
        for section in list(self.watched):
            if section not in wanted:
                LOG.info("no longer monitoring %s: removed from monitor.conf", section)
                self._forget(section)
        for section, entry in wanted.items():
            current = self.watched.get(section)
            if current is None:
                self.watched[section] = restored(entry, self._previous.pop(section, None),
                                                 self._clock.monotonic(), self._clock.wall(),
                                                 self._lifecycle.parked_reprobe)
            elif current.entry != entry:
                self._forget(section)
                self.watched[section] = ServiceRecord(entry, since=self._clock.wall())

    def _forget(self, section: str) -> None:
        """Stop watching a section; a recovery job still running finishes unheeded."""
        self._unwatch(section)
        self._jobs.pop(section, None)
        self.watched.pop(section, None)


def _outcome(name: str, job: Future) -> Outcome:
    try:
        return job.result()
    except Exception as exc:  # the worker's boundary: recorded as a failed attempt
        LOG.exception("recovery of %s failed", name)
        return Outcome("failed", f"{type(exc).__name__}: {exc}")
