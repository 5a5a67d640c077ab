"""One monitored service's lifecycle: the monitor's decisions as a pure state machine.

In: what detect.observe saw (with the functional probe's verdict), a recovery job's outcome,
and the time (monotonic `now` for every interval, `wall` only as a label). Out: the record's new
phase and a list of effects that ServiceMonitor carries out. No I/O, clock or thread here.

Phases (what the monitor is doing about the service):

    UNSEEN      not judged yet
    WATCHING    nothing pending: up, or degraded below DEGRADED_RESTART_AFTER probes
    HELD        down, never seen up, and the router is still booting: not alerted, not restarted
    WAITING     an attempt is due at `due` (at once, a ladder wait, the parked re-probe, or
                while systemd restarts it itself)
    RECOVERING  a recovery job runs (config test, orphans, restart)
    SETTLING    the restart reported success; the process is looked for until `due`
    TRIAL       restarted by us and up since `due`: held only once up `stable_after` seconds

    UNSEEN/WATCHING/HELD --down--> WAITING (one INFO "trying recover") | HELD (booting)
    WAITING --due--> RECOVERING --restarted--> SETTLING --up--> TRIAL --stable_after--> WATCHING
    RECOVERING --failed / config / unknown / stopped / deferred--> WAITING
    SETTLING --never up--> WAITING;  TRIAL --died--> WAITING (crash loop: one ALERT)
    any but RECOVERING/SETTLING --up by itself--> WATCHING (or stays TRIAL while on trial)

Orthogonal facts stay plain fields: `state` (the last verdict: up, down, degraded), the ladder
(`failed_attempts`, `parked`: used up, attempts only every parked_reprobe, which a parked
service keeps through its re-probe's RECOVERING, SETTLING and TRIAL; `blocked`: the last
block alerted), and what was alerted (`down_alerted`, `crash_loop`, `last_reminder`).
"""

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from vrmonitor.cloudstack.monitor_conf import ServiceEntry
from vrmonitor.services.detect import Observation, ServiceState
from vrmonitor.services.ladder import Ladder
from vrmonitor.services.snapshot import ServiceSnapshot
from vrmonitor.system.identity import ProcessIdentity

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

BLOCKING = {"config": "configuration test failed, not restarting",
            "unknown": "the init system does not know this service",
            "stopped": "stopped through systemd, not restarting"}


class Phase(Enum):
    UNSEEN = "unseen"
    WATCHING = "watching"
    HELD = "held"
    WAITING = "waiting"
    RECOVERING = "recovering"
    SETTLING = "settling"
    TRIAL = "trial"


@dataclass(frozen=True)
class Outcome:
    """What a recovery job did: restarted | failed | config | unknown | stopped | deferred."""
    kind: str
    detail: str


# --- effects, carried out by ServiceMonitor in the order given ---

@dataclass(frozen=True)
class Alert:
    severity: str
    name: str
    text: str


@dataclass(frozen=True)
class StartRecovery:
    seen: ProcessIdentity | None  # the process last seen up, to tell a namesake on its PID


@dataclass(frozen=True)
class Watch:
    pid: int  # learn its exit by event (a pidfd), unless one is watched already


@dataclass(frozen=True)
class Unwatch:
    pass


@dataclass(frozen=True)
class CameUp:
    pass  # the service came up (the daemon primes its config gate then)


