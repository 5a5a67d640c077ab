"""A full disk under the daemon: 64 KiB tmpfs mounts over the root's /root (results) and /var
(alert log, journal, daemon state), inside a private mount namespace, filled up by a filler
file while health runs and alerts happen, then freed.

What must hold: the daemon keeps running and keeps the service up (it restarts it after a kill
while the disk is full); the results written before stay whole and unchanged, no temporary
file is left; the failed writes are logged naming the file and the error; the alerts that could
not be written are not half-written anywhere but held; once the filler is gone they arrive with
the time they happened, the next run writes results again and a later alert arrives, with the
journal gapless from seq 1.
"""

import errno
import json
from datetime import datetime
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from tests.faults.live_daemon import LiveDaemon, results
from tests.faults.mount_namespace import MountNamespace
from tests.conftest import require_root
from tests.vmroot import FAST_SERVICES_TOML, VmRoot, check_script
from tests.waiting import wait_for
from vrmonitor.cloudstack.alert_line import parse_line

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow]

CHECKS = {"ok_check.sh": check_script("basic", 0, 0, "fine"),
          "bad_check.sh": check_script("basic", 0, 1, "broken"),
          "adv_check.sh": check_script("advanced", 0, 0, "advanced fine")}
RAISES = 200
NO_SPACE = os.strerror(errno.ENOSPC)


def fill(folder: Path) -> Path:
    """A filler file taking every free byte of the filesystem at `folder`."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def daemon_state(var: Path) -> dict:
    return json.loads((var / "lib/vrmonitor/daemon.json").read_text())


def assert_whole(daemon: LiveDaemon, var: Path) -> None:
    """The journal is gapless from seq 1 and the legacy log holds exactly its lines, each whole."""
    alerts = daemon.alerts()
    assert [alert["seq"] for alert in alerts] == list(range(1, len(alerts) + 1))
    legacy = daemon.view(var / "log/routerServiceMonitor.log").read_text()
    lines = [line for line in legacy.split("\n") if line]
    assert lines == [alert["line"] for alert in alerts]
    assert all(parse_line(line) is not None for line in lines)


def test_full_root_and_var_keep_the_daemon_monitoring_and_lose_nothing():
    require_root("the full-disk test")
    folder = Path(tempfile.mkdtemp(prefix=f"vrmonitor-fulldisk-{os.getpid()}-"))
    vm = VmRoot(folder, tag="fulldisk")
    namespace = MountNamespace()
    try:
        vm.build(FAST_SERVICES_TOML + "stable_after = 0.5\n", CHECKS)
        home, var = vm.root / "root", vm.root / "var"
        var.mkdir(mode=0o755)
        staged = folder / "staged-root"
        shutil.copytree(home, staged, symlinks=True)
        namespace.mount_tmpfs(home, "64k")
        namespace.mount_tmpfs(var, "64k")
        shutil.copytree(staged, namespace.view(home), symlinks=True, dirs_exist_ok=True)
        assert vm.service_ctl("start").returncode == 0
        first_pid = wait_for(vm.service_pid, "the service started")

        daemon = LiveDaemon(vm, namespace.prefix, namespace.view)
        basic = namespace.view(home / "basic_monitor_results.json")
        advanced = namespace.view(home / "advanced_monitor_results.json")
        wait_for(lambda: daemon.running() and basic.exists() and advanced.exists(), "the first runs")
        os.kill(first_pid, signal.SIGKILL)  # alerts before the fault
        second_pid = wait_for(lambda: daemon.running() and vm.service_pid() not in (None, first_pid)
                              and vm.service_pid(), "the daemon restarted the service")
        before = wait_for(lambda: len(daemon.alerts()) >= 2 and daemon.alerts(), "alerts of the restart")
        kept = {path: path.read_bytes() for path in (basic, advanced)}
        assert results(basic)["bad_check.sh"]["message"] == "broken"

        # The fault: both filesystems full.
        fillers = [fill(namespace.view(home)), fill(namespace.view(var))]
        mark = len(daemon.lines)
        daemon.start_runs()
        failed = daemon.wait_log("basic_monitor_results.json", after=mark)
        assert NO_SPACE in failed, failed
        # The alert files have slack in their last page: other writers use it up first, with
        # long texts and then short ones, so that the slack left is less than any record of the
        # daemon's (whose size changes with the record's fields).
        for filler in ("y" * 300, "y" * 30, ""):
            for n in range(RAISES):
                raised = daemon.vrmonitor("raise-alert", "--severity", "INFO", "fulldisk", f"filling {n} " + filler)
                if raised.returncode != 0:
                    break
            assert raised.returncode == 1 and NO_SPACE in raised.stderr, raised
        assert "Traceback" not in raised.stderr and raised.stdout == ""
        os.kill(second_pid, signal.SIGKILL)
        unwritten = daemon.wait_log("cannot write alert", after=mark)
        assert NO_SPACE in unwritten and "held until the disk takes them" in unwritten, unwritten
        service = wait_for(lambda: daemon.running() and vm.service_pid() not in (None, second_pid)
                           and vm.service_pid(), "the daemon restarted the service on a full disk")
        assert {path: path.read_bytes() for path in (basic, advanced)} == kept
        during = daemon.alerts()
        assert during[:len(before)] == before
        assert_whole(daemon, var)

        # The fault clears.
        freed_at = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        for filler in fillers:
            filler.unlink()
        cleared = os.stat(basic).st_mtime
        daemon.start_runs()
        wait_for(lambda: daemon.running() and all(os.stat(p).st_mtime > cleared for p in (basic, advanced)),
                 "results written again")
        assert results(basic)["bad_check.sh"]["message"] == "broken"
        assert results(advanced)["adv_check.sh"]["message"] == "advanced fine"
        wait_for(lambda: not list(namespace.view(home).rglob("*.tmp-*")), "the run's last rename")
        assert namespace.view(home / "basic_failing_health_checks").read_text() == "bad_check.sh"
        # The alerts of the kill on the full disk were held, and arrive now with their own time.
        held = wait_for(lambda: daemon.running() and len(daemon.alerts()) >= len(during) + 2 and daemon.alerts(),
                        "the held alerts written")
        assert held[:len(during)] == during
        assert [alert["line"].split(" ", 2)[2] for alert in held[len(during):]] == [
            "[INFO] [sleep] The process sleep is not running trying recover",
            f"[INFO] [{vm.service}] The process {vm.service} is recovered successfully "]
        assert all(parse_line(alert["line"]).second <= freed_at for alert in held[len(during):])
        # daemon.json, refused while the service was restarted, catches up: readers (status, the
        # services check) see the service restarted on the full disk. (Here a later change of the
        # services would write it too; that no change is needed is tests/unit/test_published_state.py.)
        wait_for(lambda: [entry["pid"] for entry in daemon_state(namespace.view(var))["services"].values()]
                 == [service], "daemon.json showing the service restarted on the full disk")
        during = held
        os.kill(service, signal.SIGKILL)
        after = wait_for(lambda: daemon.running() and len(daemon.alerts()) > len(during) and daemon.alerts(),
                         "an alert after the disk has room again")
        assert after[:len(during)] == during
        assert_whole(daemon, var)
        # A run in flight may hold a temporary for a moment; one left from the full disk never goes.
        wait_for(lambda: not [p for root in (home, var) for p in namespace.view(root).rglob("*.tmp-*")],
                 "no temporary file left in /root or /var")
        daemon.stop()
    finally:
        vm.cleanup()
        namespace.close()
        shutil.rmtree(folder, ignore_errors=True)
