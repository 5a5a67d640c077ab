"""Names and bytes that are not UTF-8 (issue 15): one bad entry never affects the others.

The rule: a *name* that is not UTF-8 is refused as input and reported with its bytes escaped
(a health check file is not run; a monitor.conf section loses its service), and everything else
goes on. Free *text* (alert names and messages, `raise-alert`'s arguments) is never refused:
each byte that is not UTF-8 is written as the text `\\xNN`, so the result files, the alert log
and the alert journal stay UTF-8 and the management server's parsers (tests/ms_parsers.py)
read them as before. The health tests need root, for the strict trust policy (CI runs as root).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ms_parsers import AGENT_ENV, Answer, agent_call, health_results, router_alerts
from tests.conftest import require_root
from tests.vmroot import ENV, sleeping_router
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.cloudstack.health_results import render, write_results
from vrmonitor.compat.install import install
from vrmonitor.cloudstack.monitor_conf import ServiceEntry, load_monitor_conf
from vrmonitor.compat.monitor_results import fetch_output
from vrmonitor.health.discovery import discover
from vrmonitor.paths import Paths

BAD = b"\xff\xfe.sh"
CHECKS = "root/health_checks"


def utf8(path: Path) -> str:
    """The file's text; fails the test when it is not UTF-8."""
    return path.read_bytes().decode("utf-8")


@pytest.fixture
def vm(tmp_path):
    require_root("the strict trust policy runs only root-owned checks; this test")
    with sleeping_router(tmp_path, extra_folders=("var", "var/log")) as root:
        (root / "root/health_checks_data.json").write_text(json.dumps({
            "health_checks_basic_run_interval": 3, "health_checks_advanced_run_interval": 10,
            "health_checks_enabled": True, "excluded_health_checks": [],
            "health_checks_config": {}}))
        yield root


def check(root: Path, name: bytes, body: bytes) -> None:
    path = os.path.join(bytes(root / CHECKS), name)
    with open(path, "wb") as handle:
        handle.write(b"#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


def call(root: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(root / script), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd="/", env=AGENT_ENV, timeout=120, check=False)


# --- health checks -------------------------------------------------------------------------------

def test_a_check_whose_name_is_not_utf8_is_not_run_and_every_other_check_is(vm):
    check(vm, BAD, b"echo never >> ../ran; exit 1\n")
    check(vm, b"ok.sh", b'[ "$1" = basic ] && echo fine\nexit 0\n')
    check(vm, b"down.sh", b'[ "$1" = basic ] && { echo broken; exit 1; }\nexit 0\n')
    check(vm, b"adv.sh", b'[ "$1" = advanced ] && echo deep\nexit 0\n')
    done = call(vm, "opt/cloud/bin/getRouterMonitorResults.sh", "true")  # both kinds
    assert (done.returncode, done.stderr) == (0, b"")
    failing, results = health_results(Answer.of(done.stdout))
    assert failing == ["down.sh"]
    assert set(results["basic"]) == {"ssh.service", "ok.sh", "down.sh", "lastRun"}
    assert results["basic"]["ok.sh"]["message"] == "fine"
    assert set(results["advanced"]) == {"adv.sh", "lastRun"}
    assert not (vm / "root/ran").exists()
    for kind in ("basic", "advanced"):
        json.loads(utf8(vm / f"root/{kind}_monitor_results.json"))
    assert utf8(vm / "root/basic_failing_health_checks") == "down.sh"
    assert "health check b'\\xff\\xfe.sh' is not run: its name is not UTF-8" in utf8(
        vm / "var/log/monitor.log")


def test_discovery_names_the_refused_file_by_its_bytes(tmp_path, caplog):
    require_root("the strict trust policy runs only root-owned checks; this test")
    folder = tmp_path / CHECKS
    folder.mkdir(parents=True)
    for part in (tmp_path, tmp_path / "root", folder):
        os.chmod(part, 0o755)
    check(tmp_path, BAD, b"exit 1\n")
    check(tmp_path, b"good.sh", b"echo ok\n")
    checks, problem = discover(folder, [], "strict", tmp_path)
    assert problem is None
    assert [found.name for found in checks] == ["good.sh"]
    assert "health check b'\\xff\\xfe.sh' is not run: its name is not UTF-8" in caplog.text


def test_results_stay_utf8_whatever_name_or_message_reaches_them(tmp_path):
    """The backstop behind discovery: the results file and the failing list are written, as
    UTF-8, with the byte as `\\xff`, and the management server reads both."""
    paths = Paths(tmp_path)
    entry = {"success": "false", "lastUpdate": "1714557600123", "lastRunDuration": "1.0",
             "message": "bad \udcfe byte"}
    entries = {"\udcff.sh": entry, "lastRun": {"start": "x", "end": "y", "duration": "0.0"}}
    write_results(paths.results_file("basic"), paths.failing_file("basic"), render(entries),
                  ["\udcff.sh"])
    assert json.loads(utf8(paths.results_file("basic")))["\\xff.sh"]["message"] == "bad \\xfe byte"
    failing, results = health_results(Answer.of(fetch_output(paths)))
    assert failing == ["\\xff.sh"]
    assert results["basic"]["\\xff.sh"]["message"] == "bad \\xfe byte"


# --- monitor.conf --------------------------------------------------------------------------------

SSH = b"[ssh]\nprocessname=sshd\nservicename=ssh\npidfile=/run/sshd.pid\n"
LB = b"[loadbalancing]\nprocessname=haproxy\nservicename=haproxy\npidfile=/run/haproxy.pid\n"


@pytest.mark.parametrize("dhcp, line, problem", [
    (b"[dh\xffcp]\nprocessname=dnsmasq\nservicename=dnsmasq\npidfile=/run/d.pid\n", 5,
     "'[dh\\xffcp]' is not UTF-8 text; service skipped"),
    (b"[dhcp]\nprocessname=dns\xfemasq\nservicename=dnsmasq\npidfile=/run/d.pid\n", 6,
     "'processname=dns\\xfemasq' is not UTF-8 text; service [dhcp] skipped"),
    (b"[dhcp]\nprocessname=dnsmasq\nservicename=\xc3\npidfile=/run/d.pid\n", 7,
     "'servicename=\\xc3' is not UTF-8 text; service [dhcp] skipped"),
])
def test_a_monitor_conf_line_not_utf8_costs_only_its_service(tmp_path, dhcp, line, problem):
    path = tmp_path / "monitor.conf"
    path.write_bytes(SSH + dhcp + LB + b"# a comment \xff is not checked\n")
    conf = load_monitor_conf(path)
    assert conf.services == (ServiceEntry("ssh", "sshd", "ssh", "/run/sshd.pid"),
                             ServiceEntry("loadbalancing", "haproxy", "haproxy", "/run/haproxy.pid"))
    assert conf.problems == (f"/etc/monitor.conf: line {line}: {problem}",)


def test_a_line_not_utf8_before_any_section_is_ignored(tmp_path):
    path = tmp_path / "monitor.conf"
    path.write_bytes(b"x=\xff\n" + SSH)
    conf = load_monitor_conf(path)
    assert [service.section for service in conf.services] == ["ssh"]
    assert conf.problems == ("/etc/monitor.conf: line 1: 'x=\\xff' is not UTF-8 text; ignored",)


def test_a_service_not_utf8_does_not_stop_the_basic_run_and_validate_config_names_it(vm):
    conf = vm / "etc/monitor.conf"
    conf.write_bytes(conf.read_bytes() + b"[dhcp]\nprocessname=dns\xffmasq\n")
    done = call(vm, "root/monitorServices.py", "basic")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    basic = json.loads(utf8(vm / "root/basic_monitor_results.json"))
    assert basic["ssh.service"]["message"] == "service is running"
    assert "dhcp.service" not in basic
    problem = "/etc/monitor.conf: line 6: 'processname=dns\\xffmasq' is not UTF-8 text; " \
              "service [dhcp] skipped"
    assert problem in utf8(vm / "var/log/monitor.log")
    checked = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(vm),
                              "validate-config"], capture_output=True, env=ENV, timeout=60,
                             check=False)
    assert checked.returncode == 2
    assert checked.stderr.decode("utf-8").splitlines() == [problem]


