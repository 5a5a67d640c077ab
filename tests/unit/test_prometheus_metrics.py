"""The Prometheus export's families, exactly as node_exporter's textfile collector reads them,
checked by Debian's promtool in tests/integration/test_promtool.py."""


import pytest

from vrmonitor.export import prometheus
from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.services.snapshot import ServiceSnapshot

SERVICES = {
    "dhcp": {"processname": "dnsmasq", "state": "up", "restarts_total": 3, "restart_failures_total": 1},
    "ssh": {"processname": "sshd", "state": "down", "recovering": True},
    "loadbalancing": {"processname": "haproxy", "state": "down", "parked": True,
                      "blocked": "configuration test failed, not restarting: bad line"},
    "webserver": {"processname": "apache2", "state": "up", "crash_loop": True, "restarts_total": 7,
                  "restart_failures_total": 5},
}
NINE_CHECKS = ("cpu_usage_check.py", "dhcp_check.py", "disk_space_check.py", "dns_check.py",
               "gateways_check.py", "haproxy_check.py", "iptables_check.py", "memory_usage_check.py",
               "router_version_check.py")
RESULTS = {"pass": "success", "fail": "failed", "warning": "warning", "unknown": "unknown",
           "skip": "skipped", "bogus": "unknown"}


def picture(**changes) -> prometheus.Picture:
    lag = LoopLag()
    lag.observe(0.003)
    base = dict(
        version="0.1.0", started=1700000000.25, exported=1700000100.5,
        router=prometheus.Router("r-4-VM", "router", True), services=SERVICES,
        checks={"dns_check.py": [{"time": 1.0, "status": "pass"}, {"time": 2.0, "status": "fail"}],
                "dhcp_check.py": [{"time": 2.0, "status": "skip"}], "empty.sh": []},
        run_times={"basic": 1700000050.0}, run_intervals={"basic": 180.0, "advanced": 0.0},
        alerts={"ALERT": 4}, alerts_held=2, reload_ok=False, unclean_restarts=1, lag_max=0.003, lag=lag)
    base.update(changes)
    return prometheus.Picture(**base)


def samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_every_family_and_sample_as_written():
    text = prometheus.render(picture())
    assert samples(text)[:46] == [
        "vrmonitor_up 1",
        'vrmonitor_build_info{version="0.1.0"} 1',
        "vrmonitor_start_time_seconds 1700000000.25",
        "vrmonitor_last_export_timestamp_seconds 1700000100.5",
        'vrmonitor_router_info{router="r-4-VM",type="router",redundant="true"} 1',
        "vrmonitor_daemon_unclean_restarts_total 1",
        "vrmonitor_last_reload_success 0",
        "vrmonitor_alerts_held 2",
        'vrmonitor_alerts_total{severity="INFO"} 0',
        'vrmonitor_alerts_total{severity="ALERT"} 4',
        'vrmonitor_service_state{service="dhcp",state="up"} 1',
        'vrmonitor_service_state{service="dhcp",state="down"} 0',
        'vrmonitor_service_state{service="dhcp",state="degraded"} 0',
        'vrmonitor_service_state{service="dhcp",state="recovering"} 0',
        'vrmonitor_service_state{service="dhcp",state="crash_loop"} 0',
        'vrmonitor_service_state{service="dhcp",state="parked"} 0',
        'vrmonitor_service_state{service="dhcp",state="blocked"} 0',
        'vrmonitor_service_state{service="loadbalancing",state="up"} 0',
        'vrmonitor_service_state{service="loadbalancing",state="down"} 0',
        'vrmonitor_service_state{service="loadbalancing",state="degraded"} 0',
        'vrmonitor_service_state{service="loadbalancing",state="recovering"} 0',
        'vrmonitor_service_state{service="loadbalancing",state="crash_loop"} 0',
        'vrmonitor_service_state{service="loadbalancing",state="parked"} 0',
        'vrmonitor_service_state{service="loadbalancing",state="blocked"} 1',
        'vrmonitor_service_state{service="ssh",state="up"} 0',
        'vrmonitor_service_state{service="ssh",state="down"} 0',
        'vrmonitor_service_state{service="ssh",state="degraded"} 0',
        'vrmonitor_service_state{service="ssh",state="recovering"} 1',
        'vrmonitor_service_state{service="ssh",state="crash_loop"} 0',
        'vrmonitor_service_state{service="ssh",state="parked"} 0',
        'vrmonitor_service_state{service="ssh",state="blocked"} 0',
        'vrmonitor_service_state{service="webserver",state="up"} 0',
        'vrmonitor_service_state{service="webserver",state="down"} 0',
        'vrmonitor_service_state{service="webserver",state="degraded"} 0',
        'vrmonitor_service_state{service="webserver",state="recovering"} 0',
        'vrmonitor_service_state{service="webserver",state="crash_loop"} 1',
        'vrmonitor_service_state{service="webserver",state="parked"} 0',
        'vrmonitor_service_state{service="webserver",state="blocked"} 0',
        'vrmonitor_service_restarts_total{service="dhcp"} 3',
        'vrmonitor_service_restarts_total{service="loadbalancing"} 0',
        'vrmonitor_service_restarts_total{service="ssh"} 0',
        'vrmonitor_service_restarts_total{service="webserver"} 7',
        'vrmonitor_service_restart_failures_total{service="dhcp"} 1',
        'vrmonitor_service_restart_failures_total{service="loadbalancing"} 0',
        'vrmonitor_service_restart_failures_total{service="ssh"} 0',
        'vrmonitor_service_restart_failures_total{service="webserver"} 5',
    ]
    assert samples(text)[46:] == [
        'vrmonitor_check_status{check="dhcp_check.py",status="success"} 0',
        'vrmonitor_check_status{check="dhcp_check.py",status="failed"} 0',
        'vrmonitor_check_status{check="dhcp_check.py",status="warning"} 0',
        'vrmonitor_check_status{check="dhcp_check.py",status="unknown"} 0',
        'vrmonitor_check_status{check="dhcp_check.py",status="skipped"} 1',
        'vrmonitor_check_status{check="dns_check.py",status="success"} 0',
        'vrmonitor_check_status{check="dns_check.py",status="failed"} 1',
        'vrmonitor_check_status{check="dns_check.py",status="warning"} 0',
        'vrmonitor_check_status{check="dns_check.py",status="unknown"} 0',
        'vrmonitor_check_status{check="dns_check.py",status="skipped"} 0',
        'vrmonitor_health_run_timestamp_seconds{kind="basic"} 1700000050.0',
        'vrmonitor_health_run_interval_seconds{kind="basic"} 180.0',
        'vrmonitor_health_run_interval_seconds{kind="advanced"} 0.0',
        "vrmonitor_loop_lag_max_seconds 0.003",
        'vrmonitor_loop_lag_seconds_bucket{le="0.001"} 0',
        'vrmonitor_loop_lag_seconds_bucket{le="0.005"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="0.01"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="0.02"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="0.05"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="0.1"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="0.2"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="0.5"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="1.0"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="2.0"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="5.0"} 1',
        'vrmonitor_loop_lag_seconds_bucket{le="+Inf"} 1',
        "vrmonitor_loop_lag_seconds_sum 0.003",
        "vrmonitor_loop_lag_seconds_count 1",
    ]
    assert "# TYPE vrmonitor_service_restarts_total counter" in text
    assert "# TYPE vrmonitor_alerts_total counter" in text
    assert "# TYPE vrmonitor_service_state gauge" in text


