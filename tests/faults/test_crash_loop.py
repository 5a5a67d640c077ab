"""A service that dies a second after every start, for 10 minutes, under the real daemon.

The watched service's init script starts `sleep 1` (the fault) until the test rewrites it to
start `sleep 86400` (the fault cleared). The daemon runs with the shipped ladder (5 attempts,
backoff from 1 s), `stable_after = 10` and `parked_reprobe_interval = 60` so that 10 minutes
hold several re-probes and recovery shows within seconds. What must hold:
- the daemon keeps running, and its open files and threads do not grow with the cycles;
- restarts stay on the ladder: at most 5 + one per re-probe interval, never one a second;
- the alerts say what happened, once: found down, recovered, crash looping, parked; nothing
  per cycle (a restart per second with two alerts each would be about 1200 lines);
- `vrmonitor status --json` shows the crash loop and the parking;
- once the fault clears, the next re-probe's restart holds: one INFO, the service up and
  unparked, and the alert feed gapless.
"""

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.vmroot import VmRoot
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow, pytest.mark.long]

LOOP_SECONDS = 600
REPROBE = 60
ATTEMPTS = 5
TOML = (f"[services]\nverify_interval = 10\nrestart_attempts = {ATTEMPTS}\nbackoff_initial = 1\n"
        f"parked_reprobe_interval = {REPROBE}\nstable_after = 10\nstartup_grace = 0\n")


def process_counts(pid: int) -> tuple[int, int]:
    """(open file descriptors, threads) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))
    return len(list(Path(f"/proc/{pid}/fd").iterdir())), threads


def test_a_service_crashing_every_second_for_10_minutes_is_contained_and_recovers():
    require_root("the crash loop test")
    folder = Path(tempfile.mkdtemp(prefix="vrmonitor-crashloop-"))
    vm = VmRoot(folder, tag="crashloop", section="looping")
    try:
        vm.build(TOML)
        assert vm.service_ctl("start").returncode == 0
        daemon = vm.start_daemon()
        wait_for(lambda: vm.alive() or vm.sees_service_up(), "the daemon sees the service up")

        vm.write_init_script("/usr/bin/sleep -- 1")  # the fault: every start dies after 1 s
        victim = vm.service_pid()
        vm.service_ctl("stop")  # the first death; from now on each start lasts a second
        wait_for(lambda: vm.alive() or vm.service_state().get("parked"), "parked", within=120)
        status = json.loads(vm.vrmonitor("status", "--json").stdout)
        looping = status["services"]["looping"]
        assert looping["crash_loop"] and looping["parked"], looping
        counts_early = process_counts(daemon.pid)
        loop_end = time.monotonic() + LOOP_SECONDS
        while time.monotonic() < loop_end:
            vm.alive()
            time.sleep(5)
        counts_late = process_counts(daemon.pid)
        starts_in_loop = vm.starts() - 1  # the test's own first start
        assert ATTEMPTS + LOOP_SECONDS // REPROBE - 2 <= starts_in_loop <= ATTEMPTS + LOOP_SECONDS // REPROBE + 2, \
            starts_in_loop
        assert counts_late == counts_early, f"open files, threads: {counts_early} -> {counts_late}"

        lines = [alert["line"].split(" ", 2)[2] for alert in vm.alerts()]
        service = vm.service
        assert len(lines) == 4, lines
        assert lines[0] == "[INFO] [sleep] The process sleep is not running trying recover"
        assert lines[1] == f"[INFO] [{service}] The process {service} is recovered successfully "
        assert re.fullmatch(r"\[ALERT\] \[sleep\] The process sleep is crash looping: exited [0-9.]+ s "
                            r"after its restart \(.*\); restarts now wait on the ladder", lines[2]), lines[2]
        assert re.fullmatch(rf"\[ALERT\] \[sleep\] The process sleep recover failed: {ATTEMPTS} restarts did "
                            rf"not bring it back \(exited [0-9.]+ s after its restart \(.*\)\); re-checked "
                            rf"every {REPROBE} s without restarting", lines[3]), lines[3]

        vm.write_init_script("/usr/bin/sleep -- 86400")  # the fault clears
        wait_for(lambda: vm.alive() or not vm.service_state().get("crash_loop"), "recovered",
                 within=REPROBE + 40, step=0.5)
        state = vm.service_state()
        assert state["state"] == "up" and not state["parked"] and state["pid"] == vm.service_pid()
        assert state["pid"] != victim
        alerts = vm.alerts()
        assert [alert["line"].split(" ", 2)[2] for alert in alerts[4:]] == [
            f"[INFO] [{service}] The process {service} is recovered successfully "]
        assert [alert["seq"] for alert in alerts] == [1, 2, 3, 4, 5]
        vm.stop_daemon()
    finally:
        vm.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
