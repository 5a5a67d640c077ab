"""The daemon watching the real Debian daemons: detect, recover, report (issue 4).

Each test starts `vrmonitor run --foreground` on a temporary root whose /etc/monitor.conf names
the real services started by the fixtures (through `service`, bound to loopback). The sysv
backend runs for real; the init scripts restart the daemons for real.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import SSHD_DROPIN, SSHD_EDITS

PROJECT = Path(__file__).resolve().parents[2]
WITHIN = 40.0


class Monitor:
    """A running vrmonitor daemon on a temporary root, and what it wrote."""

    def __init__(self, root: Path, sections: str, toml: str = ""):
        self.root = root
        (root / "etc/vrmonitor").mkdir(parents=True, exist_ok=True)
        (root / "etc/monitor.conf").write_text(sections)
        (root / "etc/vrmonitor/vrmonitor.toml").write_text(toml)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vrmonitor", "--root", str(root), "run", "--foreground"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})

    def state(self) -> dict:
        try:
            return json.loads((self.root / "var/lib/vrmonitor/daemon.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def service_state(self, section: str) -> dict:
        return self.state().get("services", {}).get(section, {})

    def alerts(self) -> list[str]:
        log = self.root / "var/log/routerServiceMonitor.log"
        if not log.exists():
            return []
        return [line.split(" ", 2)[2] for line in log.read_text().splitlines() if line]

    def wait(self, condition, what: str, within: float = WITHIN):
        end = time.monotonic() + within
        while time.monotonic() < end:
            value = condition()
            if value:
                return value
            assert self.process.poll() is None, f"daemon exited: {self.process.stderr.read()}"
            time.sleep(0.05)
        raise AssertionError(f"not within {within} s: {what}; alerts: {self.alerts()}; "
                             f"state: {self.state()}")

    def status(self, *args) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(self.root), "status", *args],
                              capture_output=True, text=True, env={"PYTHONPATH": str(PROJECT)})
        return done.returncode, done.stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0


@pytest.fixture
def monitor(tmp_path):
    started = []

    def start(sections: str, toml: str = "") -> Monitor:
        m = Monitor(tmp_path, sections, toml)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


def section(name: str, daemon) -> str:
    return (f"[{name}]\nprocessname={daemon.processname}\nservicename={daemon.servicename}\n"
            f"pidfile={daemon.pidfile}\n")


@pytest.mark.daemons
def test_kill_9_of_each_real_daemon_is_detected_recovered_and_reported(real_daemon, monitor):
    m = monitor(section("svc", real_daemon))
    first = real_daemon.wait_running()
    m.wait(lambda: m.service_state("svc").get("state") == "up", "service seen up")
    assert m.alerts() == []  # healthy: nothing written
    os.kill(first, signal.SIGKILL)
    recovered = f"[INFO] [{real_daemon.servicename}] The process {real_daemon.servicename} is recovered successfully "
    m.wait(lambda: recovered in m.alerts(), "recovery alert")
    assert m.alerts() == [
        f"[INFO] [{real_daemon.processname}] The process {real_daemon.processname} is not running trying recover",
        recovered]
    assert real_daemon.wait_running(other_than=first) != first
    m.wait(lambda: m.service_state("svc").get("state") == "up", "service up again")
    code, out = m.status("--json")
    report = json.loads(out)
    assert code == 0 and report["failing"] == []
    assert report["services"]["svc"]["restarts_last_hour"] == 1
    assert report["services"]["svc"]["last_action"] == "restart attempt 1", report
    code, text = m.status()
    assert code == 0 and "restart attempt 1 -> restarted" in text


@pytest.mark.daemons
def test_apache_orphans_are_cleared_before_the_restart(real_apache, monitor):
    m = monitor(section("webserver", real_apache))
    master = real_apache.wait_running()
    m.wait(lambda: m.service_state("webserver").get("state") == "up", "apache seen up")
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                               text=True).stdout.split()]
    assert workers, "apache2 should have workers"
    os.kill(master, signal.SIGKILL)
    m.wait(lambda: any("recovered successfully" in a for a in m.alerts()), "apache recovered")
    new_master = real_apache.wait_running(other_than=master)
    for worker in workers:  # the orphans of the killed master are gone, not serving stale
        assert not Path(f"/proc/{worker}").exists() or _is_zombie(worker)
    assert new_master != master


@pytest.mark.daemons
def test_a_broken_haproxy_config_gives_one_alert_and_no_restart_loop(real_haproxy, edit_file, monitor):
    m = monitor(section("loadbalancing", real_haproxy),
                "[services]\nverify_interval = 0.5\nparked_reprobe_interval = 600\n")
    first = real_haproxy.wait_running()
    m.wait(lambda: m.service_state("loadbalancing").get("state") == "up", "haproxy seen up")
    edit_file("/etc/haproxy/haproxy.cfg", "global\n    no-such-directive on\n")
    os.kill(first, signal.SIGKILL)
    m.wait(lambda: any("configuration test failed" in a for a in m.alerts()), "config alert")
    time.sleep(3)  # ample for a loop to show: verifications every 0.5 s
    alerts = m.alerts()
    assert alerts[0] == "[INFO] [haproxy] The process haproxy is not running trying recover"
    assert len(alerts) == 2
    assert alerts[1].startswith("[ALERT] [haproxy] The process haproxy recover failed: configuration "
                                "test failed, not restarting: ")
    assert "no-such-directive" in alerts[1]  # the tool's own message
    assert real_haproxy.running_pid() is None
    state = m.service_state("loadbalancing")
    assert state["parked"] and state["restarts_last_hour"] == 0


def _sshd_crash_without_its_runtime_folder(real_sshd, edit_file, monitor, dropin_extra: str) -> "Monitor":
    """sshd seen up; then its config edited (so the gate must test it again), /run/sshd
    removed as ssh.service's RuntimeDirectory= removes it when the unit stops, and kill -9."""
    m = monitor(section("ssh", real_sshd))
    first = real_sshd.wait_running()
    m.wait(lambda: m.service_state("ssh").get("state") == "up", "ssh seen up")
    time.sleep(1.0)  # the gate's background test of the running config (~50 ms) is done
    edit_file(SSHD_DROPIN, SSHD_EDITS[SSHD_DROPIN] + dropin_extra)
    shutil.rmtree("/run/sshd")
    os.kill(first, signal.SIGKILL)
    return m


