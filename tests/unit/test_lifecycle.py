"""The service monitor's decisions (services/lifecycle.py) as tables, on a fake clock.

Each row: the record's starting phase and facts, one input (an observation, a job's outcome,
an attempt falling due) at a time T, and the phase, facts and effects that must follow. No
process, no thread, no clock: times are plain numbers. The same decisions on real processes:
tests/integration/test_monitor_processes.py.
"""

from dataclasses import replace
from datetime import datetime

import pytest

from vrmonitor.cloudstack.monitor_conf import ServiceEntry
from vrmonitor.config.settings import ServiceSettings
from vrmonitor.services.carry_over import restored
from vrmonitor.services.detect import Observation, ServiceState
from vrmonitor.services.lifecycle import (Alert, CameUp, Lifecycle, Outcome, Phase, ServiceRecord,
                                          StartRecovery, Unwatch, Watch)
from vrmonitor.services.probes import ProbeResult
from vrmonitor.system.identity import ProcessIdentity

ENTRY = ServiceEntry("svc", "sleep", "sleepsvc", "/run/svc.pid")
SETTINGS = ServiceSettings(restart_attempts=3, backoff_initial=1.0, backoff_max=4.0,
                           parked_reprobe_interval=300.0, stable_after=60.0)
FIRST = ProcessIdentity(42, "sleep", "/usr/bin/sleep", 1.0, 100)
SECOND = ProcessIdentity(43, "sleep", "/usr/bin/sleep", 2.0, 200)
UP = Observation(ServiceState.UP, FIRST, "sleep running as PID 42")
UP_AGAIN = Observation(ServiceState.UP, SECOND, "sleep running as PID 43")
DOWN = Observation(ServiceState.DOWN, None, "pidfile /run/svc.pid is missing")
FAILING = ProbeResult(False, "dns query timed out")
WALL = 1_700_000_000.0
T = 1000.0  # the monotonic time of every row's input


class NoJitter:
    """The ladder's waits without their +-20%."""

    @staticmethod
    def uniform(low, high):
        return 1.0


def lifecycle(reminder_interval: float = 0.0) -> Lifecycle:
    return Lifecycle(SETTINGS, reminder_interval, NoJitter())


def record(phase: Phase, **facts) -> ServiceRecord:
    r = ServiceRecord(ENTRY, since=WALL - 100, phase=phase)
    for name, value in facts.items():
        setattr(r, name, value)
    return r


INFO_DOWN = Alert("INFO", "sleep", "The process sleep is not running trying recover")
RECOVERED = Alert("INFO", "sleepsvc", "The process sleepsvc is recovered successfully ")
FOUND_RUNNING = Alert("ALERT", "sleep", "The process detected as running")
UP_FACTS = {"state": ServiceState.UP, "identity": FIRST, "seen": FIRST, "seen_up": True}
DOWN_FACTS = {"state": ServiceState.DOWN, "seen": FIRST, "seen_up": True, "down_alerted": True}


def observed(observation, probe=None, booting=False):
    return lambda lc, r: lc.observed(r, observation, probe, T, WALL, booting)


def outcome(kind, detail=""):
    return lambda lc, r: lc.job_done(r, Outcome(kind, detail), T)


def settled(observation):
    return lambda lc, r: lc.settle_observed(r, observation, T, WALL)


def attempt(lc, r):
    return lc.attempt_due(r, T)


