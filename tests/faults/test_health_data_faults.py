"""What the management server's side of /root can do to the daemon's health runs: the checks
folder deleted while a run is in progress (and recreated), and health_checks_data.json replaced
while a run is in progress, with new settings, with a torn file, and fixed again.

What must hold: the daemon keeps running; the run in progress finishes with a result for every
check (a check deleted before it started says it could not be started); a run without a checks
folder writes whole results and the log names the missing folder; new settings are honoured by
the next run; a torn file keeps the last good settings in force and the results say so, naming
the file; a fixed file is used again.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.faults.live_daemon import LiveDaemon, results
from tests.vmroot import FAST_SERVICES_TOML, VmRoot, check_script, temporary_vm
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow]

ONE_AT_A_TIME = FAST_SERVICES_TOML + "[health]\nmax_parallel = 1\n"
CHECKS = {"a_slow_check.sh": check_script("basic", 1.5, 0, "slow done"),
          "b_later_check.sh": check_script("basic", 0, 1, "later broken")}
TORN = b'{"health_checks_basic_run_interval": 1, "health_checks_enabled": tru'


@pytest.fixture
def vm():
    with temporary_vm("healthdata", "the health data fault tests") as vm:
        vm.build(ONE_AT_A_TIME, CHECKS)
        assert vm.service_ctl("start").returncode == 0
        wait_for(vm.service_pid, "the service started")
        yield vm


def next_run(daemon: LiveDaemon, path: Path, after: float, what: str) -> dict:
    """The results file once a run has replaced the one of time `after`."""
    daemon.wait(lambda: path.exists() and path.stat().st_mtime > after, what, within=90)
    return results(path)


def failing(daemon: LiveDaemon, expected: str | None) -> None:
    """The failing-checks file says `expected` (None: absent); it is written just after the results."""
    path = daemon.vm.root / "root/basic_failing_health_checks"
    daemon.wait(lambda: (path.read_text() if path.exists() else None) == expected,
                f"{path.name} says {expected!r}")


def basic_check_running(vm: VmRoot) -> bool:
    """A check of a basic run is running (its argument is the kind) and past its first lines: it
    has started its `sleep`. An exec'd check whose shell has not yet opened its script would die
    of the folder's removal, which is not what the tests using this mean to do."""
    for pid in vm.running_checks():
        try:
            kind = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2:-1]
            sleeping = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if kind == [b"basic"] and sleeping:
            return True
    return False


def replace(path: Path, data: bytes) -> None:
    """As the management server does it: a new file renamed over the old one."""
    temp = path.with_name(path.name + ".new")
    temp.write_bytes(data)
    os.replace(temp, path)


def test_checks_folder_deleted_mid_run_and_recreated(vm):
    daemon = LiveDaemon(vm)
    basic = vm.root / "root/basic_monitor_results.json"
    checks = vm.root / "root/health_checks"
    first = next_run(daemon, basic, 0, "the first run")
    assert first["a_slow_check.sh"]["message"] == "slow done"
    staged = vm.root.parent / "staged-checks"
    shutil.copytree(checks, staged)

    done = basic.stat().st_mtime
    daemon.start_runs()
    daemon.wait(lambda: basic_check_running(vm), "the slow check of the next run")
    shutil.rmtree(checks)
    mid = next_run(daemon, basic, done, "the run the folder vanished from")
    assert mid["a_slow_check.sh"]["message"] == "slow done"  # it was running: it finished
    assert mid["b_later_check.sh"]["success"] == "false"
    assert mid["b_later_check.sh"]["message"] == "could not be started: No such file or directory"
    failing(daemon, "b_later_check.sh")

    mark, done = len(daemon.lines), basic.stat().st_mtime
    daemon.start_runs()
    empty = next_run(daemon, basic, done, "a run without the folder")
    assert set(empty) == {"crashsvc.service", "lastRun"}
    assert "health checks folder /root/health_checks is missing" in daemon.wait_log("missing", after=mark)
    failing(daemon, None)

    shutil.copytree(staged, checks)
    os.chmod(checks, 0o755)
    done = basic.stat().st_mtime
    daemon.start_runs()
    back = next_run(daemon, basic, done, "a run with the folder back")
    assert back["a_slow_check.sh"]["message"] == "slow done"
    assert back["b_later_check.sh"]["message"] == "later broken"
    daemon.stop()


def test_health_data_replaced_mid_run_new_torn_and_fixed(vm):
    data_file = vm.root / "root/health_checks_data.json"
    basic = vm.root / "root/basic_monitor_results.json"
    daemon = LiveDaemon(vm)
    next_run(daemon, basic, 0, "the first run")

    # New settings while a run is in progress: the next run honours them.
    done = basic.stat().st_mtime
    daemon.start_runs()
    daemon.wait(lambda: basic_check_running(vm), "a check of the run in progress")
    new = {"health_checks_basic_run_interval": 1, "health_checks_advanced_run_interval": 1,
           "health_checks_enabled": True, "excluded_health_checks": ["b_later_check.sh"],
           "health_checks_config": {}}
    replace(data_file, json.dumps(new).encode())
    in_progress = next_run(daemon, basic, done, "the run in progress")
    assert "b_later_check.sh" in in_progress  # it started with the settings of its start
    honoured = next_run(daemon, basic, basic.stat().st_mtime, "the run with the new settings")
    assert set(honoured) == {"a_slow_check.sh", "crashsvc.service", "lastRun"}
    failing(daemon, None)

    # Disabled: the next run writes results without checks.
    done = basic.stat().st_mtime
    replace(data_file, json.dumps(dict(new, health_checks_enabled=False,
                                       health_checks_basic_run_interval=2)).encode())
    disabled = next_run(daemon, basic, done, "a run with checks disabled")
    assert set(disabled) == {"crashsvc.service", "lastRun"}

    # Torn while enabled again: the last good data (disabled, interval 2) stays in force.
    replace(data_file, json.dumps(new).encode())  # enabled, interval 1: a run starts
    done = next_run(daemon, basic, basic.stat().st_mtime, "a run with checks enabled again")
    assert set(done) == {"a_slow_check.sh", "crashsvc.service", "lastRun"}
    mark, done = len(daemon.lines), basic.stat().st_mtime
    replace(data_file, TORN)
    logged = daemon.wait_log("/root/health_checks_data.json: invalid JSON", after=mark)
    assert "the previous valid data stays in force" in logged
    # The schedule is the last good one (every minute): its next run reports the torn file.
    torn = next_run(daemon, basic, done, "the scheduled run after the file was torn")
    assert torn["a_slow_check.sh"]["message"] == "slow done"  # still enabled, b still excluded
    assert "b_later_check.sh" not in torn
    problem = torn["health_checks_data.json"]
    assert problem["success"] == "false"
    assert problem["message"].startswith("/root/health_checks_data.json: invalid JSON at line 1")
    assert problem["message"].endswith("(the previous valid data stays in force)")
    failing(daemon, "health_checks_data.json")

    # Fixed: used again (its new interval starts a run at once).
    done = basic.stat().st_mtime
    replace(data_file, json.dumps(dict(new, excluded_health_checks=[],
                                       health_checks_basic_run_interval=2)).encode())
    fixed = next_run(daemon, basic, done, "a run with the fixed file")
    assert set(fixed) == {"a_slow_check.sh", "b_later_check.sh", "crashsvc.service", "lastRun"}
    failing(daemon, "b_later_check.sh")
    daemon.stop()
