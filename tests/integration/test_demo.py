"""./scripts/demo does what the README says: it watches the services running when it starts,
and never starts one that was not running (issue 13 item 8)."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.procs import host_pids_named as pids_named

pytestmark = pytest.mark.root

PROJECT = Path(__file__).resolve().parents[2]
SERVICES = ("sshd", "dnsmasq", "haproxy", "apache2")


def run_demo(status_lines: int = 2) -> tuple[str, str]:
    """Start the demo, read its first lines until `status_lines` status lines came, Ctrl-C it;
    (what it printed, the monitor.conf it wrote)."""
    demo = subprocess.Popen([str(PROJECT / "scripts/demo")], cwd=PROJECT, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    printed = []
    try:
        while sum("vrmonitor" not in line and "scripts/demo" not in line for line in printed) < status_lines:
            line = demo.stdout.readline()
            assert line, f"the demo ended early: {''.join(printed)}"
            printed.append(line)
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        rest, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0, "".join(printed) + rest
    return "".join(printed), (PROJECT / ".demo-root/etc/monitor.conf").read_text()


def test_with_nothing_running_it_watches_nothing_and_starts_nothing():
    running = {name: pids_named(name) for name in SERVICES}
    if any(running.values()):
        pytest.fail(f"these must not run for this test: {running}", pytrace=False)
    printed, conf = run_demo()
    assert printed.splitlines()[0] == (
        "scripts/demo: none of sshd, dnsmasq, haproxy and apache2 runs here: watching nothing "
        "(start one, e.g. 'service ssh start', and run the demo again)")
    assert conf == ""
    assert {name: pids_named(name) for name in SERVICES} == {name: [] for name in SERVICES}


@pytest.mark.daemons
def test_it_watches_what_runs_and_leaves_it_running(real_sshd):
    pid = real_sshd.wait_running()
    printed, conf = run_demo()
    assert printed.splitlines()[0] == (
        "scripts/demo: watching sshd; Ctrl-C stops the demo (the services keep running)")
    assert conf == "[ssh]\nprocessname=sshd\nservicename=ssh\npidfile=/var/run/sshd.pid\n"
    assert "ssh" in printed.splitlines()[-1]  # the status line names the watched service
    assert real_sshd.running_pid() == pid
    for name in ("dnsmasq", "haproxy", "apache2"):
        assert pids_named(name) == []
