"""The systemd backend, against a fake `systemctl` first on PATH; init-system detection.

systemd is faked because it cannot run as PID 1 on the test machines (and the real
systemctl cannot operate without it); the fake records its argv and plays back unit states
from a JSON file. The SysV backend runs for real in tests/integration/test_initsys.py.
"""

import os

import pytest

from tests.fakes import install_systemctl
from vrmonitor.system.initsys import (RECOVERING, RESET_AND_RESTART, RESTART, STOPPED, UNKNOWN,
                                      ActionResult, Assessment, Systemd, SysV, detect_init_system)
from vrmonitor.system.process import Completed

UNITS = {
    "haproxy": {"ActiveState": "active", "SubState": "running", "Result": "success",
                "Restart": "no", "LoadState": "loaded"},
    "dnsmasq": {"ActiveState": "failed", "SubState": "failed", "Result": "start-limit-hit",
                "Restart": "on-failure", "LoadState": "loaded",
                "restart_exit": 1,
                "restart_output": "Job for dnsmasq.service failed.\nSee \"systemctl status "
                                  "dnsmasq.service\" and \"journalctl -xeu dnsmasq.service\" "
                                  "for details."},
    "apache2": {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code",
                "Restart": "always", "LoadState": "loaded"},
    "sshd": {"ActiveState": "activating", "SubState": "auto-restart", "Result": "signal",
             "Restart": "on-failure", "LoadState": "loaded"},
    "job": {"ActiveState": "activating", "SubState": "start-pre", "Result": "success",
            "Restart": "no", "LoadState": "loaded"},
    "stopped": {"ActiveState": "inactive", "SubState": "dead", "Result": "success",
                "Restart": "no", "LoadState": "loaded", "InactiveExitTimestampMonotonic": "812345"},
    "never-started": {"ActiveState": "inactive", "SubState": "dead", "Result": "success",
                      "Restart": "no", "LoadState": "loaded", "InactiveExitTimestampMonotonic": "0"},
    "crashed": {"ActiveState": "inactive", "SubState": "dead", "Result": "signal",
                "Restart": "no", "LoadState": "loaded"},
}


