"""vrmonitor under real systemd as PID 1, on a guest laid out as a CloudStack router (issue 14).

Each test leaves the four services and the daemon running, so the module's tests share one
boot. What is shown here cannot be shown on the build machine, which has no systemd:
- the unit: readiness, status, reload, stop, the watchdog, the sandbox (it must hold the job),
  the journal's priorities, the security score;
- recovery next to the units' own restart policies: a crash that systemd repairs is reported
  once and never restarted a second time (dnsmasq too, through the package's drop-in), a crash
  systemd leaves alone (an administrator's Restart=no) is repaired,
  a failed unit (start-limit-hit) is reset and started, a unit stopped on purpose is left
  stopped, and a service restarted by vrmonitor lives in its own unit's cgroup;
- the management server's path over ssh, every answer parsed as the server parses it.

Not enforced here, and so not tested: MemoryMax=, CPUQuota=, TasksMax= (the build machine binds
every controller to cgroup v1; system-vm-testbed.md, pitfall 6).
"""

import json
import re
import time

import pytest

from tests import ms_parsers
from tests.systemvm.guest import MGMT_IP
from tests.systemvm import layout
from tests.systemvm.layout import MONITORED

pytestmark = [pytest.mark.systemvm, pytest.mark.root]

WITHIN = 40.0
ALERT_LOG = "/var/log/routerServiceMonitor.log"


def wait(condition, what: str, within: float = WITHIN, describe=lambda: ""):
    return layout.wait(condition, what, within, describe)


def alerts(router) -> list[str]:
    """The alert log's lines after their timestamps (`[INFO] [name] text`)."""
    path = router.guest.path(ALERT_LOG)
    if not path.exists():
        return []
    return [line.split(" ", 2)[2] for line in path.read_text().splitlines() if line]


def journal(router, *units: str, lines: int = 60) -> str:
    argv = ["journalctl", "-b", "--no-pager", "-n", str(lines)]
    for unit in units:
        argv += ["-u", unit]
    return router.guest.run(argv).stdout