ROWS = [
    # (name, start phase, start facts, input, phase after, due after, effects, facts after)
    ("first sight up", Phase.UNSEEN, {}, observed(UP),
     Phase.WATCHING, None, [CameUp(), Watch(42)], {"state": ServiceState.UP, "seen_up": True}),
    ("first sight down", Phase.UNSEEN, {}, observed(DOWN),
     Phase.WAITING, T, [Unwatch(), INFO_DOWN], {"down_alerted": True, "state": ServiceState.DOWN}),
    ("down while booting, never seen up", Phase.UNSEEN, {}, observed(DOWN, booting=True),
     Phase.HELD, None, [Unwatch()], {"down_alerted": False}),
    ("held, then up", Phase.HELD, {"state": ServiceState.DOWN}, observed(UP),
     Phase.WATCHING, None, [CameUp(), Watch(42)], {}),
    ("seen up before: booting does not hold it", Phase.WATCHING, UP_FACTS, observed(DOWN, booting=True),
     Phase.WAITING, T, [Unwatch(), INFO_DOWN], {}),
    ("up and staying up", Phase.WATCHING, UP_FACTS, observed(UP),
     Phase.WATCHING, None, [Watch(42)], {}),
    ("attempt due", Phase.WAITING, {**DOWN_FACTS, "due": T}, attempt,
     Phase.RECOVERING, None, [StartRecovery(FIRST)], {"last_action": "restart attempt 1"}),
    ("attempt not due yet", Phase.WAITING, {**DOWN_FACTS, "due": T + 1}, attempt,
     Phase.WAITING, T + 1, [], {}),
    ("a verification while recovering", Phase.RECOVERING, DOWN_FACTS, observed(UP),
     Phase.RECOVERING, None, [], {"state": ServiceState.DOWN}),
    ("restart reported ok", Phase.RECOVERING, DOWN_FACTS, outcome("restarted"),
     Phase.SETTLING, T + 3, [], {"last_outcome": "restarted"}),
    ("restart failed: the ladder's next step", Phase.RECOVERING, DOWN_FACTS, outcome("failed", "no"),
     Phase.WAITING, T + 1, [], {"failed_attempts": 1, "reason": "no", "parked": False}),
    ("third failure: parked, one ALERT", Phase.RECOVERING, {**DOWN_FACTS, "failed_attempts": 2},
     outcome("failed", "no"), Phase.WAITING, T + 300,
     [Alert("ALERT", "sleep", "The process sleep recover failed: 3 restarts did not bring it back "
                              "(no); re-checked every 300 s without restarting")],
     {"parked": True, "failed_attempts": 3}),
    ("parked already: no second ALERT", Phase.RECOVERING,
     {**DOWN_FACTS, "failed_attempts": 3, "parked": True}, outcome("failed", "no"),
     Phase.WAITING, T + 300, [], {"failed_attempts": 4}),
    ("broken config: blocked, one ALERT", Phase.RECOVERING, DOWN_FACTS, outcome("config", "line 3"),
     Phase.WAITING, T + 300,
     [Alert("ALERT", "sleep", "The process sleep recover failed: configuration test failed, "
                              "not restarting: line 3")],
     {"parked": True, "blocked": "configuration test failed, not restarting: line 3", "failed_attempts": 0}),
    ("the same block again: silent", Phase.RECOVERING,
     {**DOWN_FACTS, "blocked": "configuration test failed, not restarting: line 3"},
     outcome("config", "line 3"), Phase.WAITING, T + 300, [], {}),
    ("systemd restarts it itself: no attempt counted", Phase.RECOVERING, DOWN_FACTS,
     outcome("deferred", "systemd is starting it"), Phase.WAITING, T + 1, [],
     {"failed_attempts": 0, "reason": "systemd is starting it"}),
    ("restarted and up: on trial", Phase.SETTLING, {**DOWN_FACTS, "due": T + 3}, settled(UP_AGAIN),
     Phase.TRIAL, T, [CameUp(), RECOVERED, Watch(43)],
     {"restarted_at": WALL, "state": ServiceState.UP, "down_alerted": True}),
    ("restarted, not up yet", Phase.SETTLING, {**DOWN_FACTS, "due": T + 1}, settled(DOWN),
     Phase.SETTLING, T + 1, [], {}),
    ("restarted, never came up", Phase.SETTLING, {**DOWN_FACTS, "due": T}, settled(DOWN),
     Phase.WAITING, T + 1, [],
     {"failed_attempts": 1, "reason": "restart reported success but pidfile /run/svc.pid is missing"}),
    ("held for stable_after: settled", Phase.TRIAL, {**UP_FACTS, "due": T - 60, "down_alerted": True},
     observed(UP), Phase.WATCHING, None, [Watch(42)], {"down_alerted": False}),
    ("still on trial", Phase.TRIAL, {**UP_FACTS, "due": T - 10, "down_alerted": True}, observed(UP),
     Phase.TRIAL, T - 10, [Watch(42)], {"down_alerted": True}),
    ("died on trial: crash loop, one ALERT", Phase.TRIAL, {**UP_FACTS, "due": T - 10, "down_alerted": True},
     observed(DOWN), Phase.WAITING, T + 1,
     [Unwatch(), Alert("ALERT", "sleep", "The process sleep is crash looping: exited 10.0 s after "
                                         "its restart (pidfile /run/svc.pid is missing); restarts now "
                                         "wait on the ladder")],
     {"crash_loop": True, "failed_attempts": 1}),
    ("died on trial again: no second ALERT", Phase.TRIAL,
     {**UP_FACTS, "due": T - 10, "down_alerted": True, "crash_loop": True, "failed_attempts": 1},
     observed(DOWN), Phase.WAITING, T + 2, [Unwatch()], {"failed_attempts": 2}),
    ("a crash loop's restart holds: one INFO", Phase.TRIAL,
     {**UP_FACTS, "due": T - 60, "crash_loop": True, "parked": True, "failed_attempts": 5},
     observed(UP), Phase.WATCHING, None, [Watch(42), RECOVERED],
     {"crash_loop": False, "parked": False, "failed_attempts": 0}),
    ("died after stable_after: a new failure", Phase.TRIAL, {**UP_FACTS, "due": T - 61},
     observed(DOWN), Phase.WAITING, T, [Unwatch(), INFO_DOWN], {"crash_loop": False}),
    ("parked, then up by itself", Phase.WAITING, {**DOWN_FACTS, "parked": True, "due": T + 100},
     observed(UP), Phase.WATCHING, None, [CameUp(), FOUND_RUNNING, Watch(42)], {"parked": False}),
    ("parked and still down: waits for its re-probe", Phase.WAITING,
     {**DOWN_FACTS, "parked": True, "due": T + 100}, observed(DOWN), Phase.WAITING, T + 100, [Unwatch()], {}),
    ("alive but not serving", Phase.WATCHING, UP_FACTS, observed(UP, FAILING),
     Phase.WATCHING, None,
     [Alert("ALERT", "sleep", "The process sleep is running but not serving: dns query timed out"),
      Watch(42)], {"state": ServiceState.DEGRADED, "degraded_probes": 1}),
    ("third failed probe: a restart is due", Phase.WATCHING,
     {**UP_FACTS, "state": ServiceState.DEGRADED, "degraded_probes": 2}, observed(UP, FAILING),
     Phase.WAITING, T, [Watch(42)], {"degraded_probes": 3}),
    ("degraded, serving again", Phase.WATCHING,
     {**UP_FACTS, "state": ServiceState.DEGRADED, "degraded_probes": 2}, observed(UP),
     Phase.WATCHING, None, [CameUp(), FOUND_RUNNING, Watch(42)], {"degraded_probes": 0}),
]