@pytest.mark.daemons
def test_sshd_killed_with_its_runtime_folder_gone_is_restarted_without_a_config_alert(
        real_sshd, edit_file, monitor):
    """Issue 13: `sshd -t` fails without /run/sshd, which the start itself creates."""
    m = _sshd_crash_without_its_runtime_folder(real_sshd, edit_file, monitor,
                                               "# edited by the test\n")
    recovered = "[INFO] [ssh] The process ssh is recovered successfully "
    m.wait(lambda: recovered in m.alerts(), "recovery alert")
    assert m.alerts() == ["[INFO] [sshd] The process sshd is not running trying recover", recovered]
    real_sshd.wait_running()
    assert os.path.isdir("/run/sshd")


@pytest.mark.daemons
def test_a_broken_sshd_config_still_blocks_with_sshds_message(real_sshd, edit_file, monitor):
    m = _sshd_crash_without_its_runtime_folder(real_sshd, edit_file, monitor, "NoSuchOption yes\n")
    m.wait(lambda: any("configuration test failed" in a for a in m.alerts()), "config alert")
    alerts = m.alerts()
    assert alerts[0] == "[INFO] [sshd] The process sshd is not running trying recover"
    assert len(alerts) == 2
    assert alerts[1] == (
        "[ALERT] [sshd] The process sshd recover failed: configuration test failed, not "
        f"restarting: {SSHD_DROPIN}: line 4: Bad configuration option: NoSuchOption "
        f"{SSHD_DROPIN}: terminating, 1 bad configuration options")
    assert real_sshd.running_pid() is None