def daemon_state(router) -> dict:
    try:
        return json.loads(router.guest.path("/var/lib/vrmonitor/daemon.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def service_state(router, section: str) -> dict:
    return daemon_state(router).get("services", {}).get(section, {})


def main_pid(router, unit: str) -> int:
    return int(router.unit_show(unit, "MainPID")[0] or 0)


def all_up(router) -> bool:
    return all(router.unit_state(unit) == "active" and service_state(router, section).get("state") == "up"
               for section, _, unit, _ in MONITORED)


@pytest.fixture(scope="module", autouse=True)
def quick_trial(router):
    """stable_after 2 s instead of 60: a service vrmonitor restarted is judged stable soon, so
    the next test's kill or stop is a new event, not a crash loop of the last one."""
    router.guest.path("/etc/vrmonitor/vrmonitor.toml").write_text("[services]\nstable_after = 2\n")
    router.guest.run(["systemctl", "reload", "vrmonitor"], check=True)


def stable(router) -> bool:
    return all(s.get("on_trial_monotonic") is None for s in daemon_state(router).get("services", {}).values())


@pytest.fixture
def settled(router):
    """Every service active and seen up by the daemon before and after the test; the alerts
    the test caused, from a mark."""
    describe = lambda: journal(router, "vrmonitor")  # noqa: E731
    wait(lambda: all_up(router) and stable(router), "all four services up, seen up and stable",
         describe=describe)
    mark = len(alerts(router))
    yield lambda: alerts(router)[mark:]
    wait(lambda: all_up(router), "all four services up again after the test", describe=describe)


# --- the unit -----------------------------------------------------------------------------------

def test_the_daemon_writes_the_result_files_under_its_sandbox(router):
    """ProtectHome= once kept /root read-only although ReadWritePaths=/root: the files the
    management server fetches were never written by the daemon."""
    for kind in ("basic", "advanced"):
        path = router.guest.path(f"/root/{kind}_monitor_results.json")
        wait(path.exists, f"{path} written by the daemon", describe=lambda: journal(router, "vrmonitor"))
        document = json.loads(path.read_text())
        assert "lastRun" in document
    assert "Read-only file system" not in journal(router, "vrmonitor", lines=400)


def test_start_waits_for_ready_and_status_reload_and_stop(router, settled):
    done = router.guest.run(["systemctl", "restart", "vrmonitor"], timeout=60)
    assert done.returncode == 0, done.stderr
    # Type=notify: `systemctl restart` returns once READY=1 came, the unit is active then.
    assert router.unit_state("vrmonitor") == "active"
    wait(lambda: router.unit_show("vrmonitor", "StatusText")[0].startswith("services up"),
         "STATUS= shown by systemctl")
    status = router.guest.run(["systemctl", "status", "--no-pager", "vrmonitor"]).stdout
    assert re.search(r"^\s+Status: \"services up \d/4", status, re.M), status
    before = main_pid(router, "vrmonitor")
    assert router.guest.run(["systemctl", "reload", "vrmonitor"]).returncode == 0
    time.sleep(0.5)
    assert main_pid(router, "vrmonitor") == before and router.unit_state("vrmonitor") == "active"
    began = time.monotonic()
    assert router.guest.run(["systemctl", "stop", "vrmonitor"], timeout=60).returncode == 0
    stopped_in = time.monotonic() - began
    result = router.unit_show("vrmonitor", "Result")[0]
    assert stopped_in < 20 and result == "success", (stopped_in, result)
    assert router.guest.run(["systemctl", "start", "vrmonitor"], timeout=60).returncode == 0


def test_the_journal_holds_no_error_of_a_healthy_daemon(router):
    done = router.guest.run(["journalctl", "-b", "--no-pager", "-p", "err", "-u", "vrmonitor",
                             "--output", "cat"])
    assert done.stdout.strip() in ("", "-- No entries --"), done.stdout


def test_systemd_analyze_security_scores_at_most_3(router):
    done = router.guest.run(["systemd-analyze", "security", "--no-pager", "vrmonitor.service"])
    score = re.search(r"Overall exposure level for vrmonitor\.service: (\d+\.\d+)", done.stdout)
    assert score, done.stdout + done.stderr
    assert float(score.group(1)) <= 3.0, done.stdout


# --- recovery beside the units' own policies -------------------------------------------------

# Restart= on-failure, always, on-abort, and on-failure from the package's drop-in for dnsmasq.
RESTARTED_BY_SYSTEMD = {"ssh", "dnsmasq", "haproxy", "apache2"}


@pytest.mark.parametrize("section, process, unit, pidfile", MONITORED, ids=[m[0] for m in MONITORED])
def test_kill_9_of_each_service(router, settled, section, process, unit, pidfile):
    before = main_pid(router, unit)
    assert router.guest.run(["kill", "-9", str(before)]).returncode == 0
    describe = lambda: journal(router, unit, "vrmonitor")  # noqa: E731
    wait(lambda: router.unit_state(unit) == "active" and main_pid(router, unit) not in (0, before),
         f"{unit} active with a new main PID", describe=describe)
    after = main_pid(router, unit)
    assert router.guest.run(["cat", pidfile]).stdout.strip() == str(after)
    lines = router.guest.run(["cat", f"/proc/{after}/cgroup"]).stdout.splitlines()
    assert f"0::/system.slice/{unit}.service" in lines, lines  # its own unit's, never vrmonitor's
    found_down = f"[INFO] [{process}] The process {process} is not running trying recover"
    found_up = f"[ALERT] [{process}] The process detected as running"
    assert unit in RESTARTED_BY_SYSTEMD
    # systemd restarts it at once (RestartSec=0): reported, never restarted again. Whether
    # vrmonitor read the pidfile before the new process wrote it is a race of a few ms, so
    # the crash is either found down then running, or found running again (the reference's
    # report of a service that came back by itself); one ALERT either way.
    accepted = ([found_down, found_up], [found_up])
    wait(lambda: found_up in settled() or len(settled()) >= 2, "the alerts of the crash", describe=describe)
    time.sleep(2)  # time enough for a second restart or a further alert to show
    assert settled() in accepted, describe()
    assert main_pid(router, unit) == after  # started once after the kill
    starts = re.findall(r"(?:Started|Starting) ", journal(router, unit, lines=400))
    assert starts, "the unit's journal shows its starts"


def test_a_crash_systemd_leaves_alone_is_repaired_by_vrmonitor(router, settled):
    """An administrator's override (`systemctl edit dnsmasq`: Restart=no) wins over the
    package's drop-in; a crash is then vrmonitor's to repair: restarted once, in its own unit."""
    override = router.guest.path("/etc/systemd/system/dnsmasq.service.d/override.conf")
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("[Service]\nRestart=no\n")
    try:
        assert router.guest.run(["systemctl", "daemon-reload"]).returncode == 0
        assert router.unit_show("dnsmasq", "Restart")[0] == "no"
        before = main_pid(router, "dnsmasq")
        assert router.guest.run(["kill", "-9", str(before)]).returncode == 0
        describe = lambda: journal(router, "dnsmasq", "vrmonitor")  # noqa: E731
        wait(lambda: len(settled()) >= 2, "the alerts of the repair", describe=describe)
        time.sleep(2)  # time enough for a second restart or a further alert to show
        assert settled() == ["[INFO] [dnsmasq] The process dnsmasq is not running trying recover",
                             "[INFO] [dnsmasq] The process dnsmasq is recovered successfully "], describe()
        after = main_pid(router, "dnsmasq")
        assert router.unit_state("dnsmasq") == "active" and after not in (0, before)
        lines = router.guest.run(["cat", f"/proc/{after}/cgroup"]).stdout.splitlines()
        assert "0::/system.slice/dnsmasq.service" in lines, lines
    finally:
        override.unlink()
        router.guest.run(["systemctl", "daemon-reload"])


def test_a_unit_stopped_on_purpose_stays_stopped(router, settled):
    assert router.guest.run(["systemctl", "stop", "dnsmasq"]).returncode == 0
    describe = lambda: journal(router, "dnsmasq", "vrmonitor")  # noqa: E731
    wait(lambda: len(settled()) >= 2, "the alerts of a stop", describe=describe)
    time.sleep(3)
    assert router.unit_state("dnsmasq") == "inactive"
    assert settled() == [
        "[INFO] [dnsmasq] The process dnsmasq is not running trying recover",
        "[ALERT] [dnsmasq] The process dnsmasq recover failed: stopped through systemd, not "
        "restarting: dnsmasq was stopped on purpose (inactive/dead, result success); "
        "'systemctl start dnsmasq' resumes it"], describe()
    assert router.guest.run(["systemctl", "start", "dnsmasq"]).returncode == 0
    wait(lambda: len(settled()) >= 3, "the service found running again", describe=describe)
    assert settled()[2:] == ["[ALERT] [dnsmasq] The process detected as running"]


def test_a_unit_at_its_start_limit_is_reset_and_started(router, settled):
    """Six restarts in a row trip haproxy.service's start limit (5 in 10 s): the unit is
    failed with start-limit-hit and systemd will not start it. vrmonitor resets and starts it."""
    for _ in range(6):
        router.guest.run(["systemctl", "restart", "haproxy"])
    describe = lambda: journal(router, "haproxy", "vrmonitor")  # noqa: E731
    down = "[INFO] [haproxy] The process haproxy is not running trying recover"
    found = "[ALERT] [haproxy] The process detected as running"
    recovered = "[INFO] [haproxy] The process haproxy is recovered successfully "
    wait(lambda: router.unit_state("haproxy") == "active" and service_state(router, "loadbalancing").get("state") == "up"
         and recovered in settled(), "haproxy reset and started", describe=describe)
    assert "start-limit-hit" in journal(router, "haproxy", "vrmonitor", lines=200)
    # While the six restarts run, vrmonitor may see one of their haproxys up (it judges a
    # service found back at once): each such sighting is reported as such, then the next
    # restart's stop as a new fall. Then one restart of vrmonitor's own, after the reset.
    *flaps, last_down, last = settled()
    assert flaps == [down, found] * (len(flaps) // 2) and [last_down, last] == [down, recovered], describe()


def test_stopping_or_killing_vrmonitor_takes_no_service_down(router, settled):
    pids = {unit: main_pid(router, unit) for _, _, unit, _ in MONITORED}
    assert router.guest.run(["systemctl", "stop", "vrmonitor"]).returncode == 0
    assert {unit: main_pid(router, unit) for unit in pids} == pids
    assert router.guest.run(["systemctl", "start", "vrmonitor"]).returncode == 0
    daemon = main_pid(router, "vrmonitor")
    router.guest.run(["kill", "-9", str(daemon)])
    wait(lambda: main_pid(router, "vrmonitor") not in (0, daemon), "systemd restarts the daemon",
         within=30)
    assert {unit: main_pid(router, unit) for unit in pids} == pids
    assert settled() == []  # a restarted daemon carries its state: nothing re-alerted


def test_a_hung_daemon_is_killed_by_the_watchdog_and_carries_on(router, settled):
    """SIGSTOP: no WATCHDOG=1 any more; systemd aborts it and starts a new one, which keeps
    the old one's state: no alert lost, repeated or raised again, no service restarted."""
    dropin = router.guest.path("/run/systemd/system/vrmonitor.service.d/watchdog.conf")
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text("[Service]\nWatchdogSec=3s\nTimeoutAbortSec=2s\n")
    try:
        router.guest.run(["systemctl", "daemon-reload"], check=True)
        router.guest.run(["systemctl", "restart", "vrmonitor"], check=True)
        wait(lambda: all_up(router), "all seen up by the restarted daemon")
        router.guest.run(["vrmonitor", "raise-alert", "watchdog-test", "before the hang"], check=True)
        pids = {unit: main_pid(router, unit) for _, _, unit, _ in MONITORED}
        hung = main_pid(router, "vrmonitor")
        router.guest.run(["kill", "-STOP", str(hung)], check=True)
        wait(lambda: main_pid(router, "vrmonitor") not in (0, hung) and router.unit_state("vrmonitor") == "active",
             "a new daemon after the watchdog timeout", within=30,
             describe=lambda: journal(router, "vrmonitor"))
        assert "Watchdog timeout" in journal(router, "vrmonitor", lines=100)
        router.guest.run(["vrmonitor", "raise-alert", "watchdog-test", "after the hang"], check=True)
        time.sleep(1)
        assert settled() == ["[ALERT] [watchdog-test] before the hang", "[ALERT] [watchdog-test] after the hang"]
        assert {unit: main_pid(router, unit) for unit in pids} == pids
    finally:
        dropin.unlink()
        router.guest.run(["systemctl", "daemon-reload"])
        router.guest.run(["systemctl", "restart", "vrmonitor"])


# --- the management server's path -------------------------------------------------------------

def test_the_management_servers_calls_over_ssh(router, settled):
    def call(command: str) -> ms_parsers.Answer:
        done = router.ssh(command)
        assert done.stderr == "", done.stderr  # stderr would be merged into the answer
        return ms_parsers.Answer.of(done.stdout + done.stderr, done.returncode)

    router.guest.run(["vrmonitor", "raise-alert", "--severity", "ALERT", "ms-path", "over ssh"], check=True)
    alerts_, last = ms_parsers.router_alerts(call("/opt/cloud/bin/getRouterAlerts.sh 1970-01-01 00:00:00"))
    assert alerts_[-1].endswith("[ALERT] [ms-path] over ssh")
    assert ms_parsers.router_alerts(call(f"/opt/cloud/bin/getRouterAlerts.sh {last}")) == ([], None)
    for fresh in ("false", "true"):
        failing, results = ms_parsers.health_results(call(f"/opt/cloud/bin/getRouterMonitorResults.sh {fresh}"))
        assert set(results) == {"basic", "advanced"}
        assert {"ssh.service", "dhcp.service", "loadbalancing.service", "webserver.service"} <= set(results["basic"])
        assert all(results["basic"][f"{s}.service"]["success"] == "true"
                   for s in ("ssh", "dhcp", "loadbalancing", "webserver")), results["basic"]
    answer = ms_parsers.diagnostics(call(f"/opt/cloud/bin/diagnostics.py ping {MGMT_IP} -c 2"))
    assert (answer["stderr"], answer["exitcode"]) == ("", "0"), answer
    assert "2 packets transmitted, 2 received" in answer["stdout"]


@pytest.mark.skip(reason="MemoryMax=, MemoryHigh=, CPUQuota= and TasksMax= are accepted but not "
                         "enforced on the build machine: every cgroup controller is bound to the "
                         "host's cgroup v1 hierarchies (system-vm-testbed.md, pitfall 6), so a test "
                         "here could only pretend")
def test_the_units_resource_limits_hold():
    """On a real system VM: a leak in the daemon or a check is stopped at MemoryMax=128M inside
    vrmonitor.service, and a busy check at CPUQuota=25%, without touching the router's services."""