# --- alerts --------------------------------------------------------------------------------------

def test_raise_alert_with_arguments_not_utf8_writes_them_escaped(tmp_path):
    install(Paths(tmp_path))
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(tmp_path),
                           "raise-alert", b"n\xffame", b"text \xfe\xc3 end"],
                          capture_output=True, env=ENV, timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    log = utf8(tmp_path / "var/log/routerServiceMonitor.log")
    (record,) = [json.loads(line) for line in
                 utf8(tmp_path / "var/lib/vrmonitor/alerts/journal.jsonl").splitlines()]
    assert log == record["line"] + "\n\n"
    assert record["line"].endswith(" [ALERT] [n\\xffame] text \\xfe\\xc3 end")
    assert (record["name"], record["message"]) == ("n\\xffame", "text \\xfe\\xc3 end")
    alerts, timestamp = router_alerts(agent_call(
        [str(tmp_path / "opt/cloud/bin/getRouterAlerts.sh"), "1970-01-01", "00:00:00"]))
    assert alerts == [record["line"]]
    assert timestamp == record["line"].split(",")[0]


def test_the_alert_writer_escapes_any_lone_surrogate_and_keeps_writing(tmp_path):
    writer = AlertWriter(Paths(tmp_path))
    first = writer.write("INFO", "a\ud800", "b\udcff")
    second = writer.write("ALERT", "plain", "text")
    assert (first.name, first.message) == ("a\\ud800", "b\\xff")
    log = utf8(tmp_path / "var/log/routerServiceMonitor.log")
    assert log == f"{first.line}\n\n{second.line}\n\n"


def test_a_journal_record_with_a_lone_surrogate_does_not_stop_later_alerts(tmp_path):
    """A record read back with a "\\udcff" escape (written by hand, or by another tool) used to
    make every later write fail while comparing it with the log."""
    paths = Paths(tmp_path)
    journal = tmp_path / "var/lib/vrmonitor/alerts/journal.jsonl"
    journal.parent.mkdir(parents=True)
    line = "2024-05-01 10:00:00,000 [ALERT] [x] \udcff"
    journal.write_text(json.dumps({"seq": 1, "time": "t", "boot_id": "b", "severity": "ALERT",
                                   "name": "x", "message": "\udcff", "line": line}) + "\n")
    paths.alert_log.parent.mkdir(parents=True)
    paths.alert_log.write_bytes(b"2024-05-01 09:00:00,000 [INFO] [y] older\n\n")
    alert = AlertWriter(paths).write("ALERT", "after", "still written")
    assert alert.seq == 2
    assert utf8(paths.alert_log).endswith(f"{alert.line}\n\n")
