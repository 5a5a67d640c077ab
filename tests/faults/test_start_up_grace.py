"""Start-up grace with the real daemon: a system VM still configuring itself after boot.

Until /var/cache/cloud/boot_up_done is written during this boot, a down service never yet
seen up is neither alerted nor restarted; then it is, at once. The grace counts from boot and
this machine booted long ago, so the tests give it no end (startup_grace).

A wall clock step moves this boot's start as reckoned from the clock. A daemon restarted after
a forward step used to take the marker, written before the step, for one of an earlier boot and
held every service back until the grace ended (300 s after boot by default): the start as the
boot's first daemon reckoned it is now carried in the state (same boot).
"""

import math
import time

import pytest

from tests.faults.fake_clock import FakeClock, require_libfaketime
from tests.vmroot import FAST_SERVICES_TOML, VmRoot, temporary_vm
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.faults]

NO_END = FAST_SERVICES_TOML + "startup_grace = 1e9\n"
HOUR = 3600


@pytest.fixture
def vm():
    with temporary_vm("grace", "the start-up grace tests") as vm:
        vm.build(NO_END)
        (vm.root / "var/cache/cloud").mkdir(parents=True)
        yield vm


def alert_lines(vm: VmRoot) -> list[str]:
    return [alert["line"].split(" ", 2)[2] for alert in vm.alerts()]


def recovered(vm: VmRoot) -> list[str]:
    return ["[INFO] [sleep] The process sleep is not running trying recover",
            f"[INFO] [{vm.service}] The process {vm.service} is recovered successfully "]


def held_back(vm: VmRoot) -> bool:
    vm.alive()
    return "router still booting" in vm.service_state().get("reason", "")


def test_a_down_service_is_held_back_until_boot_up_done_then_recovered(vm):
    vm.start_daemon()
    wait_for(lambda: held_back(vm), "the daemon judges the service down and holds it back")
    assert vm.starts() == 0 and vm.alerts() == []

    (vm.root / "var/cache/cloud/boot_up_done").touch()
    wait_for(lambda: vm.alive() or vm.sees_service_up(), "the restart once the boot configuration is done")
    assert vm.starts() == 1
    assert alert_lines(vm) == recovered(vm)
    vm.stop_daemon()


def test_a_daemon_restarted_after_a_forward_clock_step_still_knows_the_boot_is_done(vm):
    require_libfaketime()
    monitor_conf = vm.root / "etc/monitor.conf"
    watched = monitor_conf.read_text()
    # The boot's first daemon, before the service is configured (nothing seen up, nothing carried
    # but the boot's start); then the boot configuration ends.
    monitor_conf.write_text("")
    vm.start_daemon()
    wait_for(lambda: vm.alive() or vm.state().get("pid") == vm.daemon.pid, "the first daemon's state")
    vm.stop_daemon()
    (vm.root / "var/cache/cloud/boot_up_done").touch()
    monitor_conf.write_text(watched)

    # A router writes its marker minutes after boot; this machine booted hours ago. The step must
    # carry this boot's start, reckoned now, past the marker: longer than the uptime.
    clock = FakeClock(vm.root.parent)
    clock.step(f"+{math.ceil(time.monotonic() / HOUR) + 1}h")
    vm.start_daemon(clock.env())
    wait_for(lambda: vm.alive() or vm.sees_service_up(), "the restart of the down service")
    assert vm.starts() == 1
    assert alert_lines(vm) == recovered(vm)
    vm.stop_daemon()
