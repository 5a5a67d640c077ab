"""stderr stays empty on every normal outcome of every entry point (issue 13 item 4).

CloudStack's KVM agent merges a script's stderr into the answer the management server parses
(contract 1): a warning line on stderr turns an alert batch into one the server drops, a health
answer into one with a corrupt mode or JSON, a diagnostics envelope into one with a garbled exit
code. So each case here runs an installed entry point with stderr on a pipe of its own and
checks that it exits 0 (the only status the server reads as success), wrote exactly nothing on
stderr, and printed what the server's parser (tests/ms_parsers.py) takes as a success. Warnings
go to <root>/var/log/monitor.log, where the cases that cause one look for it.

The root is router-like (root-owned 0755 folders); its only service is a `sleep` this test
starts and the built-in checks are removed, so nothing here touches the machine's daemons.
Traffic goes to 127.0.0.1 only.
"""

import json
import re
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from tests.ms_parsers import (AGENT_ENV, Answer, agent_call, diagnostics, diagnostics_zip,
                              filesystem_writable, health_results, router_alerts)
from tests.vmroot import sleeping_router

ALERTS = "opt/cloud/bin/getRouterAlerts.sh"
RESULTS = "opt/cloud/bin/getRouterMonitorResults.sh"
WRITABLE = "opt/cloud/bin/filesystem_writable_check.py"
DIAGNOSTICS = "opt/cloud/bin/diagnostics.py"
COLLECT = "opt/cloud/bin/get_diagnostics_files.py"
CLEANUP = "opt/cloud/bin/cleanup.sh"
MONITOR = "root/monitorServices.py"

EXTRA_FOLDERS = ("etc/vrmonitor", "var", "var/log", "var/cache", "var/cache/cloud")
ALERT_LOG = ("2024-05-01 10:00:00,100 [INFO] [dnsmasq] The process dnsmasq is recovered successfully\n\n"
             "2024-05-01 10:03:05,200 [ALERT] [The process haproxy recover failed ] haproxy\n\n")
FIRST = "2024-05-01 10:00:00,100 [INFO] [dnsmasq] The process dnsmasq is recovered successfully"
SECOND = "2024-05-01 10:03:05,200 [ALERT] [The process haproxy recover failed ] haproxy"
# A basic check that fails and an advanced one that passes: the answer shows which kinds ran.
DOWN = "#!/bin/sh\n[ \"$1\" = basic ] || exit 0\necho down\nexit 1\n"
UP = "#!/bin/sh\n[ \"$1\" = advanced ] || exit 0\necho up\n"
EXPECTED_KEYS = {"basic": {"ssh.service", "down.sh", "lastRun"}, "advanced": {"up.sh", "lastRun"}}


