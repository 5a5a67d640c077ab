"""The service monitor on real processes, with a scripted recovery job (moved from
tests/unit/test_monitor.py: they start processes).

The services are `sleep` processes this test starts; the init system is replaced by a recovery
job that starts a new one (or fails as told). The real daemons are exercised in
tests/integration/test_service_monitor.py; the decisions alone, on a fake clock, in
tests/unit/test_lifecycle.py.
"""

import os
import random
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, replace

import pytest

from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.cloudstack.monitor_conf import ServiceEntry
from vrmonitor.config.settings import ServiceSettings
from vrmonitor.paths import Paths
from vrmonitor.services.detect import ServiceState, observe
from vrmonitor.services.monitor import Outcome, ServiceMonitor


@dataclass
class FakeInit:
    name: str = "sysv"


class Service:
    """A `sleep` standing in for a daemon, with its pidfile."""

    def __init__(self, folder):
        self.pidfile = folder / "svc.pid"
        self.processes = []

    def start(self):
        process = subprocess.Popen(["sleep", "300"])
        self.processes.append(process)
        self.pidfile.write_text(f"{process.pid}\n")
        return process

    def kill(self):
        process = self.processes[-1]
        process.kill()
        process.wait()

    def stop_all(self):
        for process in self.processes:
            process.kill()
            process.wait()