@dataclass
class ServiceRecord:
    entry: ServiceEntry
    since: float  # wall time of the last state change
    phase: Phase = Phase.UNSEEN
    due: float | None = None  # monotonic; WAITING: the attempt, SETTLING: give up, TRIAL: came up
    state: ServiceState | None = None  # the last verdict; None until first judged
    reason: str = "not checked yet"
    identity: ProcessIdentity | None = None  # the process judged up now, else None
    # The process last seen up, kept while the service is down and across a daemon restart:
    # if its PID turns up again, start ticks tell whether it is the same process or a namesake.
    seen: ProcessIdentity | None = None
    seen_up: bool = False  # since the daemon started (or in the state it carried on from)
    failed_attempts: int = 0
    parked: bool = False
    blocked: str | None = None  # why restarting is pointless now (config, unknown service, ...)
    crash_loop: bool = False  # died on trial: restarts climb the ladder until one holds
    down_alerted: bool = False
    last_reminder: float = 0.0  # monotonic
    degraded_probes: int = 0
    # Monotonic times (the same clock in every process of one boot): a wall clock step of
    # hours must not keep restarts "in the last hour", or drop them from it.
    restarts: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    restarted_at: float | None = None  # wall time of the last successful restart by vrmonitor
    last_action: str = ""
    last_outcome: str = ""
    restarts_total: int = 0  # restarts seen, by vrmonitor or by the init system (never reset)
    restart_failures_total: int = 0  # attempts that did not bring it back (never reset)

    @property
    def name(self) -> str:
        return self.entry.processname

    @property
    def busy(self) -> bool:
        """A recovery is under way: its completion, not a verification, judges the service."""
        return self.phase in (Phase.RECOVERING, Phase.SETTLING)

    @property
    def on_trial(self) -> float | None:
        """When the restart on trial came up (monotonic), else None."""
        return self.due if self.phase is Phase.TRIAL else None

    def next_due(self, now: float) -> float | None:
        if self.phase is Phase.WAITING:
            return self.due
        if self.phase is Phase.SETTLING:
            assert self.due is not None  # SETTLING is entered with its give-up time
            return min(self.due, now + SETTLE_POLL)
        return None

    def snapshot(self, now: float) -> ServiceSnapshot:
        recent = tuple(t for t in self.restarts if now - t <= HOUR)
        return ServiceSnapshot(
            processname=self.entry.processname, servicename=self.entry.servicename,
            state=self.state.value if self.state else "unknown", since=self.since,
            reason=self.reason, pid=self.identity.pid if self.identity else None,
            recovering=self.busy, parked=self.parked, blocked=self.blocked,
            crash_loop=self.crash_loop, restarts_last_hour=len(recent),
            restarted_at=self.restarted_at, last_action=self.last_action,
            last_outcome=self.last_outcome, restart_monotonic=recent,
            failed_attempts=self.failed_attempts, down_alerted=self.down_alerted,
            seen_up=self.seen_up, on_trial_monotonic=self.on_trial,
            seen_pid=self.seen.pid if self.seen else None,
            seen_start_ticks=self.seen.start_ticks if self.seen else None,
            restarts_total=self.restarts_total, restart_failures_total=self.restart_failures_total)


