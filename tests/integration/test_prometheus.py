"""The export through the real things: a vrmonitor daemon on a temporary root writes vrmonitor.prom
into the textfile folder of Debian's prometheus-node-exporter, which Debian's prometheus scrapes
every second with the shipped rules loaded (their `for:` waits shortened to 2 s, the
expressions as shipped). Everything listens on 127.0.0.1 only, on free ports.

What Prometheus' HTTP API must show: a service killed and restarted at once (its restart counter
and VrmonitorServiceRestarted), a service killed and kept down (its state, failed attempts,
VrmonitorServiceDown firing, then resolving once it is back), a daemon killed with SIGKILL and
started again (VrmonitorRestartedByWatchdog), every query of the shipped dashboard evaluating
with data, and `vrmonitor_up 0` after a clean stop. And the issue's bound: each kill is in a
sample stamped within one scrape interval + 2 s of the daemon noticing it (tests/fleet/latency.py).
"""

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from tests.prom_stack import NodeExporter, PrometheusServer, dashboard_expressions, quick_rules, running
from tests.conftest import require_root
from tests.fleet.latency import first_sample, noticed
from tests.vmroot import FAST_SERVICES_TOML, VmRoot
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow]

SECTION = "crashsvc"
SCRAPE_INTERVAL = 1.0  # seconds; also the rules' evaluation interval


class HeldVmRoot(VmRoot):
    """A VmRoot whose init script refuses to start the service while `hold` exists."""

    @property
    def hold(self) -> Path:
        return self.root / "run" / "hold-service-down"

    def write_init_script(self, service_command: str) -> None:
        super().write_init_script(service_command)
        text = self.init_script.read_text()
        text = text.replace("  start) date", f"  start) [ -e {self.hold} ] && exit 1\n         date", 1)
        self.init_script.write_text(text)


@pytest.fixture
def stack():
    require_root("the daemon's watched service", "an init script in /etc/init.d, `service`")
    folder = Path(tempfile.mkdtemp(prefix=f"vrmonitor-prom-{os.getpid()}-"))
    vm = HeldVmRoot(folder, tag="prom")
    try:
        yield from _stack(vm, folder)
    finally:
        vm.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _stack(vm: HeldVmRoot, folder: Path):
    textfiles = vm.root / "var/lib/prometheus/node-exporter"
    # stable_after = 1: the second kill must find the first restart held, not a crash loop.
    vm.build(toml=FAST_SERVICES_TOML + 'stable_after = 1\n[export]\nprometheus = "on"\n',
             checks={"good_check.sh": "#!/bin/sh\necho fine\n", "bad_check.sh": "#!/bin/sh\necho broken\nexit 1\n"})
    textfiles.mkdir(parents=True)
    assert vm.service_ctl("start").returncode == 0
    wait_for(vm.service_pid, "the service runs")
    exporter = NodeExporter(textfiles, folder / "node-exporter.log")
    server = PrometheusServer(folder / "prometheus", [exporter.address], quick_rules(folder),
                              interval=f"{SCRAPE_INTERVAL:g}s")
    with running(exporter, server):
        vm.start_daemon()
        exporter.wait_ready()
        server.wait_ready()
        yield vm, exporter, server


def sample(server: PrometheusServer, expr: str, want, what: str, within: float = 30.0) -> None:
    wait_for(lambda: (value := server.value(expr)) is not None and want(value), what, within=within, step=0.2)