@pytest.fixture
def systemctl(tmp_path, monkeypatch):
    fake = install_systemctl(tmp_path, UNITS)
    monkeypatch.setenv("PATH", f"{fake.bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name, value in fake.env.items():
        monkeypatch.setenv(name, value)
    return fake


def test_restart_runs_systemctl_restart(systemctl):
    assert Systemd().restart("haproxy") == ActionResult(True, "")
    assert systemctl.calls() == [["restart", "haproxy"]]


def test_restart_failure_carries_systemctls_message(systemctl):
    result = Systemd().restart("dnsmasq")
    assert not result.ok
    assert result.detail.startswith("Job for dnsmasq.service failed.\n")
    assert result.detail.endswith("(systemctl restart dnsmasq exited with status 1)")


def test_restart_of_an_unknown_unit(systemctl):
    result = Systemd().restart("nosuch")
    assert result == ActionResult(False, "Failed to restart nosuch.service: Unit nosuch.service "
                                         "not found.\n(systemctl restart nosuch exited with "
                                         "status 5)")


@pytest.mark.parametrize("unit, verdict, detail", [
    ("haproxy", RESTART, "active/running, result success"),  # its process is gone all the same
    ("dnsmasq", RESET_AND_RESTART, "failed/failed, result start-limit-hit"),
    ("apache2", RESTART, "failed/failed, result exit-code"),  # restart needs no reset
    ("sshd", RECOVERING, "activating/auto-restart, result signal"),  # its own Restart=
    ("job", RECOVERING, "activating/start-pre, result success"),
    ("stopped", STOPPED, "inactive/dead, result success"),  # systemctl stop
    ("never-started", RESTART, "inactive/dead, result success"),  # not since boot: start it
    ("crashed", RESTART, "inactive/dead, result signal"),
    ("nosuch", UNKNOWN, "systemd has no unit 'nosuch'"),
])
def test_assess_reads_what_systemd_is_doing(systemctl, unit, verdict, detail):
    assert Systemd().assess(unit) == Assessment(verdict, detail)


def test_reset_failed_runs_systemctl_reset_failed(systemctl):
    Systemd().reset_failed("dnsmasq")
    assert systemctl.calls() == [["reset-failed", "dnsmasq"]]


def test_knows_is_false_only_for_not_found(systemctl):
    systemd = Systemd()
    assert systemd.knows("haproxy")
    assert not systemd.knows("nosuch")


def test_show_parses_every_property(systemctl):
    assert Systemd().show("apache2") == {"ActiveState": "failed", "SubState": "failed",
                                         "Result": "exit-code", "Restart": "always",
                                         "LoadState": "loaded",
                                         "InactiveExitTimestampMonotonic": "0"}


def test_when_systemctl_cannot_answer(systemctl, caplog):
    """A broken systemctl: no start limit, no restart policy, and restart is still tried."""
    systemctl.units_file.write_text("not json")
    systemd = Systemd()
    assert systemd.show("haproxy") is None
    assert systemd.assess("haproxy") == Assessment(RESTART, "systemctl show did not answer")
    assert systemd.knows("haproxy")
    assert "exited with status 1" in caplog.text


def test_names_that_are_not_units_are_refused_without_running_anything(systemctl):
    systemd = Systemd()
    for name in ("", "--all", "../x", "a b"):
        assert systemd.restart(name) == ActionResult(False, f"invalid service name {name!r}")
        assert not systemd.knows(name)
    assert systemctl.calls() == []


def test_missing_systemctl(monkeypatch, tmp_path):
    monkeypatch.setattr("vrmonitor.system.initsys.FALLBACK_DIRS", ())
    monkeypatch.setenv("PATH", str(tmp_path))
    assert Systemd().restart("haproxy") == ActionResult(
        False, "cannot run systemctl: not found on PATH")


class Recorder:
    """A runner seam: records the call, answers with a canned Completed."""

    def __init__(self, returncode=0, stdout=b"", stderr=b"", timed_out=False):
        self.calls = []
        self.answer = (returncode, stdout, stderr, timed_out)

    def __call__(self, argv, *, timeout, cap, kill_leftovers):
        self.calls.append((tuple(argv), timeout, kill_leftovers))
        returncode, stdout, stderr, timed_out = self.answer
        return Completed(tuple(argv), returncode, stdout, stderr, False, False, timed_out, 0.1)


def test_sysv_runs_service_restart_and_leaves_the_daemons(tmp_path):
    (tmp_path / "haproxy").write_text("#!/bin/sh\n")
    runner = Recorder(stdout=b"Restarting haproxy: haproxy.\n")
    result = SysV(runner=runner, init_dir=str(tmp_path)).restart("haproxy", timeout=7)
    assert result == ActionResult(True, "Restarting haproxy: haproxy.")
    ((argv, timeout, kill_leftovers),) = runner.calls
    assert os.path.basename(argv[0]) == "service" and argv[1:] == ("haproxy", "restart")
    assert timeout == 7 and kill_leftovers is False


def test_sysv_timeout_and_long_output(tmp_path):
    (tmp_path / "apache2").write_text("#!/bin/sh\n")
    runner = Recorder(returncode=-9, stderr=b"x" * 5000 + b"the end", timed_out=True)
    result = SysV(runner=runner, init_dir=str(tmp_path)).restart("apache2", timeout=3)
    assert not result.ok
    assert result.detail.endswith("the end\n(service apache2 restart timed out after 3 s)")
    assert len(result.detail) < 2100


def test_sysv_without_an_init_script(tmp_path):
    runner = Recorder()
    sysv = SysV(runner=runner, init_dir=str(tmp_path))
    assert sysv.restart("haproxy") == ActionResult(False, f"no init script {tmp_path}/haproxy")
    assert not sysv.knows("haproxy")
    assert runner.calls == []


def test_detect_systemd_when_run_systemd_system_is_a_directory(tmp_path):
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    assert detect_init_system(str(tmp_path)).name == "systemd"


def test_detect_sysv_otherwise(tmp_path):
    assert detect_init_system(str(tmp_path)).name == "sysv"
    (tmp_path / "run/systemd").mkdir(parents=True)
    (tmp_path / "run/systemd/system").write_text("")  # a file is not the directory
    assert detect_init_system(str(tmp_path)).name == "sysv"


@pytest.mark.parametrize("unit, kind, calls", [
    ("dnsmasq", "failed", [["reset-failed", "dnsmasq"], ["restart", "dnsmasq"]]),  # start limit
    ("haproxy", "restarted", [["restart", "haproxy"]]),
    ("sshd", "deferred", []),  # systemd's own Restart= is under way: never fought
    ("stopped", "stopped", []),  # systemctl stop: on purpose
    ("nosuch", "unknown", []),
])
def test_recovery_under_systemd_does_what_the_unit_state_calls_for(systemctl, tmp_path, unit,
                                                                   kind, calls):
    from vrmonitor.cloudstack.monitor_conf import ServiceEntry
    from vrmonitor.services.recovery import recover

    entry = ServiceEntry("section", "vrmonitor-no-config-test", unit, str(tmp_path / "none.pid"))
    outcome = recover(entry, Systemd())
    assert outcome.kind == kind, outcome
    assert [call for call in systemctl.calls() if call[0] != "show"] == calls


def test_the_restart_policy_is_learnt_once_and_says_whether_the_unit_restarts_itself(systemctl):
    init = Systemd()
    assert not init.restarts_itself("apache2")  # not learnt yet: nothing assumed
    init.learn("apache2")
    init.learn("apache2")
    init.learn("haproxy")
    assert [call[:2] for call in systemctl.calls()] == [["show", "apache2"], ["show", "haproxy"]]
    assert init.restarts_itself("apache2")  # Restart=always
    assert not init.restarts_itself("haproxy")  # Restart=no
    sysv = SysV(init_dir="/nonexistent")
    sysv.learn("apache2")
    assert not sysv.restarts_itself("apache2")


class SteppedClock:
    """Monotonic time that moves only when slept; calls `on_sleep(n)` at the n-th sleep."""

    def __init__(self, on_sleep):
        self.now, self.sleeps, self._on_sleep = 0.0, [], on_sleep

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.sleeps.append(seconds)
        self._on_sleep(len(self.sleeps))


def _this_process_as_a_service(tmp_path):
    from vrmonitor.cloudstack.monitor_conf import ServiceEntry

    pidfile = tmp_path / "service.pid"
    name = open("/proc/self/comm").read().strip()
    return ServiceEntry("section", name, "apache2", str(pidfile)), pidfile


def test_a_unit_that_restarts_itself_is_waited_for_without_asking_systemd(systemctl, tmp_path):
    """While the unit's own Restart= brings the service back, systemd is not asked: a question
    to PID 1 then only slows the start down. The looks in between grow apart."""
    from vrmonitor.services.recovery import recover

    entry, pidfile = _this_process_as_a_service(tmp_path)
    init = Systemd()
    init.learn("apache2")
    asked = len(systemctl.calls())
    clock = SteppedClock(lambda n: n == 3 and pidfile.write_text(f"{os.getpid()}\n"))
    outcome = recover(entry, init, clock=clock)
    assert outcome.kind == "deferred" and "running again" in outcome.detail, outcome
    assert len(systemctl.calls()) == asked
    assert clock.sleeps == [0.02, 0.04, 0.08]


def test_a_unit_that_does_not_restart_itself_after_all_is_asked_about_then_restarted(systemctl,
                                                                                    tmp_path):
    """A policy learnt earlier may not act (a start limit, a changed unit): after the patience
    systemd is asked, and what it says decides."""
    from vrmonitor.services.recovery import OWN_RESTART_PATIENCE, recover

    entry, _ = _this_process_as_a_service(tmp_path)
    init = Systemd()
    init.learn("apache2")
    asked = len(systemctl.calls())
    clock = SteppedClock(lambda n: None)
    outcome = recover(entry, init, clock=clock)
    assert outcome.kind == "restarted", outcome
    assert [call[:2] for call in systemctl.calls()[asked:]] == [["show", "apache2"],
                                                                ["restart", "apache2"]]
    assert OWN_RESTART_PATIENCE <= sum(clock.sleeps) < OWN_RESTART_PATIENCE + 0.25
    assert max(clock.sleeps) == 0.25