class Lifecycle:
    """The decisions for every service, under one [services] table."""

    def __init__(self, settings, reminder_interval: float, rng):
        """settings: config.settings.ServiceSettings; reminder_interval: seconds, 0 for none;
        rng: a random.Random for the ladder's jitter."""
        self.configure(settings, reminder_interval)
        self._rng = rng

    def configure(self, settings, reminder_interval: float) -> None:
        self._settings = settings
        self._ladder = Ladder.from_settings(settings)
        self._reminder_interval = reminder_interval

    @property
    def parked_reprobe(self) -> float:
        return self._ladder.parked_reprobe

    # --- inputs ---

    def observed(self, r: ServiceRecord, seen: Observation, probe, now: float, wall: float,
                 booting: bool = False) -> list:
        """A verification. probe: the functional probe's ProbeResult of a live process, or
        None; booting: whether the router is still booting (matters only for a down service)."""
        effects: list = []
        if r.busy:
            return effects
        if seen.state is ServiceState.UP and probe is not None and not probe.ok:
            r.degraded_probes += 1
            self._degraded(r, now, wall, probe.detail, seen.identity, effects)
            return effects
        r.degraded_probes = 0
        if seen.state is ServiceState.UP:
            assert seen.identity is not None  # an Observation judged UP names its process
            self._up(r, seen.identity, seen.reason, now, wall, False, effects)
        else:
            self._down(r, now, wall, seen.reason, booting, effects)
        return effects

    def exited(self, r: ServiceRecord, seen: Observation, probe, now: float, wall: float,
               booting: bool = False) -> list:
        """The watched process exited, and the service was judged again at once."""
        gone = r.identity
        effects = [Unwatch(), *self.observed(r, seen, probe, now, wall, booting)]
        if gone is not None and r.state is ServiceState.UP and r.identity != gone:
            # Already back when looked at (its unit restarts it at once): still a crash that the
            # server must hear of, as the reference reports a service found running again.
            r.restarts_total += 1
            effects.append(Alert("ALERT", r.name, "The process detected as running"))
        return effects

    def attempt_due(self, r: ServiceRecord, now: float) -> list:
        if r.phase is not Phase.WAITING:
            return []
        assert r.due is not None  # WAITING is entered with the attempt's time (_wait, carry_over)
        if now < r.due:
            return []
        r.phase, r.due = Phase.RECOVERING, None
        r.last_action = f"restart attempt {r.failed_attempts + 1}"
        return [StartRecovery(r.seen)]

    def job_done(self, r: ServiceRecord, outcome: Outcome, now: float) -> list:
        effects: list = []
        if r.phase is not Phase.RECOVERING:
            return effects
        r.last_outcome = f"{outcome.kind}: {outcome.detail}".strip().rstrip(":")
        if outcome.kind == "restarted":
            r.restarts.append(now)
            r.restarts_total += 1
            r.phase, r.due = Phase.SETTLING, now + SETTLE
        elif outcome.kind in BLOCKING:
            self._block(r, now, outcome, effects)
        elif outcome.kind == "deferred":  # systemd is starting it: no attempt of ours, look again
            r.reason = outcome.detail
            self._wait(r, now + DEFER_RECHECK)
        else:
            self._failed_attempt(r, now, outcome.detail, effects)
        return effects

    def settle_observed(self, r: ServiceRecord, seen: Observation, now: float, wall: float) -> list:
        """A look for the process a successful restart should have started."""
        effects: list = []
        if r.phase is not Phase.SETTLING:
            return effects
        assert r.due is not None  # SETTLING is entered with its give-up time
        if seen.state is ServiceState.UP:
            assert seen.identity is not None  # an Observation judged UP names its process
            r.restarted_at = wall
            self._up(r, seen.identity, seen.reason, now, wall, True, effects)
        elif now >= r.due:
            self._failed_attempt(r, now, f"restart reported success but {seen.reason}", effects)
        return effects

    def reload(self, r: ServiceRecord) -> None:
        """SIGHUP: a parked service gets a fresh budget."""
        if r.parked:
            r.parked, r.failed_attempts = False, 0

    # --- transitions ---

    def _up(self, r: ServiceRecord, identity: ProcessIdentity, reason: str, now: float,
            wall: float, by_us: bool, effects: list) -> None:
        was = r.state
        if was is ServiceState.DOWN and r.seen_up and not by_us:
            r.restarts_total += 1  # back by another hand (its unit's Restart=, an operator)
        if was is not ServiceState.UP:
            r.since = wall
            effects.append(CameUp())
            if by_us and not r.crash_loop:
                effects.append(self._recovered(r))
            elif not by_us and (r.down_alerted or was is ServiceState.DEGRADED) and r.on_trial is None:
                effects.append(Alert("ALERT", r.name, "The process detected as running"))
        r.state, r.reason, r.identity, r.seen = ServiceState.UP, reason, identity, identity
        r.seen_up = True
        effects.append(Watch(identity.pid))
        if by_us:  # judged later: the ladder and the alerts carry on until the restart holds
            r.phase, r.due = Phase.TRIAL, now
        elif r.on_trial is None or now - r.on_trial >= self._ladder.stable_after:
            self._settled(r, effects)

    def _settled(self, r: ServiceRecord, effects: list) -> None:
        """Up by itself, or long enough after our restart: the ladder starts afresh."""
        if r.crash_loop:
            effects.append(self._recovered(r))
        r.phase, r.due = Phase.WATCHING, None
        r.failed_attempts, r.parked, r.blocked = 0, False, None
        r.down_alerted, r.crash_loop = False, False

    def _recovered(self, r: ServiceRecord) -> Alert:
        name = r.entry.servicename or r.name
        return Alert("INFO", name, f"The process {name} is recovered successfully ")

    def _down(self, r: ServiceRecord, now: float, wall: float, reason: str, booting: bool,
              effects: list) -> None:
        r.identity = None
        effects.append(Unwatch())
        if r.state is not ServiceState.DOWN:
            r.state, r.since = ServiceState.DOWN, wall
        r.reason = reason
        if r.phase is Phase.TRIAL:
            assert r.due is not None  # TRIAL is entered with the time the restart came up
            if now - r.due < self._ladder.stable_after:
                self._died_on_trial(r, now, reason, effects)
                return
            self._settled(r, effects)  # it held (no verification came between): a new failure
        if not r.down_alerted:
            if not r.seen_up and booting:
                if r.phase is not Phase.WAITING:  # a degraded process's restart stays due
                    r.phase = Phase.HELD
                r.reason = f"{reason} (router still booting: not alerted or restarted yet)"
                return
            r.down_alerted, r.last_reminder = True, now
            # Written before the attempt starts: a daemon killed in between must not leave a
            # service restarted with no line saying it was down (tests/faults, kill mid-write).
            effects.append(Alert("INFO", r.name, f"The process {r.name} is not running trying recover"))
            self._wait(r, now)
            return
        if r.phase is not Phase.WAITING:
            # Alerted already and nothing due (a state carried over): parked ones are re-tried
            # only after parked_reprobe.
            self._wait(r, now + (self._ladder.parked_reprobe if r.parked else 0.0))
        self._remind(r, now, effects)

    def _died_on_trial(self, r: ServiceRecord, now: float, reason: str, effects: list) -> None:
        """Down within stable_after of a restart by vrmonitor: that restart failed after all."""
        assert r.due is not None  # only called in TRIAL, entered with the time it came up
        detail = f"exited {now - r.due:.1f} s after its restart ({reason})"
        if not r.crash_loop:
            r.crash_loop = True
            effects.append(Alert("ALERT", r.name, f"The process {r.name} is crash looping: {detail}; "
                                                  "restarts now wait on the ladder"))
        self._failed_attempt(r, now, detail, effects)

    def _degraded(self, r: ServiceRecord, now: float, wall: float, detail: str, identity,
                  effects: list) -> None:
        if r.state is not ServiceState.DEGRADED:
            r.state, r.since = ServiceState.DEGRADED, wall
            effects.append(Alert("ALERT", r.name, f"The process {r.name} is running but not serving: {detail}"))
            r.last_reminder = now
        r.reason, r.identity, r.seen = f"running but not serving: {detail}", identity, identity
        if r.phase in (Phase.UNSEEN, Phase.HELD):
            r.phase = Phase.WATCHING
        effects.append(Watch(identity.pid))
        if r.degraded_probes >= DEGRADED_RESTART_AFTER and r.phase is not Phase.WAITING and not r.parked:
            self._wait(r, now)
        self._remind(r, now, effects)

    def _remind(self, r: ServiceRecord, now: float, effects: list) -> None:
        interval = self._reminder_interval
        if interval and now - r.last_reminder >= interval:
            r.last_reminder = now
            since = datetime.fromtimestamp(r.since).strftime("%Y-%m-%d %H:%M:%S")
            assert r.state is not None  # called after _down or _degraded set the verdict
            effects.append(Alert("ALERT", r.name, f"The process {r.name} is still {r.state.value} "
                                                  f"since {since}: {r.reason}"))

    def _failed_attempt(self, r: ServiceRecord, now: float, detail: str, effects: list) -> None:
        r.failed_attempts += 1
        r.restart_failures_total += 1
        r.reason = detail or r.reason
        if self._ladder.exhausted(r.failed_attempts, self._settings.restart_attempts_for(r.entry.section)):
            if not r.parked:
                r.parked = True
                effects.append(Alert(
                    "ALERT", r.name, f"The process {r.name} recover failed: {r.failed_attempts} restarts "
                    f"did not bring it back ({detail}); re-checked every "
                    f"{self._ladder.parked_reprobe:g} s without restarting"))
            self._wait(r, now + self._ladder.parked_reprobe)
        else:
            self._wait(r, now + self._ladder.delay_before(r.failed_attempts + 1, self._rng))

    def _block(self, r: ServiceRecord, now: float, outcome: Outcome, effects: list) -> None:
        blocked = f"{BLOCKING[outcome.kind]}: {outcome.detail}"
        r.restart_failures_total += 1
        if r.blocked != blocked:
            effects.append(Alert("ALERT", r.name, f"The process {r.name} recover failed: {blocked}"))
        r.blocked, r.parked = blocked, True
        # Re-tried (config test first) at the parked interval: fixing the config brings it back.
        self._wait(r, now + self._ladder.parked_reprobe)

    @staticmethod
    def _wait(r: ServiceRecord, due: float) -> None:
        r.phase, r.due = Phase.WAITING, due
