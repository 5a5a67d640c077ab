"""The router's wall clock stepped back 3 hours and then forward 5 hours under a running daemon.

The whole router gets the step: the daemon runs under libfaketime with the offset read from a
file on every call, and its children (init scripts, checks) and the entry points the test calls
inherit it, as every process on a router sees one clock. The monotonic clock is left alone, as
a real step leaves it (schedules run on it). File times are the kernel's and do not move.

What must hold across both steps:
- the daemon keeps running and logs each step;
- the health schedule goes on: a basic run happens after each step, and the runs are not more
  than the monotonic time allows (a wall-clock schedule would stall for 3 hours, then burst);
- a run the step cut through has a duration of seconds, not of minus three hours (defect fixed);
- results carry the stepped wall clock as their label;
- the management server, polling with the last timestamp it received (contract 2.5), gets each
  alert exactly once, including the alerts stamped 3 hours before that timestamp;
- `vrmonitor status --json` counts the restarts of the last hour on the monotonic clock: the
  step forward does not make them vanish (defect fixed).
"""

import json
import os
import shutil
import signal
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.faults.fake_clock import FakeClock, require_libfaketime
from tests.faults.live_daemon import LiveDaemon, results
from tests.faults.ms_poller import AlertPoller, install_entry_points
from tests.conftest import require_root
from tests.vmroot import FAST_SERVICES_TOML, VmRoot
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow]

INTERVAL = 60.0  # seconds: health_checks_data.json's smallest interval, 1 minute
RUN_WAIT = 3 * INTERVAL  # generous: one scheduled run is due within INTERVAL
# A restart holds after STABLE_AFTER s up (a service dying sooner is a crash loop, another fault's
# test); HELD waits that long plus two verifications, with room to spare, between kills.
STABLE_AFTER = 0.2
HELD = 2.0
TOML = FAST_SERVICES_TOML + f"stable_after = {STABLE_AFTER}\n"


def gate_check(runs: Path, held: Path, release: Path) -> str:
    """A basic check that records each run; the first one waits for `release` (up to 60 s)."""
    return (f'#!/bin/sh\n[ "$1" = basic ] || exit 0\necho run >> {runs}\n'
            f'if [ ! -e {held} ]; then\n  touch {held}\n  n=0\n'
            f'  while [ ! -e {release} ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done\nfi\n'
            'echo "gate ok"\nexit 0\n')


def run_count(runs: Path) -> int:
    try:
        return len(runs.read_text().splitlines())
    except FileNotFoundError:
        return 0


def started(results_file: Path) -> datetime:
    return datetime.fromisoformat(results(results_file)["lastRun"]["start"])


@pytest.fixture
def router():
    require_root("the clock step test")
    require_libfaketime()
    folder = Path(tempfile.mkdtemp(prefix=f"vrmonitor-clock-{os.getpid()}-"))
    vm = VmRoot(folder, tag="clock")
    try:
        yield folder, vm
    finally:
        vm.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_steps_back_and_forward_by_hours_keep_schedule_alerts_and_restart_counts(router):
    folder, vm = router
    runs, held, release = folder / "runs", folder / "held", folder / "release"
    vm.build(TOML, {"gate_check.sh": gate_check(runs, held, release)})
    install_entry_points(vm.root)
    clock = FakeClock(folder)
    basic = vm.root / "root/basic_monitor_results.json"
    assert vm.service_ctl("start").returncode == 0
    wait_for(vm.service_pid, "the service started")

    daemon = LiveDaemon(vm, prefix=clock.env())
    vm.daemon = daemon.process  # VmRoot's cleanup ends it if the test fails
    began = time.monotonic()
    wait_for(lambda: daemon.running() and vm.sees_service_up(), "the daemon sees the service up")
    ms = AlertPoller(vm.root, prefix=clock.env())  # the MS's SSH command runs on the router's clock
    assert ms.new_alerts() == []

    def kill_service() -> list[str]:
        """The watched service dies; the daemon's two alerts (down, recovered) as the MS gets them."""
        time.sleep(HELD)  # the last restart has held: this kill is not a crash loop
        seen, pid = len(daemon.alerts()), vm.service_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: daemon.running() and len(daemon.alerts()) >= seen + 2
                 and vm.service_pid() not in (None, pid) and vm.sees_service_up(),
                 "the daemon's recovery of the service")
        delivered = ms.new_alerts()
        assert [line.split(" ", 2)[2] for line in delivered] == [
            "[INFO] [sleep] The process sleep is not running trying recover",
            f"[INFO] [{vm.service}] The process {vm.service} is recovered successfully "]
        return delivered

    def restarts_last_hour() -> int:
        status = daemon.vrmonitor("status", "--json")
        assert status.returncode == 0, status.stderr
        return json.loads(status.stdout)["services"][vm.section]["restarts_last_hour"]

    # --- the first basic run is under way: an alert round at +0, then the step back -----------
    wait_for(lambda: daemon.running() and held.exists(), "the first basic run's gate check")
    at_zero = kill_service()
    clock.step("-3h")
    daemon.wait_log("the wall clock stepped by -1080")
    release.touch()
    wait_for(lambda: daemon.running() and basic.exists() and "gate_check.sh" in results(basic),
             "the first basic run's results")
    duration = float(results(basic)["lastRun"]["duration"])
    assert 0.0 <= duration < 3600.0, f"the run the step cut through lasted {duration} s"

    # --- 3 hours back: alerts stamped before the MS's timestamp still arrive, once -----------
    back = kill_service()
    assert back[0] < at_zero[-1], "the alerts carry the stepped-back clock"
    assert restarts_last_hour() == 2
    wait_for(lambda: daemon.running() and run_count(runs) >= 2, "a scheduled basic run after the step back",
             within=RUN_WAIT)
    wait_for(lambda: started(basic) < datetime.now() - timedelta(hours=2),
             "the results of the run after the step back", within=30)

    # --- 5 hours forward (2 hours past the real time) ------------------------------------------
    clock.step("+5h")
    daemon.wait_log("the wall clock stepped by +2880")
    forward = kill_service()
    assert forward[0] > at_zero[-1]
    assert restarts_last_hour() == 3, "the restarts of the last hour, whatever the wall clock says"
    before = run_count(runs)
    wait_for(lambda: daemon.running() and run_count(runs) > before, "a scheduled basic run after the step forward",
             within=RUN_WAIT)
    wait_for(lambda: started(basic) > datetime.now() + timedelta(hours=4), "the results of the run after the step forward",
             within=30)
    # Runs follow the monotonic clock: no catching up on 5 "missed" hours of runs.
    assert run_count(runs) <= (time.monotonic() - began) / INTERVAL + 2

    # --- the ledger: every alert delivered exactly once, in journal order ----------------------
    assert ms.new_alerts() == []
    journal = daemon.alerts()
    assert [a["seq"] for a in journal] == list(range(1, len(journal) + 1)) and len(journal) == 6
    assert ms.delivered == [a["line"] for a in journal]
    legacy = (vm.root / "var/log/routerServiceMonitor.log").read_bytes()
    assert legacy == "".join(a["line"] + "\n\n" for a in journal).encode()
    log = daemon.stop()
    assert "stepped by -1080" in log and "stepped by +2880" in log
