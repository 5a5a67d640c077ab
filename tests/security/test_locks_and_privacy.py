"""Issue 15, classes 2 and 7: locks no other user can take, waits on them with a bound, and
state that only root can read.

The root of each test is a folder anyone may traverse (as / is), so that what `nobody` can or
cannot open is decided by vrmonitor's own modes, not by pytest's private temporary folder."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.test_run_foreground import start_daemon
from tests.security.test_hostile_files import StatusLines, stop, watched_sleep
from vrmonitor.alerts.held import HeldAlerts
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.paths import Paths
from vrmonitor.system.detach import LockedPidfile, check_not_running
from vrmonitor.system.locks import LockTimeout, open_lock

pytestmark = pytest.mark.root

# As `nobody`: open the file read-only and take a shared lock; prints what happened.
AS_NOBODY = """
import fcntl, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    print("locked")
except OSError as exc:
    print(type(exc).__name__)
"""


@pytest.fixture
def root():
    folder = Path(tempfile.mkdtemp(prefix="vrmt-locks-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def as_nobody(path) -> str:
    return subprocess.run([sys.executable, "-c", AS_NOBODY, str(path)], user="nobody", group="nogroup",
                          capture_output=True, text=True, timeout=30, check=True).stdout.strip()


def hold_lock(path) -> subprocess.Popen:
    """Another root process (a reader gone astray) holding a shared lock until killed."""
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
                               "fcntl.flock(fd, fcntl.LOCK_SH)\nprint('held', flush=True)\ntime.sleep(300)",
                               str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_no_other_user_can_open_any_lock(root):
    paths = Paths(root)
    AlertWriter(paths).write("INFO", "t", "one")
    os.close(open_lock(paths.run_dir / "health-basic.lock"))  # as HealthEngine.run opens it
    with LockedPidfile(paths.pidfile):
        locks = [paths.state_dir / "alerts/lock", paths.run_dir / "health-basic.lock", paths.pidfile]
        assert {str(lock): as_nobody(lock) for lock in locks} == {str(lock): "PermissionError" for lock in locks}
        assert {oct(lock.stat().st_mode & 0o777) for lock in locks} == {"0o600"}
    for folder in (paths.state_dir / "alerts", paths.run_dir):
        assert oct(folder.stat().st_mode & 0o777) == "0o700", folder


def test_a_lock_an_older_version_left_open_to_all_is_made_private(root):
    paths = Paths(root)
    folder = paths.state_dir / "alerts"
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    (folder / "lock").touch(mode=0o644)
    (folder / "lock").chmod(0o644)
    assert as_nobody(folder / "lock") == "locked"  # the defect, as an upgrade finds it
    AlertWriter(paths).write("INFO", "t", "one")
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert oct((folder / "lock").stat().st_mode & 0o777) == "0o600"
    assert as_nobody(folder / "lock") == "PermissionError"


def test_the_sysv_pidfile_lock_cannot_be_taken_by_another_user(root):
    paths = Paths(root)
    check_not_running(paths.pidfile)  # creates it, as `vrmonitor run` does before detaching
    assert as_nobody(paths.pidfile) == "PermissionError"
    check_not_running(paths.pidfile)  # still free: no one else could take it


def test_a_lock_held_past_the_wait_delays_the_alert_and_loses_nothing(root):
    paths = Paths(root)
    AlertWriter(paths).write("INFO", "t", "before")
    holder = hold_lock(paths.state_dir / "alerts/lock")
    try:
        held = HeldAlerts(AlertWriter(paths, lock_wait=0.2))
        started = time.monotonic()
        held.write("ALERT", "t", "while locked")
        held.write("ALERT", "t", "still locked")  # within RETRY_AFTER: not tried again
        assert len(held) == 2 and time.monotonic() - started < 2.0
        with pytest.raises(LockTimeout) as raised:
            AlertWriter(paths, lock_wait=0.1).write("INFO", "t", "direct")
        assert raised.value.filename == str(paths.state_dir / "alerts/lock")
        assert str(raised.value).startswith("[Errno 110] still locked by another process after 0.1 s")
    finally:
        holder.kill()
        holder.wait()
    time.sleep(1.1)  # RETRY_AFTER
    assert held.flush() and len(held) == 0
    lines = [line.split(" ", 2)[2] for line in paths.alert_log.read_text().splitlines() if line]
    assert lines == ["[INFO] [t] before", "[ALERT] [t] while locked", "[ALERT] [t] still locked"]


def test_a_daemon_whose_alert_lock_is_held_keeps_monitoring_and_writes_the_alert_later(root):
    service = watched_sleep(root, root / "sleeper.pid")
    paths = Paths(root)
    AlertWriter(paths).write("INFO", "t", "before")
    holder = hold_lock(paths.state_dir / "alerts/lock")
    daemon = start_daemon(root)
    status = StatusLines(daemon)
    try:
        status.wait_for("services up 1/1")
        service.kill()
        service.wait()
        status.wait_for("services up 0/1")
        for _ in range(10):  # status lines keep coming: the loop is not stuck on the lock
            status.wait_for("services up", within=3)
        assert "not running" not in paths.alert_log.read_text()
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 10
        while "[INFO] [sleep] The process sleep is not running trying recover" not in paths.alert_log.read_text():
            assert time.monotonic() < deadline, "the held alert was not written after the lock was freed"
            time.sleep(0.1)
    finally:
        holder.kill()
        holder.wait()
        code = stop(daemon)
        service.kill()
        service.wait()
    assert code == 0


def test_state_is_root_s_alone_and_the_prom_file_is_readable_by_the_exporter(root):
    service = watched_sleep(root, root / "sleeper.pid")
    paths = Paths(root)
    exporter = root / "var/lib/prometheus/node-exporter"
    exporter.mkdir(parents=True)
    for folder in (root / "var", root / "var/lib", root / "var/lib/prometheus", exporter):
        folder.chmod(0o755)
    daemon = start_daemon(root)
    status = StatusLines(daemon)
    try:
        status.wait_for("services up 1/1")
        deadline = time.monotonic() + 10
        while not (paths.daemon_state.exists() and paths.prometheus_file.exists()):
            assert time.monotonic() < deadline, "daemon.json and vrmonitor.prom not written"
            time.sleep(0.1)
    finally:
        code = stop(daemon)
        service.kill()
        service.wait()
    assert code == 0
    assert {str(f): oct(f.stat().st_mode & 0o777) for f in (paths.state_dir, paths.run_dir)} == \
        {str(paths.state_dir): "0o700", str(paths.run_dir): "0o700"}
    assert as_nobody(paths.daemon_state) == "PermissionError"
    assert as_nobody(paths.prometheus_file) == "locked"  # opened and read by the node exporter's user