def test_a_clean_stop_writes_up_0():
    assert samples(prometheus.render(picture(running=False)))[0] == "vrmonitor_up 0"


@pytest.mark.parametrize("runner, status", sorted(RESULTS.items()))
def test_each_runner_status_is_exactly_one_check_status(runner, status):
    text = prometheus.render(picture(checks={"c.sh": [{"status": runner}]}))
    ones = [line for line in samples(text) if line.startswith("vrmonitor_check_status") and line.endswith(" 1")]
    assert ones == [f'vrmonitor_check_status{{check="c.sh",status="{status}"}} 1']


@pytest.mark.parametrize("facts, state", [
    ({"state": "up"}, "up"), ({"state": "down"}, "down"), ({"state": "degraded"}, "degraded"),
    ({"state": "down", "recovering": True}, "recovering"),
    ({"state": "up", "crash_loop": True}, "crash_loop"),
    ({"state": "down", "crash_loop": True, "parked": True}, "parked"),
    ({"state": "down", "parked": True, "blocked": "stopped through systemd"}, "blocked"),
    ({"state": "unknown"}, None),
])
def test_the_service_state_is_one_hot(facts, state):
    assert prometheus.service_state(ServiceSnapshot.from_dict(facts)) == state
    text = prometheus.render(picture(services={"s": facts}))
    ones = [line for line in samples(text) if line.startswith("vrmonitor_service_state") and line.endswith(" 1")]
    assert ones == ([f'vrmonitor_service_state{{service="s",state="{state}"}} 1'] if state else [])


def test_a_router_with_four_services_and_nine_checks_has_at_most_110_series():
    checks = {name: [{"time": 1.0, "status": "pass"}] for name in NINE_CHECKS}
    text = prometheus.render(picture(checks=checks, run_times={"basic": 1.0, "advanced": 2.0}))
    assert len(samples(text)) == 110  # docs/monitoring.md: 29 + 9 S + 5 C


def test_label_values_are_escaped():
    text = prometheus.render(picture(router=prometheus.Router('r"4\\\n', "", False)))
    assert 'vrmonitor_router_info{router="r\\"4\\\\\\n",type="",redundant="false"} 1' in text