class Harness:
    def __init__(self, tmp_path, settings, script, reminder_interval=0, probe=None, **extra):
        self.paths = Paths(tmp_path)
        self.service = Service(tmp_path)
        self.entry = ServiceEntry("svc", "sleep", "sleepsvc", str(self.service.pidfile))
        self.entries = (self.entry,)
        self.script = list(script)  # outcomes the recovery job plays, last one repeats
        self.calls = []
        self.seen_by_recovery = []  # (pid, start ticks) of the process last seen up, per call
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.monitor = ServiceMonitor(lambda: (self.entries, self.entries), settings,
                                      AlertWriter(self.paths), FakeInit(), self.selector,
                                      lambda: os.write(self.wake_w, b"x"),
                                      recover_job=self.recover, rng=random.Random(1),
                                      reminder_interval=reminder_interval, probe=probe, **extra)

    def recover(self, entry, init, seen):
        self.calls.append(time.monotonic())
        self.seen_by_recovery.append((seen.pid, seen.start_ticks) if seen else None)
        outcome = self.script[0] if len(self.script) == 1 else self.script.pop(0)
        if callable(outcome):
            return outcome()
        if outcome == "start":
            self.service.start()
            return Outcome("restarted", "")
        return outcome

    def drive(self, seconds, until=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.monitor.tick(time.monotonic())
            if until is not None and until():
                return True
            timeout = max(0.0, min(self.monitor.next_due(), end) - time.monotonic())
            for key, _ in self.selector.select(min(timeout, 0.05)):
                if key.data is None:
                    try:
                        os.read(self.wake_r, 512)
                    except BlockingIOError:
                        pass
                else:
                    key.data()
        return until() if until else False

    def alerts(self):
        if not self.paths.alert_log.exists():
            return []
        return [line.split(" ", 2)[2] for line in self.paths.alert_log.read_text().splitlines() if line]

    def close(self):
        self.monitor.close()
        self.service.stop_all()


SETTINGS = ServiceSettings(verify_interval=60.0, restart_attempts=3, backoff_initial=0.05,
                           backoff_max=0.1, parked_reprobe_interval=0.6)


@pytest.fixture
def make(tmp_path):
    made = []

    def factory(script=("start",), settings=SETTINGS, **monitor_options):
        harness = Harness(tmp_path, settings, script, **monitor_options)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()


def state(h):
    return h.monitor.watched["svc"].state


def test_a_healthy_service_writes_no_alert(make):
    h = make()
    h.service.start()
    h.drive(0.3)
    assert state(h) is ServiceState.UP
    assert h.alerts() == [] and h.calls == []


def test_a_kill_is_seen_by_event_and_recovered_with_the_reference_lines(make):
    h = make(["start"])
    h.service.start()
    h.drive(0.2)
    killed_at = time.monotonic()
    h.service.kill()
    # verify_interval is 60 s: only the pidfd event can explain a reaction within this drive.
    assert h.drive(5, until=lambda: state(h) is ServiceState.UP and h.calls)
    assert h.calls[0] - killed_at < SETTINGS.verify_interval
    assert h.alerts() == ["[INFO] [sleep] The process sleep is not running trying recover",
                          "[INFO] [sleepsvc] The process sleepsvc is recovered successfully "]
    snapshot = h.monitor.snapshot(time.time())["svc"]
    assert snapshot["restarts_last_hour"] == 1 and snapshot["state"] == "up"


def test_a_zombie_is_down(make):
    h = make(["start"])
    process = h.service.start()
    h.drive(0.2)
    os.kill(process.pid, signal.SIGKILL)  # not reaped: a zombie of this test process
    assert h.drive(5, until=lambda: h.calls)
    assert "The process sleep is not running trying recover" in h.alerts()[0]
    process.wait()


def test_a_broken_config_raises_one_alert_and_no_restart_loop(make):
    h = make([Outcome("config", "dnsmasq: bad option at line 3 of /etc/dnsmasq.conf")])
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    h.drive(2.0)
    # One attempt, then one re-try per parked interval (0.6 s): never a loop.
    assert 1 <= len(h.calls) <= 4
    config_alerts = [a for a in h.alerts() if "configuration test failed" in a]
    assert config_alerts == ["[ALERT] [sleep] The process sleep recover failed: configuration test "
                             "failed, not restarting: dnsmasq: bad option at line 3 of /etc/dnsmasq.conf"]
    assert h.monitor.watched["svc"].parked


def test_a_service_that_cannot_start_is_parked_after_the_ladder(make):
    h = make([Outcome("failed", "start-stop-daemon: unable to start")])
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(10, until=lambda: h.monitor.watched["svc"].parked)
    assert len(h.calls) == SETTINGS.restart_attempts  # the ladder, then parked
    h.drive(1.5)
    assert SETTINGS.restart_attempts < len(h.calls) <= SETTINGS.restart_attempts + 3
    failed = [a for a in h.alerts() if "recover failed" in a]
    assert failed == ["[ALERT] [sleep] The process sleep recover failed: 3 restarts did not bring "
                      "it back (start-stop-daemon: unable to start); re-checked every 0.6 s without restarting"]


def test_a_parked_service_that_comes_back_by_itself_is_reported(make):
    h = make([Outcome("failed", "no")], settings=replace(SETTINGS, verify_interval=0.1))
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(10, until=lambda: h.monitor.watched["svc"].parked)
    h.service.start()  # an operator starts it by hand; the periodic verification finds it
    assert h.drive(3, until=lambda: state(h) is ServiceState.UP)
    assert h.alerts()[-1] == "[ALERT] [sleep] The process detected as running"  # contract 2.4
    assert not h.monitor.watched["svc"].parked


def test_a_service_removed_from_monitor_conf_is_no_longer_watched(make):
    h = make()
    h.service.start()
    h.drive(0.1)
    h.entries = ()
    h.monitor.reload()  # what SIGHUP does; a changed file is also seen at the next verification
    h.drive(0.1)
    assert h.monitor.watched == {}
    h.service.kill()
    h.drive(0.3)
    assert h.calls == [] and h.alerts() == []


@pytest.fixture
def sleeping(tmp_path):
    """A `sleep` and a pidfile naming it: (process, pidfile)."""
    process = subprocess.Popen(["sleep", "300"])
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{process.pid}\n")
    yield process, pidfile
    process.kill()
    process.wait()


def backdate(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_stale_pidfile_naming_a_namesake_is_down(sleeping):
    namesake, pidfile = sleeping
    backdate(pidfile, 3600)
    seen = observe("sleep", str(pidfile))
    assert seen.state is ServiceState.DOWN and seen.stale_pidfile
    assert seen.reason == f"pidfile {pidfile} is stale: written before PID {namesake.pid} (sleep) started"


def test_a_reused_pid_is_down_and_its_pidfile_stale(sleeping):
    process, pidfile = sleeping
    first = observe("sleep", str(pidfile))
    assert first.state is ServiceState.UP
    assert observe("sleep", str(pidfile), known=first.identity).state is ServiceState.UP
    # The `sleep` seen before on this PID started 100 ticks earlier: this one is another.
    before = replace(first.identity, start_ticks=first.identity.start_ticks - 100)
    seen = observe("sleep", str(pidfile), known=before)
    assert seen.state is ServiceState.DOWN and seen.stale_pidfile
    assert seen.reason.startswith(f"pidfile {pidfile} is stale: PID {process.pid} was reused "
                                  "by another sleep (started at ")


def test_a_process_seen_before_stays_up_when_the_wall_clock_makes_its_pidfile_look_stale(sleeping):
    """After the wall clock steps forward an hour, the kernel's boot time moves with it, and a
    process started before the step seems to have started an hour after its pidfile was written.
    The process seen up before is recognised by its start ticks, which no step moves."""
    _, pidfile = sleeping
    seen_up = observe("sleep", str(pidfile))
    assert seen_up.state is ServiceState.UP
    backdate(pidfile, 3600)
    assert observe("sleep", str(pidfile)).stale_pidfile  # a stranger would be judged so
    again = observe("sleep", str(pidfile), known=seen_up.identity)
    assert again.state is ServiceState.UP and again.identity == seen_up.identity


def test_a_service_that_stays_down_gets_reminders_not_a_flood(make):
    h = make([Outcome("failed", "no")], settings=replace(SETTINGS, verify_interval=0.1),
             reminder_interval=0.4)
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(5, until=lambda: h.monitor.watched["svc"].parked)
    h.drive(1.0)
    reminders = [a for a in h.alerts() if "is still down since" in a]
    assert 1 <= len(reminders) <= 4
    assert reminders[0].startswith("[ALERT] [sleep] The process sleep is still down since ")


def test_a_service_stopped_through_systemd_is_left_alone_with_one_alert(make):
    stopped = Outcome("stopped", "sleepsvc was stopped on purpose (inactive/dead, result success); "
                                 "'systemctl start sleepsvc' resumes it")
    h = make([stopped], settings=replace(SETTINGS, verify_interval=0.1))
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(5, until=lambda: h.monitor.watched["svc"].parked)
    h.drive(0.3)
    assert len(h.calls) == 1
    assert h.alerts() == [
        "[INFO] [sleep] The process sleep is not running trying recover",
        "[ALERT] [sleep] The process sleep recover failed: stopped through systemd, not "
        "restarting: sleepsvc was stopped on purpose (inactive/dead, result success); "
        "'systemctl start sleepsvc' resumes it"]
    h.drive(1.0)  # re-checked at the parked interval: still stopped, nothing said again
    assert len(h.calls) >= 2 and len(h.alerts()) == 2
    h.service.start()  # the operator starts it again
    assert h.drive(3, until=lambda: state(h) is ServiceState.UP)
    assert h.alerts()[-1] == "[ALERT] [sleep] The process detected as running"


def test_while_systemd_restarts_a_service_vrmonitor_waits_and_counts_no_attempt(make, monkeypatch):
    """The unit's own Restart= is never fought: more deferrals than restart_attempts park
    nothing, and the service systemd brought back is reported as found running."""
    monkeypatch.setattr("vrmonitor.services.lifecycle.DEFER_RECHECK", 0.05)
    deferred = Outcome("deferred", "systemd is starting sleepsvc itself (activating/auto-restart)")

    def systemd_brings_it_back():
        h.service.start()
        return deferred

    h = make([deferred] * (SETTINGS.restart_attempts + 2) + [systemd_brings_it_back],
             settings=replace(SETTINGS, verify_interval=0.1))
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(5, until=lambda: h.calls)
    assert h.drive(5, until=lambda: state(h) is ServiceState.UP)
    assert len(h.calls) == SETTINGS.restart_attempts + 3
    assert not h.monitor.watched["svc"].parked
    assert h.alerts() == ["[INFO] [sleep] The process sleep is not running trying recover",
                          "[ALERT] [sleep] The process detected as running"]


def test_a_crash_repaired_before_it_was_looked_at_is_still_reported_once(make):
    """A unit with Restart= and RestartSec=0 can have its service back before vrmonitor reads
    the pidfile: the death event alone says it crashed. No recovery of vrmonitor's runs."""
    h = make(["start"])
    first = h.service.start()
    h.drive(0.2)
    h.service.kill()
    h.service.start()  # back, with a new PID, before the exit event is handled
    h.drive(0.5)
    assert state(h) is ServiceState.UP and h.calls == []
    assert h.monitor.watched["svc"].identity.pid != first.pid
    assert h.alerts() == ["[ALERT] [sleep] The process detected as running"]
    h.drive(0.3)  # the new process is watched: nothing more is said
    assert len(h.alerts()) == 1


def test_alive_but_not_serving_is_degraded_then_restarted(make, tmp_path):
    from vrmonitor.services.probes import ProbeResult

    verdicts = iter([ProbeResult(True, "ok")] + [ProbeResult(False, "dns query timed out")] * 3)
    h = make(["start"], settings=replace(SETTINGS, verify_interval=0.1),
             probe=lambda entry: next(verdicts, ProbeResult(True, "ok")))
    h.service.start()
    assert h.drive(5, until=lambda: h.calls)
    assert h.alerts()[0] == "[ALERT] [sleep] The process sleep is running but not serving: dns query timed out"
    assert h.drive(5, until=lambda: state(h) is ServiceState.UP)


def test_a_booting_router_holds_back_alerts_and_restarts_for_services_not_yet_started(make):
    booting = [True]
    h = make(["start"], settings=replace(SETTINGS, verify_interval=0.1), booting=lambda: booting[0])
    h.drive(0.4)  # the service has not been started yet: the router is still booting
    assert h.alerts() == [] and h.calls == []
    assert "router still booting" in h.monitor.watched["svc"].reason
    booting[0] = False  # boot configuration done (or grace over)
    assert h.drive(5, until=lambda: state(h) is ServiceState.UP)
    assert h.alerts()[0] == "[INFO] [sleep] The process sleep is not running trying recover"


def test_a_restarted_daemon_carries_on_without_re_alerting(make):
    h = make([Outcome("failed", "no")], settings=replace(SETTINGS, verify_interval=0.1))
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(5, until=lambda: h.monitor.watched["svc"].parked)
    before = h.monitor.snapshot(time.time())
    alerts_before = h.alerts()
    h.monitor.close()
    # The next daemon on the same boot starts from that snapshot.
    again = make([Outcome("failed", "no")], settings=replace(SETTINGS, verify_interval=0.1),
                 previous=before)
    again.drive(0.3)
    assert again.alerts() == alerts_before  # nothing re-alerted
    restored = again.monitor.watched["svc"]
    assert restored.parked and restored.state is ServiceState.DOWN
    assert again.calls == []  # parked: not restarted before its re-probe time


def test_a_restarted_daemon_tells_a_namesake_on_the_pid_it_saw(make):
    h = make(["start"], settings=replace(SETTINGS, verify_interval=0.1))
    running = h.service.start()
    assert h.drive(1, until=lambda: state(h) is ServiceState.UP)
    before = h.monitor.snapshot(time.time())
    assert before["svc"]["seen_pid"] == running.pid
    h.monitor.close()
    # The previous daemon saw another process on this PID (it started 5 ticks earlier): the
    # `sleep` there now is a namesake, however fresh its pidfile looks.
    before["svc"]["seen_start_ticks"] -= 5
    earlier = before["svc"]["seen_start_ticks"]
    again = make(["start"], settings=replace(SETTINGS, verify_interval=0.1), previous=before)
    assert again.drive(3, until=lambda: len(again.calls) == 1)
    assert again.alerts()[-1] == "[INFO] [sleep] The process sleep is not running trying recover"
    assert again.seen_by_recovery == [(running.pid, earlier)]


class CrashingService(Service):
    """Starts `sleep 0.2` while `crashing`: a service that dies right after every start."""

    crashing = True

    def start(self):
        process = subprocess.Popen(["sleep", "0.2" if self.crashing else "300"])
        self.processes.append(process)
        self.pidfile.write_text(f"{process.pid}\n")
        return process


CRASH_SETTINGS = replace(SETTINGS, verify_interval=0.1, stable_after=1.0, parked_reprobe_interval=1.0)


def test_a_crash_loop_climbs_the_ladder_with_one_alert_and_recovers_when_it_holds(make):
    h = make(["start"], settings=CRASH_SETTINGS)
    h.service = CrashingService(h.service.pidfile.parent)
    h.service.crashing = False
    h.service.start()
    h.drive(0.2)
    h.service.crashing = True
    h.service.kill()
    # Restarted, dies 0.2 s later, three times (the ladder's 3 attempts), then parked.
    assert h.drive(10, until=lambda: h.monitor.watched["svc"].parked)
    assert len(h.calls) == 3
    gaps = [b - a for a, b in zip(h.calls, h.calls[1:])]
    assert all(gap >= 0.2 for gap in gaps), gaps  # never back to back: the dead one waited
    lines = h.alerts()
    assert lines[:3] == ["[INFO] [sleep] The process sleep is not running trying recover",
                         "[INFO] [sleepsvc] The process sleepsvc is recovered successfully ",
                         lines[2]]
    assert lines[2].startswith("[ALERT] [sleep] The process sleep is crash looping: exited ")
    assert lines[2].endswith("restarts now wait on the ladder")
    assert len(lines) == 4 and lines[3].startswith(
        "[ALERT] [sleep] The process sleep recover failed: 3 restarts did not bring it back (exited ")
    snapshot = h.monitor.snapshot(time.time())["svc"]
    assert snapshot["crash_loop"] and snapshot["parked"]
    # Parked: one restart a second (the re-probe interval), and no alert per cycle.
    h.drive(2.5)
    assert 4 <= len(h.calls) <= 6 and len(h.alerts()) == 4
    # The cause goes away: the next re-probe's restart holds for stable_after, one INFO says so.
    h.service.crashing = False
    assert h.drive(5, until=lambda: not h.monitor.watched["svc"].crash_loop)
    assert h.alerts()[4:] == ["[INFO] [sleepsvc] The process sleepsvc is recovered successfully "]
    w = h.monitor.watched["svc"]
    assert w.state is ServiceState.UP and not w.parked and w.failed_attempts == 0


def test_a_restarted_daemon_carries_a_crash_loop_on_without_a_second_alert(make):
    h = make(["start"], settings=CRASH_SETTINGS)
    h.service = CrashingService(h.service.pidfile.parent)
    h.service.start()
    assert h.drive(5, until=lambda: h.monitor.watched["svc"].crash_loop and h.monitor.watched["svc"].on_trial)
    before = h.monitor.snapshot(time.time())
    alerts_before = h.alerts()
    assert alerts_before[-1].startswith("[ALERT] [sleep] The process sleep is crash looping")
    h.monitor.close()
    # The next daemon on the same boot: the restart on trial dies, and the ladder goes on.
    again = make(["start"], settings=CRASH_SETTINGS, previous=before)
    again.service = h.service
    assert again.drive(10, until=lambda: again.monitor.watched["svc"].parked)
    new = again.alerts()[len(alerts_before):]
    assert len(new) == 1 and new[0].startswith(
        "[ALERT] [sleep] The process sleep recover failed: 3 restarts did not bring it back"), new
    assert len(h.calls) + len(again.calls) == 3  # one ladder across both daemons


def test_a_restart_that_holds_is_not_a_crash_loop(make):
    h = make(["start"], settings=CRASH_SETTINGS)
    h.service.start()
    h.drive(0.2)
    for _ in range(2):  # two kills, each after the restart held for stable_after
        h.service.kill()
        assert h.drive(5, until=lambda: state(h) is ServiceState.UP and h.monitor.watched["svc"].on_trial)
        h.drive(1.3)
    assert h.alerts() == ["[INFO] [sleep] The process sleep is not running trying recover",
                          "[INFO] [sleepsvc] The process sleepsvc is recovered successfully "] * 2
    assert not h.monitor.watched["svc"].crash_loop and h.monitor.watched["svc"].failed_attempts == 0


def test_a_service_override_sets_its_own_restart_budget(make):
    from vrmonitor.config.settings import ServiceOverride

    settings = replace(SETTINGS, override={"svc": ServiceOverride(restart_attempts=1)})
    h = make([Outcome("failed", "no")], settings=settings)
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(5, until=lambda: h.monitor.watched["svc"].parked)
    assert len(h.calls) == 1


def test_a_death_after_stable_after_is_a_new_failure_even_before_a_verification(make):
    h = make(["start"], settings=replace(CRASH_SETTINGS, verify_interval=60.0))
    h.service.start()
    h.drive(0.2)
    h.service.kill()
    assert h.drive(5, until=lambda: state(h) is ServiceState.UP and h.monitor.watched["svc"].on_trial)
    h.drive(1.2)  # past stable_after (1 s); no verification has come since the restart
    h.service.kill()
    assert h.drive(5, until=lambda: len(h.alerts()) == 4)
    assert h.alerts() == ["[INFO] [sleep] The process sleep is not running trying recover",
                          "[INFO] [sleepsvc] The process sleepsvc is recovered successfully "] * 2


def test_a_service_found_back_when_its_recovery_defers_is_judged_at_once(make):
    """A recovery job that finds the service running again (its unit's Restart= brought it
    back) defers; the monitor looks at once, not after the deferral's recheck or the next
    verification: the crash is reported and the new process watched."""
    def its_unit_brings_it_back():
        h.service.start()
        return Outcome("deferred", "sleepsvc is running again, started by systemd or an operator")

    h = make([its_unit_brings_it_back, Outcome("failed", "a second job: must not run")])
    h.service.start()
    h.drive(0.1)
    h.service.kill()
    assert h.drive(5, until=lambda: h.calls)
    assert h.drive(0.5, until=lambda: state(h) is ServiceState.UP)  # the recheck is 1 s away
    assert len(h.calls) == 1
    assert h.alerts() == ["[INFO] [sleep] The process sleep is not running trying recover",
                          "[ALERT] [sleep] The process detected as running"]