def test_a_service_that_cannot_start_is_parked_after_a_bounded_ladder(tmp_path, monitor):
    calls = tmp_path / "calls"
    script = Path("/etc/init.d/vrmonitor-test-broken")
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\necho 'cannot start: missing library' >&2\nexit 1\n")
    script.chmod(0o755)
    sleeper = subprocess.Popen(["sleep", "300"])
    pidfile = tmp_path / "broken.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    try:
        m = monitor(f"[broken]\nprocessname=sleep\nservicename=vrmonitor-test-broken\npidfile={pidfile}\n",
                    "[services]\nrestart_attempts = 3\nbackoff_initial = 0.1\nbackoff_max = 0.2\n"
                    "parked_reprobe_interval = 600\n")
        m.wait(lambda: m.service_state("broken").get("state") == "up", "seen up")
        sleeper.kill()
        sleeper.wait()
        m.wait(lambda: m.service_state("broken").get("parked"), "parked")
        time.sleep(1.5)
        assert calls.read_text().splitlines() == ["restart"] * 3
        alerts = m.alerts()
        assert len(alerts) == 2
        assert alerts[1].startswith("[ALERT] [sleep] The process sleep recover failed: 3 restarts did "
                                    "not bring it back (")
        assert "cannot start: missing library" in alerts[1]
        code, text = m.status()
        assert code == 1 and "down (parked)" in text
    finally:
        script.unlink()
        if sleeper.poll() is None:
            sleeper.kill()


@pytest.mark.daemons
def test_a_service_removed_from_monitor_conf_is_no_longer_monitored(real_sshd, monitor):
    m = monitor(section("ssh", real_sshd), "[services]\nverify_interval = 0.3\n")
    pid = real_sshd.wait_running()
    m.wait(lambda: m.service_state("ssh").get("state") == "up", "ssh seen up")
    (m.root / "etc/monitor.conf").write_text("")
    m.wait(lambda: "ssh" not in m.state().get("services", {"ssh": 1}), "ssh dropped")
    os.kill(pid, signal.SIGKILL)
    time.sleep(1.5)
    assert m.alerts() == [] and real_sshd.running_pid() is None


@pytest.mark.daemons
def test_bad_sections_are_reported_each_and_the_others_keep_being_monitored(real_sshd, tmp_path, monitor):
    garbage = tmp_path / "garbage.pid"
    garbage.write_text("not a pid\n")
    m = monitor(section("ssh", real_sshd)
                + "[nameless]\nservicename=x\npidfile=/run/x.pid\n"
                + f"[garbage]\nprocessname=sleep\nservicename=vrmonitor-test-none\npidfile={garbage}\n"
                + "[unreadable]\nprocessname=sleep\nservicename=vrmonitor-test-none\npidfile=/proc/1/mem\n")
    real_sshd.wait_running()
    m.wait(lambda: m.service_state("garbage").get("blocked"), "garbage judged")
    m.wait(lambda: m.service_state("unreadable").get("blocked"), "unreadable judged")
    services = m.state()["services"]
    assert set(services) == {"ssh", "garbage", "unreadable"}  # [nameless] skipped
    assert services["ssh"]["state"] == "up"
    assert services["garbage"]["reason"] == f"pidfile {garbage} holds 'not a pid', not a PID"
    assert services["unreadable"]["reason"].startswith("pidfile /proc/1/mem cannot be read")
    assert services["garbage"]["blocked"] == ("the init system does not know this service: "
                                              "sysv has no service 'vrmonitor-test-none'")
    m.stop()
    assert "/etc/monitor.conf: [nameless].processname: missing; service skipped" in m.process.stderr.read()


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
