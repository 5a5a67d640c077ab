"""A read-only /root under the daemon: a read-only bind mount of the root's /root in a private
mount namespace that the daemon runs in, then remounted read-write.

What must hold: the daemon keeps running and keeps monitoring (a killed service is restarted and
alerted in /var/log, which stays writable); the failed results write is logged naming the file
and the error; the previous results stay whole and unchanged; an on-demand run says what it
could not write, without a traceback; once /root is writable again the next run writes results.
"""

import errno
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

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow]

CHECKS = {"ok_check.sh": check_script("basic", 0, 0, "fine"),
          "bad_check.sh": check_script("basic", 0, 1, "broken")}
READ_ONLY = os.strerror(errno.EROFS)


def test_read_only_root_keeps_the_daemon_monitoring_and_results_come_back():
    require_root("the read-only /root test")
    folder = Path(tempfile.mkdtemp(prefix=f"vrmonitor-rofs-{os.getpid()}-"))
    vm = VmRoot(folder, tag="rofs")
    namespace = MountNamespace()
    try:
        vm.build(FAST_SERVICES_TOML + "stable_after = 0.5\n", CHECKS)
        home = vm.root / "root"
        assert vm.service_ctl("start").returncode == 0
        first_pid = wait_for(vm.service_pid, "the service started")
        # The bind mount shows the same files: the test reads and writes them from outside.
        daemon = LiveDaemon(vm, namespace.prefix)
        basic, advanced = home / "basic_monitor_results.json", home / "advanced_monitor_results.json"
        wait_for(lambda: daemon.running() and basic.exists() and advanced.exists(), "the first runs")
        kept = {path: path.read_bytes() for path in (basic, advanced)}
        before = daemon.alerts()

        namespace.read_only(home)
        mark = len(daemon.lines)
        daemon.start_runs()
        failed = daemon.wait_log(f"'{basic}'", after=mark)
        assert "basic health run failed" in failed and READ_ONLY in failed, failed
        os.kill(first_pid, signal.SIGKILL)
        wait_for(lambda: daemon.running() and vm.service_pid() not in (None, first_pid),
                 "the daemon restarted the service with /root read-only")
        alerts = wait_for(lambda: len(daemon.alerts()) > len(before) and daemon.alerts(),
                          "an alert of the restart in /var/log")
        assert alerts[:len(before)] == before
        assert [alert["seq"] for alert in alerts] == list(range(1, len(alerts) + 1))
        assert any("sleep" in alert["line"] for alert in alerts[len(before):])
        on_demand = daemon.vrmonitor("health", "run", "basic")
        assert on_demand.returncode == 1
        assert str(basic) in on_demand.stderr and READ_ONLY in on_demand.stderr, on_demand.stderr
        assert "Traceback" not in on_demand.stderr
        assert {path: path.read_bytes() for path in (basic, advanced)} == kept
        daemon.running()

        namespace.read_write(home)
        cleared = basic.stat().st_mtime
        daemon.start_runs()
        wait_for(lambda: daemon.running() and all(p.stat().st_mtime > cleared for p in (basic, advanced)),
                 "results written again")
        assert results(basic)["bad_check.sh"]["message"] == "broken"
        assert results(basic)["crashsvc.service"]["success"] == "true"
        # The failing-checks file is renamed into place just after the results file: wait for the
        # run's last write, then nothing the read-only period touched may be left half-written.
        wait_for(lambda: not list(home.rglob("*.tmp-*")), "no temporary file left in /root")
        assert (home / "basic_failing_health_checks").read_text() == "bad_check.sh"
        daemon.stop()
    finally:
        vm.cleanup()
        namespace.close()
        shutil.rmtree(folder, ignore_errors=True)
