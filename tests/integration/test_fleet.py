"""The fleet simulation, short (`make fleet` runs it long and writes docs/benchmarks.md): five
routers, each a real vrmonitor daemon on its own root with four services and nine checks and its
own Debian node_exporter, one Debian Prometheus with the shipped rules, three random kills, each
in Prometheus within one scrape interval + 2 s of the daemon noticing it.
Loopback only; run under the shared daemons lock."""

import pytest

from tests.conftest import require_root
from tests.fleet.sim import markdown, run

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_a_small_fleet_is_scraped_and_every_kill_alerts():
    require_root("the fleet's watched services", "init scripts in /etc/init.d, `service`")
    stages = run([5], interval="1s", idle=3.0, kills=3)
    [stage] = stages
    assert stage.routers == 5
    assert stage.series_vrmonitor == 110  # docs/monitoring.md: 29 + 9 x 4 services + 5 x 9 checks
    assert stage.kills == 3 and len(stage.kill_to_alert) == 3
    assert all(seconds >= 0 for seconds in stage.kill_to_alert)
    # The bound: each kill in a sample within one scrape interval (1 s) + 2 s of the daemon
    # noticing it (tests/fleet/latency.py).
    assert len(stage.notice_to_sample) == 3
    assert all(-0.1 <= seconds <= 1 + 2 for seconds in stage.notice_to_sample), stage.notice_to_sample
    assert stage.scrape_bytes > stage.scrape_bytes_gzip > 0
    print(markdown(stages, "1s"))  # the figures, for the CI log