@pytest.fixture
def vm(tmp_path):
    """A router-like root (tests/vmroot.py: a `sleep` as its only service) with two checks of
    its own and health checks enabled."""
    with sleeping_router(tmp_path, EXTRA_FOLDERS) as root:
        check(root, "down.sh", DOWN)
        check(root, "up.sh", UP)
        (root / "root/health_checks_data.json").write_text(json.dumps({
            "health_checks_basic_run_interval": 3, "health_checks_advanced_run_interval": 10,
            "health_checks_enabled": True, "excluded_health_checks": [], "health_checks_config": {}}))
        (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
        yield root


def check(root: Path, name: str, body: str) -> None:
    path = root / "root/health_checks" / name
    path.write_text(body)
    path.chmod(0o755)


def run(root: Path, script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The entry point as sshd runs it (from /root, a login PATH), stderr on its own pipe."""
    return subprocess.run([str(root / script), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=root / "root", env=AGENT_ENV, timeout=timeout)


def normal(done: subprocess.CompletedProcess) -> Answer:
    """Exit 0 and not one byte on stderr; the stdout as the agent hands it to the server."""
    assert done.returncode == 0, done
    assert done.stderr == b"", done.stderr
    return Answer.of(done.stdout, done.returncode)


def logged(root: Path) -> list[str]:
    """The messages in <root>/var/log/monitor.log, as `NAME: LEVEL: message` ([] when absent),
    each line checked for the log's format (time, script name, PID)."""
    try:
        lines = (root / "var/log/monitor.log").read_text().splitlines()
    except FileNotFoundError:
        return []
    messages = []
    for line in lines:
        match = re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+)\[\d+\]: (.*)", line)
        assert match, line
        messages.append(f"{match.group(1)}: {match.group(2)}")
    return messages


# --- getRouterAlerts.sh (contract 2.5) ----------------------------------------------------------

@pytest.mark.parametrize("args, alerts, timestamp", [
    (("2024-05-01", "10:00:00"), [SECOND], "2024-05-01 10:03:05"),
    ((), [FIRST, SECOND], "2024-05-01 10:03:05"),
    (("2024-05-01", "10:03:05"), [], None),  # the newest timestamp: `No Alerts`
])
def test_alerts(vm, args, alerts, timestamp):
    (vm / "var/log/routerServiceMonitor.log").write_text(ALERT_LOG)
    answer = normal(run(vm, ALERTS, *args))
    assert router_alerts(answer) == (alerts, timestamp)
    if not alerts:
        assert answer.details == "No Alerts\n"
    assert logged(vm) == []


def test_alerts_without_an_alert_log(vm):
    answer = normal(run(vm, ALERTS, "1970-01-01", "00:00:00"))
    assert answer.details == "No Alerts\n"
    assert router_alerts(answer) == ([], None)
    assert logged(vm) == []


@pytest.mark.parametrize("args, warning", [
    (("yesterday", "noon"), "'yesterday' 'noon' is not a 'YYYY-MM-DD HH:MM:SS' time; answering "
                            "with all alerts"),
    (("2024-05-01",), "expected DATE TIME, got one argument ('2024-05-01'); answering with all "
                      "alerts"),
])
def test_alerts_for_arguments_that_are_no_timestamp(vm, args, warning):
    """Every alert is answered (the server stores the newest timestamp and goes on from there);
    the warning is in the log, not in the answer."""
    (vm / "var/log/routerServiceMonitor.log").write_text(ALERT_LOG)
    answer = normal(run(vm, ALERTS, *args))
    assert router_alerts(answer) == ([FIRST, SECOND], "2024-05-01 10:03:05")
    assert logged(vm) == [f"getRouterAlerts.sh: WARNING: {warning}"]


# --- getRouterMonitorResults.sh (contract 3.6) --------------------------------------------------

@pytest.mark.parametrize("args, ran", [
    (("false",), ()),
    (("true",), ("basic", "advanced")),
    (("false", "basic"), ()),
    (("true", "advanced"), ("advanced",)),
    (("true", "basic"), ("basic",)),
])
def test_results(vm, args, ran):
    failing, results = health_results(normal(run(vm, RESULTS, *args)))
    assert failing == (["down.sh"] if "basic" in ran else [])
    assert {kind: set(entries) for kind, entries in results.items()} == {
        kind: EXPECTED_KEYS[kind] if kind in ran else set() for kind in ("basic", "advanced")}
    assert logged(vm) == []


def test_results_for_an_unknown_kind(vm):
    """Both kinds run, as with no kind at all; the ignored argument is logged."""
    failing, results = health_results(normal(run(vm, RESULTS, "true", "advance")))
    assert failing == ["down.sh"]
    assert {kind: set(entries) for kind, entries in results.items()} == EXPECTED_KEYS
    assert logged(vm) == ["getRouterMonitorResults.sh: WARNING: unknown kind 'advance' "
                          "(expected basic or advanced); using both"]


def test_results_with_an_invalid_vrmonitor_toml(vm):
    """The defaults apply; the file's problem and that decision are logged."""
    (vm / "etc/vrmonitor/vrmonitor.toml").write_text("[health]\ntimeout = -1\n")
    failing, results = health_results(normal(run(vm, RESULTS, "true")))
    assert failing == ["down.sh"]
    assert {kind: set(entries) for kind, entries in results.items()} == EXPECTED_KEYS
    problem, decision = logged(vm)
    assert problem.startswith(f"getRouterMonitorResults.sh: WARNING: {vm}/etc/vrmonitor/"
                              "vrmonitor.toml: health.timeout: ")
    assert decision == "getRouterMonitorResults.sh: WARNING: using default settings"


def test_results_when_the_fresh_run_does_not_finish_in_time(vm):
    """A run of the kind is in flight beyond [health] run_wait: the answer is the last results
    (with their own lastRun), still a success; the wait that ran out is logged."""
    (vm / "etc/vrmonitor/vrmonitor.toml").write_text("[health]\nrun_wait = 0.5\n")
    assert normal(run(vm, MONITOR, "basic")).details == ""
    started = vm / "root/slow-started"
    check(vm, "slow.sh", f"#!/bin/sh\n[ \"$1\" = basic ] || exit 0\ntouch {started}\nsleep 5\n")
    cron = subprocess.Popen([str(vm / MONITOR), "basic"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=vm / "root",
                            env=AGENT_ENV)
    try:
        end = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < end and cron.poll() is None, "the cron run did not start"
            time.sleep(0.02)
        failing, results = health_results(normal(run(vm, RESULTS, "true", "basic")))
        assert cron.poll() is None  # the answer came while the run was still going
    finally:
        assert cron.wait(timeout=60) == 0
    assert failing == ["down.sh"]
    assert set(results["basic"]) == EXPECTED_KEYS["basic"]  # the run before slow.sh existed
    assert logged(vm) == ["getRouterMonitorResults.sh: WARNING: a basic health run is still in "
                          "progress after 0.5 s"]


def test_a_message_with_both_mode_phrases_keeps_every_result(vm):
    """Issue 13 item 7: the server's parser switches mode on any line containing FAILING CHECKS
    or MONITOR RESULTS. A check that prints both, failing or passing, loses nothing: every
    result of the router is read, each message reads back as printed, the failing list is
    right."""
    message = "FAILING CHECKS: none here; MONITOR RESULTS: see above"
    check(vm, "phrases_fail.sh", f"#!/bin/sh\necho '{message}'\nexit 1\n")
    check(vm, "phrases_pass.sh", f"#!/bin/sh\necho '{message} (all good)'\n")
    failing, results = health_results(agent_call([str(vm / RESULTS), "true"], cwd=vm / "root"))
    # The basic failing list, then the advanced one (checks run in name order).
    assert failing == ["down.sh", "phrases_fail.sh", "phrases_fail.sh"]
    for kind in ("basic", "advanced"):
        assert set(results[kind]) == EXPECTED_KEYS[kind] | {"phrases_fail.sh", "phrases_pass.sh"}
        assert results[kind]["phrases_fail.sh"]["message"] == message
        assert results[kind]["phrases_fail.sh"]["success"] == "false"
        assert results[kind]["phrases_pass.sh"]["message"] == f"{message} (all good)"
        assert results[kind]["phrases_pass.sh"]["success"] == "true"
    # Any JSON reader reads the files back the same (the escape is of the same letter).
    stored = json.loads((vm / "root/basic_monitor_results.json").read_text())
    assert stored["phrases_fail.sh"]["message"] == message


# --- filesystem_writable_check.py (contract 3.7) ------------------------------------------------

def test_filesystem_writable_check(vm):
    answer = normal(run(vm, WRITABLE))
    assert answer.details == "file system is writable\n"
    assert filesystem_writable(answer) == (True, "Successfully written to file system")
    assert logged(vm) == []


# --- diagnostics.py (contract 4.2, 4.3) ---------------------------------------------------------

def test_diagnostics_ping_on_loopback(vm):
    result = diagnostics(normal(run(vm, DIAGNOSTICS, "ping", "127.0.0.1", "-c", "1")))
    assert result["stdout"].startswith("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n")
    assert "\n1 packets transmitted, 1 received, 0% packet loss" in result["stdout"]
    assert (result["stderr"], result["exitcode"]) == ("", "0")
    assert logged(vm) == []


@pytest.mark.parametrize("args, reason", [
    (("nslookup", "127.0.0.1"), "diagnostics.py: unknown diagnostics type 'nslookup' (expected "
                                "ping, ping6, arping, traceroute or traceroute6)"),
    (("ping", "999.1.1.1"), "diagnostics.py: ping: address '999.1.1.1' is refused: not an IP "
                            "address or a host name"),
])
def test_diagnostics_refusal_is_inside_the_envelope(vm, args, reason):
    answer = normal(run(vm, DIAGNOSTICS, *args))
    assert diagnostics(answer) == {"stdout": "", "stderr": reason, "exitcode": "2"}


# --- get_diagnostics_files.py and cleanup.sh (contract 5.2, 5.3) --------------------------------

def test_diagnostics_files_and_cleanup(vm):
    answer = normal(run(vm, COLLECT, "/etc/hosts", "ipaddr"))
    assert answer.details.count("\n") == 1
    path = Path(diagnostics_zip(answer))
    assert path.parent == vm / "root"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["hosts", "ipaddr.log", "fileinfo.txt"]
    assert normal(run(vm, CLEANUP, str(path))) == Answer(
        True, f"Deleting diagnostics zip file {path}\n", 0)
    assert not path.exists()
    assert normal(run(vm, CLEANUP, str(path))) == Answer(True, f"File {path} not found in vm \n", 0)
    assert logged(vm) == []


# --- /root/monitorServices.py (contract 3.4; run by cron) ---------------------------------------

@pytest.mark.parametrize("args, ran", [
    (("basic",), ("basic",)),
    (("advanced",), ("advanced",)),
    ((), ("basic", "advanced")),
])
def test_monitor_services(vm, args, ran):
    """Nothing on stdout or stderr (cron would mail it); the runs it made are what the server
    then fetches."""
    done = run(vm, MONITOR, *args)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    failing, results = health_results(normal(run(vm, RESULTS, "false")))
    assert failing == (["down.sh"] if "basic" in ran else [])
    assert {kind: set(entries) for kind, entries in results.items()} == {
        kind: EXPECTED_KEYS[kind] if kind in ran else set() for kind in ("basic", "advanced")}
    assert logged(vm) == []
