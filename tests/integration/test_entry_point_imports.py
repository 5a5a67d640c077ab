"""No heavy import on an entry point's normal path (issue 19), as `vrmonitor --version` is
tested in tests/unit/test_cli.py.

A real daemon runs on a router-like root (tests/vmroot.py's sleeping router: a `sleep` as its
service, the compat entry points installed, two shell checks), so each path below is the one
the management server and cron take every day: results published by the daemon's runs, cron's
runs handed to it. Each installed script runs as the agent runs it, with Python's import
profile on (PYTHONPROFILEIMPORTTIME, the same as -X importtime) and its stderr read for the
modules imported. A module imported by importlib.import_module (the entry point's own, the
command's) is not profiled, its imports are: each test names one of those as the sign that the
path was taken.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ms_parsers import AGENT_ENV
from tests.vmroot import sleeping_router
from vrmonitor.paths import Paths

PROJECT = Path(__file__).resolve().parents[2]
# Libraries a normal path has no use for: validation (jsonschema, with urllib.request and
# http), processes (psutil), packets (scapy, netifaces), detaching (daemon), vrmonitor.toml
# (tomllib: none of these paths reads a setting).
HEAVY = {"jsonschema", "psutil", "scapy", "netifaces", "daemon", "urllib.request", "http",
         "email", "tomllib"}
# The file system check (before every results fetch), cron's hand-off to the daemon (every few
# minutes) and `vrmonitor status` need none of the stdlib modules vrmonitor's others start with
# either: each of logging, pathlib (with urllib.parse), dataclasses (with inspect), typing, json
# (with re) and argparse costs a large part of the interpreter's own start. Logging and json
# are imported only for something to log or a damaged file (system/json_text.py).
LEAN = HEAVY | {"logging", "pathlib", "urllib", "dataclasses", "inspect", "typing", "json", "re",
                "argparse"}


@pytest.fixture(scope="module")
def daemon_vm(tmp_path_factory):
    with sleeping_router(tmp_path_factory.mktemp("imports"), extra_folders=("var", "var/log")) as root:
        (root / "root/health_checks_data.json").write_text(
            '{"health_checks_basic_run_interval": 3, "health_checks_advanced_run_interval": 10, '
            '"health_checks_enabled": true}')
        for name, status in (("a.sh", 0), ("b.sh", 1)):
            check = root / "root/health_checks" / name
            check.write_text(f"#!/bin/sh\necho '{name}'\nexit {status}\n")
            check.chmod(0o755)
        daemon = subprocess.Popen([sys.executable, "-m", "vrmonitor", "--root", str(root), "run",
                                   "--foreground"], env={**AGENT_ENV, "PYTHONPATH": str(PROJECT)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        try:
            paths = Paths(root)
            end = time.monotonic() + 30
            while not (paths.results_answer.exists() and paths.results_file("advanced").exists()):
                assert time.monotonic() < end and daemon.poll() is None, "the daemon ran no checks"
                time.sleep(0.05)
            yield root
        finally:
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0


def imports(argv: list[str], status: int = 0) -> set[str]:
    """The modules a call imported (none for a call that started no Python)."""
    done = subprocess.run(argv, capture_output=True, cwd="/", timeout=60,
                          env={**AGENT_ENV, "PYTHONPROFILEIMPORTTIME": "1", "PYTHONPATH": str(PROJECT)})
    assert done.returncode == status, done
    names = set()
    for line in done.stderr.decode().splitlines():
        assert line.startswith("import time:"), line  # nothing else on stderr
        names.add(line.rsplit("|", 1)[-1].strip())
    return names


def heavy(names: set[str], banned: set[str] = HEAVY) -> set[str]:
    return {name for name in names
            if name in banned or name.split(".")[0] in banned - {"urllib.request"}}


def test_results_answer_without_python_then_with_python_but_nothing_heavy(daemon_vm):
    script = str(daemon_vm / "opt/cloud/bin/getRouterMonitorResults.sh")
    assert imports([script, "false", "basic"]) == set()  # the daemon's published answer, in sh
    Paths(daemon_vm).results_answer.unlink()  # as after a reboot: Python composes it
    names = imports([script, "false", "basic"])
    assert "vrmonitor.health.answer" in names and heavy(names) == set()


def test_alerts_first_poll_and_next_poll(daemon_vm):
    subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(daemon_vm), "raise-alert",
                    "haproxy", "recover failed"], check=True, env={**AGENT_ENV, "PYTHONPATH": str(PROJECT)})
    script = str(daemon_vm / "opt/cloud/bin/getRouterAlerts.sh")
    names = imports([script, "1970-01-01", "00:00:00"])
    assert "vrmonitor.alerts.feed" in names and heavy(names) == set()
    log = Paths(daemon_vm).alert_log.read_text().split("\n")
    newest = [line for line in log if line][-1].split(",")[0].split()
    assert imports([script, *newest]) == set()


def test_filesystem_writable_check(daemon_vm):
    names = imports([str(daemon_vm / "opt/cloud/bin/filesystem_writable_check.py")])
    assert heavy(names, LEAN) == set()
    assert "vrmonitor.checks.answer" in names


def test_cron_run_handed_to_the_daemon(daemon_vm):
    results = Paths(daemon_vm).results_file("basic")
    before = results.stat().st_mtime_ns
    names = imports(["/usr/bin/python3", str(daemon_vm / "root/monitorServices.py"), "basic"])
    assert results.stat().st_mtime_ns == before  # the daemon's run, not one here
    assert heavy(names, LEAN) == set()
    assert "vrmonitor.health.handoff" in names


def test_status(daemon_vm):
    names = imports([sys.executable, str(PROJECT / "bin/vrmonitor"), "--root", str(daemon_vm),
                     "status"], status=1)  # b.sh fails
    assert heavy(names, LEAN) == set()
    assert "vrmonitor.services.saved_state" in names