@pytest.mark.parametrize("name, start, facts, given, phase, due, effects, after", ROWS,
                         ids=[row[0] for row in ROWS])
def test_decisions(name, start, facts, given, phase, due, effects, after):
    r = record(start, **facts)
    assert given(lifecycle(), r) == effects
    assert (r.phase, r.due) == (phase, due)
    assert {key: getattr(r, key) for key in after} == after


def test_a_process_back_before_its_exit_was_handled_is_reported_as_found_running():
    r = record(Phase.WATCHING, **UP_FACTS)
    effects = lifecycle().exited(r, UP_AGAIN, None, T, WALL)
    assert effects == [Unwatch(), Watch(43), FOUND_RUNNING]
    assert (r.phase, r.identity) == (Phase.WATCHING, SECOND)


def test_a_service_that_stays_down_is_reminded_once_per_interval():
    r = record(Phase.WAITING, **DOWN_FACTS, due=T + 100, reason="gone", last_reminder=T - 3600)
    since = datetime.fromtimestamp(r.since).strftime("%Y-%m-%d %H:%M:%S")
    lc = lifecycle(reminder_interval=3600)
    assert lc.observed(r, DOWN, None, T, WALL) == [
        Unwatch(), Alert("ALERT", "sleep", f"The process sleep is still down since {since}: "
                                           "pidfile /run/svc.pid is missing")]
    assert lc.observed(r, DOWN, None, T + 10, WALL) == [Unwatch()]


