"""PID reuse, for real: the service's PID is handed to an unrelated namesake.

The watched service (a `sleep` run by its init script through start-stop-daemon) dies while the
daemon is stopped, leaving its pidfile behind, and the kernel gives its PID to another `sleep`
(the test sets /proc/sys/kernel/ns_last_pid to PID - 1 and forks). A check by name and PID, as
the reference's, calls that service up. What must hold when the daemon starts:
- the service is found down, and alerted once: the daemon before it saw the service's process
  on that PID, and the namesake's start ticks differ (carried in the state, same boot). The
  verdict does not depend on how long ago the pidfile was written: it used to rest on the
  pidfile's mtime alone, and a namesake started within a second or two of the pidfile's
  write passed for the service (a CI failure of this test);
- the restart starts a new instance of the service and leaves the namesake alone: the init
  script's `stop` matches the pidfile's PID and the executable's name, so the stale pidfile is
  removed first (a defect found by this test: the namesake used to be killed, and then the
  restart's `start` could meet "already running");
- the daemon then watches the new instance, and says so in its state.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.procs import wait_until_dead
from tests.conftest import require_root
from tests.vmroot import FAST_SERVICES_TOML, VmRoot
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.faults]

NS_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")
ATTEMPTS = 200  # other processes on the machine may fork first and take the PID


def spawn_with_pid(pid: int) -> subprocess.Popen:
    """A `sleep` that got exactly `pid` from the kernel (retried while others take it first)."""
    for _ in range(ATTEMPTS):
        NS_LAST_PID.write_text(str(pid - 1))
        process = subprocess.Popen(["/usr/bin/sleep", "300"])
        if process.pid == pid:
            return process
        process.kill()
        process.wait()
    raise AssertionError(f"could not get PID {pid} for the namesake in {ATTEMPTS} tries")


def test_a_pid_reused_by_a_namesake_is_down_and_the_restart_leaves_it_alone():
    require_root("the PID reuse test")
    folder = Path(tempfile.mkdtemp(prefix="vrmonitor-pidreuse-"))
    vm = VmRoot(folder, tag="pidreuse", section="reused")
    namesake = None
    try:
        vm.build(FAST_SERVICES_TOML + "startup_grace = 0\n")
        assert vm.service_ctl("start").returncode == 0
        old_pid = wait_for(vm.service_pid, "the service started")
        vm.start_daemon()
        wait_for(lambda: vm.alive() or vm.sees_service_up(), "the daemon sees the service up")
        vm.stop_daemon()

        # The service dies while nobody watches; its pidfile stays; its PID goes to a namesake.
        os.kill(old_pid, signal.SIGKILL)
        assert wait_until_dead(old_pid) in (None, "Z")
        wait_for(lambda: not Path(f"/proc/{old_pid}").exists(), "PID 1 reaped the service", within=10)
        namesake = spawn_with_pid(old_pid)
        assert vm.pidfile.read_text().strip() == str(old_pid)

        vm.start_daemon()
        wait_for(lambda: vm.alive() or (vm.sees_service_up() and vm.service_state().get("pid") != old_pid),
                 "the daemon restarted the service")
        new_pid = vm.service_pid()
        assert new_pid is not None and new_pid != old_pid
        assert vm.service_state()["pid"] == new_pid
        assert namesake.poll() is None, "the restart killed the unrelated process that reused the PID"
        assert vm.starts() == 2  # the test's start, and the daemon's restart
        log = vm.stop_daemon()
        assert (f"removed {vm.pidfile} before restarting sleep: pidfile {vm.pidfile} is stale: "
                f"PID {old_pid} was reused by another sleep (started at ") in log

        lines = [alert["line"].split(" ", 2)[2] for alert in vm.alerts()]
        assert lines == ["[INFO] [sleep] The process sleep is not running trying recover",
                         f"[INFO] [{vm.service}] The process {vm.service} is recovered successfully "]
    finally:
        if namesake is not None:
            namesake.kill()
            namesake.wait()
        vm.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
