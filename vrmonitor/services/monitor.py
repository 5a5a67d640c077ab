"""The service monitor: detect by event, recover safely, alert on transitions only.

One `Watched` record per /etc/monitor.conf section. A service's death is learnt from a pidfd on
its process (registered in the daemon's selector). A full verification every
`verify_interval` seconds catches what events cannot: a replaced pidfile, a service started
by someone else, a changed monitor.conf.

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
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from vrmonitor.services.detect import ServiceState, observe
from vrmonitor.services.ladder import Ladder
from vrmonitor.services.saved_state import service_problem
from vrmonitor.system.identity import ProcessIdentity, wall_time_of

LOG = logging.getLogger(__name__)

HOUR = 3600.0
# After a restart reports success, how long the service gets to write its pidfile, and how
# often it is looked for meanwhile (a service up early must be watched early: it can die again).
SETTLE = 3.0
SETTLE_POLL = 0.05
# Consecutive failed functional probes of a live process before it is restarted.
DEGRADED_RESTART_AFTER = 3
# While systemd itself is starting a service (its unit's Restart=, a job), vrmonitor looks again
# this often instead of restarting it: ssh and haproxy come back within 0.1 s of a crash.
DEFER_RECHECK = 1.0


@dataclass(frozen=True)
class Outcome:
    """What a recovery job did: restarted | failed | config | unknown | stopped | deferred."""
    kind: str
    detail: str


@dataclass
class Watched:
    entry: object  # cloudstack.monitor_conf.ServiceEntry
    state: ServiceState | None = None  # None until first seen
    reason: str = "not checked yet"
    identity: ProcessIdentity | None = None  # the process judged up now, else None
    # The process last seen up, kept while the service is down and across a daemon restart:
    # if its PID turns up again, start ticks tell whether it is the same process or a namesake.
    seen: ProcessIdentity | None = None
    since: float = field(default_factory=time.time)  # wall time of the last state change
    failed_attempts: int = 0
    next_attempt: float | None = None  # monotonic
    settle_until: float | None = None  # monotonic: waiting for a restarted service to appear
    parked: bool = False
    blocked: str | None = None  # why restarting is pointless now (config, unknown service, ...)
    job: Future | None = None
    down_alerted: bool = False
    last_reminder: float = 0.0  # monotonic
    # Monotonic times (the same clock in every process of one boot): a wall clock step of
    # hours must not keep restarts "in the last hour", or drop them from it.
    restarts: deque = field(default_factory=lambda: deque(maxlen=64))
    restarted_at: float | None = None  # wall time of the last successful restart by vrmonitor
    on_trial: float | None = None  # monotonic: restarted by vrmonitor, not yet up stable_after
    crash_loop: bool = False  # died on trial: restarts climb the ladder until one holds
    last_action: str = ""
    last_outcome: str = ""
    degraded_probes: int = 0
    pidfd: int | None = None
    seen_up: bool = False  # since the daemon started (or in the state it carried on from)

    @property
    def name(self) -> str:
        return self.entry.processname


class ServiceMonitor:
    def __init__(self, load_entries: Callable[[], tuple], settings, alerts, init, selector: selectors.BaseSelector,
                 wake: Callable[[], None], *, recover_job: Callable, probe: Callable | None = None,
                 reminder_interval: float = 3600.0, rng: random.Random | None = None,
                 booting: Callable[[], bool] = lambda: False, previous: dict | None = None,
                 on_up: Callable | None = None):
        """load_entries: () -> (entries, fingerprint) of monitor.conf; settings: [services];
        alerts: an AlertWriter; recover_job: (entry, init, seen) -> Outcome, run in a worker
        thread, seen: the process last seen up (ProcessIdentity or None);
        probe: (entry) -> ProbeResult | None; reminder_interval: seconds, 0 for none;
        booting: () -> whether the router is still booting (start-up grace: a service not yet
        seen up is neither alerted nor restarted); previous: the snapshot of the daemon that ran
        before this one on the same boot, to carry on from without re-alerting; on_up: (entry)
        run in a worker thread whenever a service comes up (the daemon primes its config gate)."""
        self._load_entries = load_entries
        self._settings = settings
        self._reminder_interval = reminder_interval
        self._alerts = alerts
        self._init = init
        self._selector = selector
        self._wake = wake
        self._recover_job = recover_job
        self._probe = probe
        self._rng = rng or random.Random()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="recover")
        self._ladder = Ladder.from_settings(settings)
        self._fingerprint = None
        self.watched: dict[str, Watched] = {}
        self._next_verify = 0.0
        self._booting = booting
        self._previous = previous or {}
        self._on_up = on_up

    # --- the loop's interface ---

    def next_due(self) -> float:
        due = [self._next_verify]
        for w in self.watched.values():
            if w.next_attempt is not None:
                due.append(w.next_attempt)
            if w.settle_until is not None:
                due.append(min(w.settle_until, time.monotonic() + SETTLE_POLL))
        return min(due)

    def tick(self, now: float) -> None:
        for w in list(self.watched.values()):
            if w.job is not None and w.job.done():
                self._finish_job(w, now)
        if now >= self._next_verify:
            self._reload_if_changed()
            for w in self.watched.values():
                self._check(w, now)
            self._next_verify = now + self._settings.verify_interval
        for w in self.watched.values():
            if w.settle_until is not None:
                final = now >= w.settle_until
                if final:
                    w.settle_until = None
                self._after_restart(w, now, final=final)
            elif w.next_attempt is not None and now >= w.next_attempt and w.job is None:
                self._start_recovery(w, now)

    def update_settings(self, settings, reminder_interval: float) -> None:
        """New [services] settings (SIGHUP with a valid vrmonitor.toml)."""
        self._settings = settings
        self._reminder_interval = reminder_interval
        self._ladder = Ladder.from_settings(settings)

    def reload(self) -> None:
        """SIGHUP: re-read monitor.conf and give parked services a fresh budget."""
        self._fingerprint = None
        for w in self.watched.values():
            if w.parked:
                w.parked, w.failed_attempts = False, 0
        self._next_verify = 0.0

    def close(self) -> None:
        for w in self.watched.values():
            self._unwatch(w)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def summary(self) -> str:
        up = sum(1 for w in self.watched.values() if w.state is ServiceState.UP)
        return f"services up {up}/{len(self.watched)}"

    def snapshot(self, now_wall: float) -> dict:
        services = {}
        now = time.monotonic()
        for section, w in self.watched.items():
            services[section] = {
                "processname": w.entry.processname, "servicename": w.entry.servicename,
                "state": w.state.value if w.state else "unknown", "since": w.since,
                "reason": w.reason, "pid": w.identity.pid if w.identity else None,
                "recovering": w.job is not None or w.settle_until is not None,
                "parked": w.parked, "blocked": w.blocked, "crash_loop": w.crash_loop,
                "restarts_last_hour": sum(1 for t in w.restarts if now - t <= HOUR),
                "restarted_at": w.restarted_at, "last_action": w.last_action,
                "last_outcome": w.last_outcome,
                # What a restarted daemon needs to carry on (restore()).
                "restart_monotonic": [t for t in w.restarts if now - t <= HOUR],
                "failed_attempts": w.failed_attempts, "down_alerted": w.down_alerted,
                "seen_up": w.seen_up, "on_trial_monotonic": w.on_trial,
                "seen_pid": w.seen.pid if w.seen else None,
                "seen_start_ticks": w.seen.start_ticks if w.seen else None,
            }
        return services

    # --- detection ---

    def _on_exit(self, section: str) -> None:
        """The watched process exited: judge the service now, not at the next verification."""
        w = self.watched.get(section)
        if w is None:
            return
        gone = w.identity
        self._unwatch(w)
        self._check(w, time.monotonic())
        if gone is not None and w.state is ServiceState.UP and w.identity != gone:
            # Already back when looked at (its unit restarts it at once): still a crash that the
            # server must hear of, as the reference reports a service found running again.
            self._alert("ALERT", w.name, "The process detected as running")

    def _check(self, w: Watched, now: float) -> None:
        if w.job is not None or w.settle_until is not None:
            return  # a recovery is under way; its completion judges the service
        seen = observe(w.entry.processname, w.entry.pidfile, w.seen)
        if seen.state is ServiceState.UP and self._probe is not None:
            result = self._probe(w.entry)
            if result is not None and not result.ok:
                w.degraded_probes += 1
                self._degraded(w, now, result.detail, seen.identity)
                return
        w.degraded_probes = 0
        if seen.state is ServiceState.UP:
            self._up(w, seen.identity, seen.reason, by_us=False)
        else:
            self._down(w, now, seen.reason)

    def _up(self, w: Watched, identity: ProcessIdentity, reason: str, by_us: bool) -> None:
        was = w.state
        if was is not ServiceState.UP:
            w.since = time.time()
            if self._on_up is not None:
                self._executor.submit(self._on_up, w.entry)
            if by_us and not w.crash_loop:
                self._recovered_alert(w)
            elif not by_us and (w.down_alerted or was is ServiceState.DEGRADED) and w.on_trial is None:
                self._alert("ALERT", w.name, "The process detected as running")
        w.state, w.reason, w.identity, w.seen = ServiceState.UP, reason, identity, identity
        w.seen_up = True
        w.next_attempt = None
        self._watch(w)
        if by_us:
            # Judged later: the ladder and the alerts carry on until the restart holds.
            w.on_trial = time.monotonic()
        elif w.on_trial is None or time.monotonic() - w.on_trial >= self._ladder.stable_after:
            self._settled(w)

    def _settled(self, w: Watched) -> None:
        """Up by itself, or long enough after our restart: the ladder starts afresh."""
        if w.crash_loop:
            self._recovered_alert(w)
        w.failed_attempts, w.parked, w.blocked = 0, False, None
        w.down_alerted, w.on_trial, w.crash_loop = False, None, False

    def _recovered_alert(self, w: Watched) -> None:
        name = w.entry.servicename or w.name
        self._alert("INFO", name, f"The process {name} is recovered successfully ")

    def _down(self, w: Watched, now: float, reason: str) -> None:
        w.identity = None
        self._unwatch(w)
        if w.state is not ServiceState.DOWN:
            w.state, w.since = ServiceState.DOWN, time.time()
        w.reason = reason
        if w.on_trial is not None:
            if time.monotonic() - w.on_trial < self._ladder.stable_after:
                self._died_on_trial(w, now, reason)
                return
            self._settled(w)  # it held (no verification came between): a new failure
        if not w.down_alerted:
            if not w.seen_up and self._booting():
                w.reason = f"{reason} (router still booting: not alerted or restarted yet)"
                return
            w.down_alerted, w.last_reminder = True, now
            # Written before the attempt starts: a daemon killed in between must not leave a
            # service restarted with no line saying it was down (tests/faults, kill mid-write).
            self._alert("INFO", w.name, f"The process {w.name} is not running trying recover")
            w.next_attempt = now
            return
        if w.parked and w.next_attempt is None:
            # Parked: re-checked every verification, re-tried only after parked_reprobe.
            w.next_attempt = now + self._ladder.parked_reprobe
        self._remind(w, now)

    def _died_on_trial(self, w: Watched, now: float, reason: str) -> None:
        """Down within stable_after of a restart by vrmonitor: that restart failed after all."""
        lived = time.monotonic() - w.on_trial
        w.on_trial = None
        detail = f"exited {lived:.1f} s after its restart ({reason})"
        if not w.crash_loop:
            w.crash_loop = True
            self._alert("ALERT", w.name, f"The process {w.name} is crash looping: {detail}; "
                                         "restarts now wait on the ladder")
        self._failed_attempt(w, now, detail)

    def _degraded(self, w: Watched, now: float, detail: str, identity) -> None:
        if w.state is not ServiceState.DEGRADED:
            w.state, w.since = ServiceState.DEGRADED, time.time()
            self._alert("ALERT", w.name, f"The process {w.name} is running but not serving: {detail}")
            w.last_reminder = now
        w.reason, w.identity, w.seen = f"running but not serving: {detail}", identity, identity
        self._watch(w)
        if w.degraded_probes >= DEGRADED_RESTART_AFTER and w.next_attempt is None and not w.parked:
            w.next_attempt = now
        self._remind(w, now)

    def _remind(self, w: Watched, now: float) -> None:
        interval = self._reminder_interval
        if interval and now - w.last_reminder >= interval:
            w.last_reminder = now
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(w.since))
            self._alert("ALERT", w.name, f"The process {w.name} is still {w.state.value} since {since}: {w.reason}")

    # --- recovery ---

    def _start_recovery(self, w: Watched, now: float) -> None:
        w.next_attempt = None
        w.last_action = f"restart attempt {w.failed_attempts + 1}"
        w.job = self._executor.submit(self._recover_job, w.entry, self._init, w.seen)
        w.job.add_done_callback(lambda _: self._wake())

    def _finish_job(self, w: Watched, now: float) -> None:
        try:
            outcome = w.job.result()
        except Exception as exc:  # the worker's boundary: recorded as a failed attempt
            LOG.exception("recovery of %s failed", w.name)
            outcome = Outcome("failed", f"{type(exc).__name__}: {exc}")
        w.job = None
        w.last_outcome = f"{outcome.kind}: {outcome.detail}".strip().rstrip(":")
        if outcome.kind == "restarted":
            w.restarts.append(now)
            w.settle_until = now + SETTLE
            self._after_restart(w, now, final=False)
        elif outcome.kind in ("config", "unknown", "stopped"):
            self._block(w, now, outcome)
        elif outcome.kind == "deferred":  # systemd is starting it: no attempt of ours, look again
            w.reason = outcome.detail
            w.next_attempt = now + DEFER_RECHECK
        else:
            self._failed_attempt(w, now, outcome.detail)

    def _after_restart(self, w: Watched, now: float, final: bool = True) -> None:
        seen = observe(w.entry.processname, w.entry.pidfile, w.seen)
        if seen.state is ServiceState.UP:
            w.settle_until = None
            w.restarted_at = time.time()
            self._up(w, seen.identity, seen.reason, by_us=True)
        elif final:
            self._failed_attempt(w, now, f"restart reported success but {seen.reason}")

    def _failed_attempt(self, w: Watched, now: float, detail: str) -> None:
        w.failed_attempts += 1
        w.reason = detail or w.reason
        if self._ladder.exhausted(w.failed_attempts, self._settings.restart_attempts_for(w.entry.section)):
            if not w.parked:
                w.parked = True
                self._alert("ALERT", w.name,
                            f"The process {w.name} recover failed: {w.failed_attempts} restarts did not "
                            f"bring it back ({detail}); re-checked every "
                            f"{self._ladder.parked_reprobe:g} s without restarting")
            w.next_attempt = now + self._ladder.parked_reprobe
        else:
            w.next_attempt = now + self._ladder.delay_before(w.failed_attempts + 1, self._rng)

    def _block(self, w: Watched, now: float, outcome: Outcome) -> None:
        why = {"config": "configuration test failed, not restarting",
               "unknown": "the init system does not know this service",
               "stopped": "stopped through systemd, not restarting"}[outcome.kind]
        blocked = f"{why}: {outcome.detail}"
        if w.blocked != blocked:
            self._alert("ALERT", w.name, f"The process {w.name} recover failed: {blocked}")
        w.blocked, w.parked = blocked, True
        # Re-tried (config test first) at the parked interval: fixing the config brings it back.
        w.next_attempt = now + self._ladder.parked_reprobe

    def _restored(self, entry) -> Watched:
        """A new record, carrying on from the previous daemon's state for the same service."""
        w = Watched(entry)
        before = self._previous.pop(entry.section, None)
        wrong = service_problem(before) if before is not None else None
        if wrong:  # a state file is untrusted input: a wrong type must not stop the daemon
            LOG.warning("%s: the previous daemon's state is not usable (%s); starting afresh",
                        entry.section, wrong)
            return w
        if not before or before.get("processname") != entry.processname:
            return w
        w.since = before.get("since") or w.since
        # Restored only on the same boot (Daemon._previous_services), where monotonic times
        # compare; an older daemon's wall-clock "restart_times" are not carried over.
        w.restarts.extend(t for t in before.get("restart_monotonic") or []
                          if isinstance(t, (int, float)) and t <= time.monotonic())
        w.restarted_at = before.get("restarted_at")
        w.last_action, w.last_outcome = before.get("last_action", ""), before.get("last_outcome", "")
        w.seen_up = bool(before.get("seen_up"))
        pid, ticks = before.get("seen_pid"), before.get("seen_start_ticks")
        if isinstance(pid, int) and isinstance(ticks, int):
            w.seen = ProcessIdentity(pid, entry.processname, "", wall_time_of(ticks), ticks)
        if before.get("crash_loop"):
            # Already alerted as crash looping: the ladder goes on where it was, and a restart
            # still on trial is judged by its own start, not by this daemon's.
            w.crash_loop, w.down_alerted = True, bool(before.get("down_alerted"))
            w.failed_attempts = int(before.get("failed_attempts") or 0)
            trial = before.get("on_trial_monotonic")
            if isinstance(trial, (int, float)) and trial <= time.monotonic():
                w.on_trial = trial
        if before.get("state") == "down" and before.get("down_alerted"):
            # Already alerted: no second "trying recover"; the ladder (or parking) goes on.
            w.state, w.down_alerted = ServiceState.DOWN, True
            w.failed_attempts = int(before.get("failed_attempts") or 0)
            w.parked, w.blocked = bool(before.get("parked")), before.get("blocked")
            w.reason = before.get("reason", w.reason)
            w.last_reminder = time.monotonic()
            w.next_attempt = time.monotonic() + (self._ladder.parked_reprobe if w.parked else 0.0)
        return w

    # --- plumbing ---

    def _alert(self, severity: str, name: str, message: str) -> None:
        try:
            self._alerts.write(severity, name, message)
        except OSError as exc:  # a full /var must not stop monitoring
            LOG.error("cannot write alert %r: %s", message, exc)

    def _watch(self, w: Watched) -> None:
        if w.pidfd is not None or w.identity is None:
            return
        try:
            w.pidfd = os.pidfd_open(w.identity.pid)
        except OSError:
            return  # gone already: the next verification sees it
        section = w.entry.section
        self._selector.register(w.pidfd, selectors.EVENT_READ, lambda: self._on_exit(section))

    def _unwatch(self, w: Watched) -> None:
        if w.pidfd is not None:
            self._selector.unregister(w.pidfd)
            os.close(w.pidfd)
            w.pidfd = None

    def _reload_if_changed(self) -> None:
        entries, fingerprint = self._load_entries()
        if fingerprint == self._fingerprint:
            return
        self._fingerprint = fingerprint
        wanted = {e.section: e for e in entries}
        for section in list(self.watched):
            if section not in wanted:
                LOG.info("no longer monitoring %s: removed from monitor.conf", section)
                self._unwatch(self.watched.pop(section))
        for section, entry in wanted.items():
            current = self.watched.get(section)
            if current is None:
                self.watched[section] = self._restored(entry)
            elif current.entry != entry:
                self._unwatch(current)
                self.watched[section] = Watched(entry)