def test_a_reload_gives_a_parked_service_a_fresh_budget():
    r = record(Phase.WAITING, **DOWN_FACTS, parked=True, failed_attempts=3, due=T + 300)
    lifecycle().reload(r)
    assert (r.parked, r.failed_attempts, r.phase, r.due) == (False, 0, Phase.WAITING, T + 300)


def test_a_service_override_sets_its_own_budget():
    from vrmonitor.config.settings import ServiceOverride

    settings = replace(SETTINGS, override={"svc": ServiceOverride(restart_attempts=1)})
    r = record(Phase.RECOVERING, **DOWN_FACTS)
    effects = Lifecycle(settings, 0.0, NoJitter()).job_done(r, Outcome("failed", "no"), T)
    assert r.parked and effects[0].text.startswith("The process sleep recover failed: 1 restarts")


def test_the_next_moment_is_the_attempt_or_the_next_look_while_settling():
    assert record(Phase.WAITING, due=T + 5).next_due(T) == T + 5
    assert record(Phase.SETTLING, due=T + 3).next_due(T) == T + 0.05
    assert record(Phase.SETTLING, due=T + 0.01).next_due(T) == T + 0.01
    assert record(Phase.TRIAL, due=T).next_due(T) is None


def test_the_snapshot_keeps_daemon_json_s_keys_order_and_values():
    r = record(Phase.TRIAL, **UP_FACTS, due=T - 5, crash_loop=True, failed_attempts=2,
               restarted_at=WALL, last_action="restart attempt 2", last_outcome="restarted")
    r.restarts.extend([T - 4000, T - 5])
    assert r.snapshot(T).to_dict() == {
        "processname": "sleep", "servicename": "sleepsvc", "state": "up", "since": WALL - 100,
        "reason": "not checked yet", "pid": 42, "recovering": False, "parked": False,
        "blocked": None, "crash_loop": True, "restarts_last_hour": 1, "restarted_at": WALL,
        "last_action": "restart attempt 2", "last_outcome": "restarted",
        "restart_monotonic": [T - 5], "failed_attempts": 2, "down_alerted": False,
        "seen_up": True, "on_trial_monotonic": T - 5, "seen_pid": 42, "seen_start_ticks": 100,
        "restarts_total": 0, "restart_failures_total": 0}
    assert list(r.snapshot(T).to_dict()) == list(ServiceRecord(ENTRY, 0.0).snapshot(T).to_dict())
    assert record(Phase.SETTLING).snapshot(T).recovering


@pytest.mark.parametrize("start, facts, phase, due", [
    (Phase.WAITING, {**DOWN_FACTS, "parked": True, "failed_attempts": 3, "due": T}, Phase.WAITING, T + 300),
    (Phase.WAITING, {**DOWN_FACTS, "failed_attempts": 1, "due": T}, Phase.WAITING, T),
    (Phase.TRIAL, {**UP_FACTS, "crash_loop": True, "down_alerted": True, "due": T - 5}, Phase.TRIAL, T - 5),
    (Phase.WATCHING, UP_FACTS, Phase.UNSEEN, None),
])
def test_a_restarted_daemon_carries_the_phase_on(start, facts, phase, due):
    before = record(start, **facts)
    saved = before.snapshot(T).to_dict()
    again = restored(ENTRY, saved, T, WALL, SETTINGS.parked_reprobe_interval)
    assert (again.phase, again.due) == (phase, due)
    assert (again.parked, again.failed_attempts, again.crash_loop, again.down_alerted) == (
        before.parked, before.failed_attempts if before.parked or before.crash_loop or before.down_alerted
        else 0, before.crash_loop, before.down_alerted)
    assert (again.seen.pid, again.seen.start_ticks) == (42, 100)