def test_a_killed_service_a_dead_daemon_and_the_dashboard_through_prometheus(stack):
    vm, exporter, server = stack
    service = f'{{service="{SECTION}"}}'
    sample(server, f'vrmonitor_service_state{{service="{SECTION}",state="up"}}', lambda v: v == 1,
           "Prometheus sees the service up")
    assert server.value("vrmonitor_up") == 1
    assert server.value(f"vrmonitor_service_restarts_total{service}") == 0
    sample(server, 'vrmonitor_check_status{check="bad_check.sh",status="failed"}', lambda v: v == 1,
           "the failing check's result")

    # Killed and restarted at once: no scrape needs to see it down, the counter shows it.
    os.kill(vm.service_pid(), signal.SIGKILL)
    sample(server, f"vrmonitor_service_restarts_total{service}", lambda v: v == 1,
           "the restart counter reaches Prometheus")
    wait_for(lambda: server.firing("VrmonitorServiceRestarted"), "VrmonitorServiceRestarted fires", within=30, step=0.2)

    # Killed and kept down (its init script refuses to start it): down, failed attempts,
    # VrmonitorServiceDown fires; once it may start again, it is back and the alert resolves.
    wait_for(lambda: vm.service_pid() and vm.sees_service_up()
             and vm.service_state().get("on_trial_monotonic") is None, "the restart held")
    vm.hold.touch()
    os.kill(vm.service_pid(), signal.SIGKILL)
    sample(server, f'max(vrmonitor_service_state{{service="{SECTION}",state=~"down|recovering"}})',
           lambda v: v == 1, "Prometheus sees the service down")
    sample(server, f"vrmonitor_service_restart_failures_total{service}", lambda v: v >= 1,
           "failed attempts reach Prometheus")
    alerts = wait_for(lambda: server.firing("VrmonitorServiceDown"), "VrmonitorServiceDown fires",
                      within=30, step=0.2)
    assert alerts[0]["labels"]["service"] == SECTION and alerts[0]["labels"]["severity"] == "critical"
    vm.hold.unlink()
    sample(server, f'vrmonitor_service_state{{service="{SECTION}",state="up"}}', lambda v: v == 1,
           "Prometheus sees the service up again")
    assert server.value(f"vrmonitor_service_restarts_total{service}") == 2
    wait_for(lambda: not server.firing("VrmonitorServiceDown"), "VrmonitorServiceDown resolves",
             within=30, step=0.2)

    # A daemon that never stopped cleanly (its watchdog's SIGABRT, here SIGKILL): the next
    # counts it, and carries the service counters on.
    vm.kill_daemon()
    vm.start_daemon()
    sample(server, "vrmonitor_daemon_unclean_restarts_total", lambda v: v == 1, "the unclean restart is counted")
    wait_for(lambda: server.firing("VrmonitorRestartedByWatchdog"), "VrmonitorRestartedByWatchdog fires",
             within=30, step=0.2)
    assert server.value(f"vrmonitor_service_restarts_total{service}") == 2

    # Every query of the shipped dashboard, as viewed for this router.
    time.sleep(2)  # two more evaluations of the recording rules since the last change
    empty = []
    for title, expr in dashboard_expressions(exporter.address):
        if not server.query(expr):  # an invalid expression fails inside query()
            empty.append((title, expr))
    assert empty == []

    # A clean stop leaves vrmonitor_up 0.
    vm.stop_daemon()
    sample(server, "vrmonitor_up", lambda v: v == 0, "Prometheus sees vrmonitor_up 0")
    assert 'vrmonitor_up 0\n' in exporter.metrics()


def test_each_kill_is_sampled_within_one_scrape_interval_and_2_s_of_the_daemon_noticing_it(stack):
    """Three kills restarted at once (only the restart counter can show them) and one kept down
    (the state shows it): the first sample showing each is stamped at most one scrape interval
    + 2 s after the daemon's alert journal says it noticed the exit."""
    vm, exporter, server = stack
    labels = {"service": SECTION, "instance": exporter.address}
    delays = []
    for kill in range(4):
        keep_down = kill == 3
        wait_for(lambda: vm.service_pid() and vm.sees_service_up()
                 and vm.service_state().get("on_trial_monotonic") is None, "the service runs, its restart held")
        sample(server, f'vrmonitor_service_state{{service="{SECTION}",state="up"}}', lambda v: v == 1,
               "Prometheus sees the service up")
        sample(server, f'vrmonitor_service_restarts_total{{service="{SECTION}"}}', lambda v: v == kill,
               "Prometheus has the restarts so far")
        if keep_down:
            vm.hold.touch()
        at = time.time()
        os.kill(vm.service_pid(), signal.SIGKILL)
        noticed_at = wait_for(lambda: noticed(vm.alerts(), at), "the daemon's alert of the exit", step=0.1)
        sampled_at = wait_for(lambda: first_sample(server, labels, at, restarts_before=kill),
                              "a sample showing the kill", within=30, step=0.2)
        delays.append(sampled_at - noticed_at)
        if keep_down:
            vm.hold.unlink()
    print(f"kill noticed to first sample (scrape interval {SCRAPE_INTERVAL:g} s): "
          + ", ".join(f"{d:.3f} s" for d in delays))
    # The lower bound only guards the measurement (a sample before the notice cannot show it).
    assert all(-0.1 <= d <= SCRAPE_INTERVAL + 2 for d in delays), delays
