"""Prometheus textfile export and clock-step detection."""

import logging
import time

from vrmonitor.daemon.clock_watch import check_clock
from vrmonitor.export import prometheus
from vrmonitor.paths import Paths


def test_label_values_are_escaped():
    picture = prometheus.Picture("1", 0.0, 0.0, services={'we"ird\\': {"processname": "a\nb", "state": "up"}})
    text = prometheus.render(picture)
    assert 'vrmonitor_service_state{service="we\\"ird\\\\",state="up"} 1' in text


def test_auto_writes_only_when_the_node_exporter_folder_exists(tmp_path):
    paths = Paths(tmp_path)
    assert not prometheus.enabled("auto", paths)
    paths.prometheus_file.parent.mkdir(parents=True)
    assert prometheus.enabled("auto", paths) and prometheus.enabled("on", Paths(tmp_path / "x"))
    assert not prometheus.enabled("off", paths)


def test_a_wall_clock_step_is_logged_and_a_steady_clock_is_not(caplog):
    caplog.set_level(logging.WARNING)
    now = time.monotonic()
    steady = (now - 10, time.time() - 10)
    assert check_clock(steady, now, time.time()) == steady and caplog.records == []
    stepped = (now - 10, time.time() + 3600 - 10)  # the wall clock went back an hour since
    fresh = check_clock(stepped, now, time.time())
    assert fresh[0] == now
    assert "the wall clock stepped by -3600" in caplog.records[0].getMessage()


def test_loop_lag_histogram_is_cumulative_and_bounded():
    from vrmonitor.export.loop_lag import BUCKETS, LoopLag

    lag = LoopLag()
    for seconds in (0.0005, 0.001, 0.004, 0.05, 0.051, 7.0, -0.001):
        lag.observe(seconds)
    assert lag.take_worst() == 7.0 and lag.take_worst() == 0.0
    text = prometheus.render(prometheus.Picture("1", 0.0, 0.0, lag=lag))
    samples = [line for line in text.splitlines() if line.startswith(prometheus.LAG_HISTOGRAM + "_")]
    assert samples == [
        'vrmonitor_loop_lag_seconds_bucket{le="0.001"} 3',
        'vrmonitor_loop_lag_seconds_bucket{le="0.005"} 4',
        'vrmonitor_loop_lag_seconds_bucket{le="0.01"} 4',
        'vrmonitor_loop_lag_seconds_bucket{le="0.02"} 4',
        'vrmonitor_loop_lag_seconds_bucket{le="0.05"} 5',
        'vrmonitor_loop_lag_seconds_bucket{le="0.1"} 6',
        'vrmonitor_loop_lag_seconds_bucket{le="0.2"} 6',
        'vrmonitor_loop_lag_seconds_bucket{le="0.5"} 6',
        'vrmonitor_loop_lag_seconds_bucket{le="1.0"} 6',
        'vrmonitor_loop_lag_seconds_bucket{le="2.0"} 6',
        'vrmonitor_loop_lag_seconds_bucket{le="5.0"} 6',
        'vrmonitor_loop_lag_seconds_bucket{le="+Inf"} 7',
        "vrmonitor_loop_lag_seconds_sum 7.1065",
        "vrmonitor_loop_lag_seconds_count 7",
    ]
    assert "# TYPE vrmonitor_loop_lag_seconds histogram" in text
    assert len(lag.counts) == len(BUCKETS)  # fixed size, however many observations
