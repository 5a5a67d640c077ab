"""Checks that strain or dodge the runner, run by the real daemon: 1000 checks in the folder, a
check that forks 100 children and exits (and one whose child leaves with setsid), and a check
that closes its stdout and stderr and keeps running.

What must hold: the daemon keeps running; every check gets its result (1000 entries, the
failing file listing exactly the failing ones; the forker's output; the closer's timeout);
the daemon's open files come back to what they were after each run (no fd leak) and its memory
does not grow from run to run; nothing a check started in its process group outlives the run,
and the daemon leaves no zombie child.
"""

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.faults.live_daemon import LiveDaemon, results
from tests.procs import process_state
from tests.vmroot import FAST_SERVICES_TOML, VmRoot, temporary_vm
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow]

MANY = 1000
FAILING_EVERY = 7
CLOSER_TIMEOUT = 2


@pytest.fixture
def vm():
    with temporary_vm("hostile", "the hostile check tests") as vm:
        vm.check_mark = f"VRMONITOR_FAULT_CHECK={os.getpid()}-{time.time_ns()}"
        try:
            yield vm
        finally:
            for pid in marked(vm.check_mark):  # what escaped (setsid) or outlived a failed test
                os.kill(pid, signal.SIGKILL)


def marked(mark: str) -> list[int]:
    """Live (not zombie) processes carrying `mark` in their environment."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if mark.encode() in environ and process_state(int(entry)) not in (None, "Z"):
            found.append(int(entry))
    return found


def zombie_children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children.extend(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return [child for child in children if process_state(child) == "Z"]


def rss_kib(pid: int) -> int:
    return int(re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def started(vm: VmRoot, toml: str, checks: dict[str, str]) -> LiveDaemon:
    vm.build(toml, checks)
    assert vm.service_ctl("start").returncode == 0
    wait_for(vm.service_pid, "the service started")
    return LiveDaemon(vm)


def next_run(daemon: LiveDaemon, after: float) -> dict:
    """The basic results of the first run finished after `after` (both kinds done, checks gone)."""
    paths = [daemon.vm.root / f"root/{kind}_monitor_results.json" for kind in ("basic", "advanced")]
    wait_for(lambda: daemon.running() and all(p.exists() and p.stat().st_mtime > after for p in paths)
             and not daemon.vm.running_checks(), "a run of both kinds", within=120)
    return results(paths[0])


def test_a_thousand_checks_all_get_results_without_leaking(vm):
    checks = {f"c{n:04d}_check.sh": f'#!/bin/sh\n[ "$1" = basic ] || exit 0\necho "check {n}"\n'
                                    f"exit {1 if n % FAILING_EVERY == 0 else 0}\n"
              for n in range(MANY)}
    failing = [name for n, name in enumerate(sorted(checks)) if n % FAILING_EVERY == 0]
    daemon = started(vm, FAST_SERVICES_TOML, checks)
    basic = next_run(daemon, 0)
    baseline_fds = daemon.fd_count()
    sizes = []
    for _ in range(3):
        done = (vm.root / "root/basic_monitor_results.json").stat().st_mtime
        daemon.start_runs()
        basic = next_run(daemon, done)
        wait_for(lambda: daemon.running() and daemon.fd_count() <= baseline_fds,
                 f"the daemon's open files back to {baseline_fds} (now {daemon.fd_count()})")
        sizes.append(rss_kib(daemon.pid))
        assert set(basic) == set(checks) | {"crashsvc.service", "lastRun"}
        assert [name for name in sorted(checks) if basic[name]["success"] == "false"] == failing
        assert all(basic[name]["message"] == f"check {int(name[1:5])}" for name in checks)
        wait_for(lambda: (vm.root / "root/basic_failing_health_checks").read_text() == ",".join(failing),
                 "the failing file of the run")
    assert results(vm.root / "root/advanced_monitor_results.json").keys() == {"lastRun"}
    assert sizes[2] - sizes[0] < 8 * 1024, f"the daemon's RSS grew from run to run: {sizes} KiB"
    assert zombie_children(daemon.pid) == []
    daemon.stop()


def test_a_check_forking_100_children_is_recorded_and_its_children_do_not_outlive_it(vm):
    pids = vm.root.parent / "forked.pids"
    escaped = vm.root.parent / "escaped.pid"
    checks = {
        "forker_check.sh": f'#!/bin/sh\n[ "$1" = basic ] || exit 0\nexport {vm.check_mark}\n'
                           f'i=0\nwhile [ $i -lt 100 ]; do sleep 300 & echo $! >> {pids}; i=$((i + 1)); done\n'
                           'echo "forked 100"\nexit 0\n',
        "setsid_check.sh": f'#!/bin/sh\n[ "$1" = basic ] || exit 0\nexport {vm.check_mark}\n'
                           f'setsid sh -c \'echo $$ > {escaped}; exec sleep 300\' &\n'
                           f'while [ ! -s {escaped} ]; do sleep 0.01; done\n'  # it has its session
                           'echo "escaped one"\nexit 0\n',
    }
    daemon = started(vm, FAST_SERVICES_TOML, checks)
    basic = next_run(daemon, 0)
    assert basic["forker_check.sh"]["success"] == "true"
    assert basic["forker_check.sh"]["message"] == "forked 100"
    assert basic["setsid_check.sh"]["message"] == "escaped one"
    children = [int(line) for line in pids.read_text().split()]
    assert len(children) == 100
    alive = [pid for pid in children if process_state(pid) not in (None, "Z")]
    assert alive == [], f"children of the check outlived its run: {alive}"
    assert zombie_children(daemon.pid) == []
    # A child in a session of its own may be a service the check restarted: it is found by the
    # run's marker and named in the log, not killed (the fixture ends it).
    escapee = int(escaped.read_text())
    assert marked(vm.check_mark) == [escapee]
    assert "health check setsid_check.sh left running, in a session of its own" in daemon.log()
    assert f"{escapee} (sleep)" in daemon.log()
    daemon.running()
    daemon.stop()


def test_a_check_closing_stdout_and_running_on_times_out_and_is_gone(vm):
    toml = FAST_SERVICES_TOML + f'[health.checks."closer_check.sh"]\ntimeout = {CLOSER_TIMEOUT}\n'
    checks = {"closer_check.sh": f'#!/bin/sh\n[ "$1" = basic ] || exit 0\nexport {vm.check_mark}\n'
                                 'echo "closing"\nexec >&- 2>&-\nsleep 300\nexit 0\n',
              "quick_check.sh": '#!/bin/sh\n[ "$1" = basic ] || exit 0\necho "quick"\n'}
    daemon = started(vm, toml, checks)
    basic = next_run(daemon, 0)
    closer = basic["closer_check.sh"]
    assert closer["success"] == "false"
    assert closer["message"] == f"closing timed out after {CLOSER_TIMEOUT} s and was killed"
    assert float(closer["lastRunDuration"]) >= CLOSER_TIMEOUT * 1000
    assert basic["quick_check.sh"]["message"] == "quick"
    assert marked(vm.check_mark) == []
    assert zombie_children(daemon.pid) == []
    daemon.running()
    daemon.stop()
