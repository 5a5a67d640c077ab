"""Prometheus textfile export: what a fleet's node-exporter collects from every router.

Written atomically to /var/lib/prometheus/node-exporter/vrmonitor.prom (the textfile
collector's folder) whenever the daemon's picture changes, and at least every REFRESH seconds.
`[export] prometheus`: "auto" (the default) writes when that folder exists, "on" always, "off" never.
"""

import math

from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.services.snapshot import ServiceSnapshot
from vrmonitor.system.files import atomic_write

REFRESH = 30.0
LAG_HISTOGRAM = "vrmonitor_loop_lag_histogram_seconds"


def enabled(setting: str, paths) -> bool:
    if setting == "on":
        return True
    return setting == "auto" and paths.prometheus_file.parent.is_dir()


def render(services: dict, checks: dict, run_times: dict, alerts_total: int, loop_lag: float,
           started: float, lag_histogram: LoopLag | None = None) -> str:
    """The metrics, in the text exposition format. services: the monitor's snapshot
    (section -> services/snapshot.py's dict)."""
    lines: list[str] = []

    def metric(name: str, kind: str, text: str, samples) -> None:
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {_number(value)}" if labels else f"{name} {_number(value)}")

    def service_labels(section: str, state: ServiceSnapshot) -> dict:
        return {"service": section, "process": state.processname or ""}

    services = {name: ServiceSnapshot.from_dict(s) for name, s in services.items()}

    metric("vrmonitor_up", "gauge", "1 while the vrmonitor daemon runs.", [({}, 1)])
    metric("vrmonitor_start_time_seconds", "gauge", "When the daemon started (Unix time).",
           [({}, started)])
    metric("vrmonitor_service_up", "gauge", "1 if the monitored service is up, else 0.",
           [(service_labels(n, s), 1 if s.state == "up" else 0) for n, s in services.items()])
    metric("vrmonitor_service_parked", "gauge", "1 if vrmonitor stopped restarting the service.",
           [(service_labels(n, s), 1 if s.parked else 0) for n, s in services.items()])
    metric("vrmonitor_service_restarts_last_hour", "gauge", "Restarts by vrmonitor in the last hour.",
           [(service_labels(n, s), s.restarts_last_hour) for n, s in services.items()])
    last = {name: runs[-1] for name, runs in checks.items() if runs}
    metric("vrmonitor_check_success", "gauge", "1 if the health check's last result passed, else 0.",
           [({"check": n}, 1 if r.get("status") == "pass" else 0) for n, r in sorted(last.items())])
    metric("vrmonitor_check_duration_seconds", "gauge", "Duration of the health check's last run.",
           [({"check": n}, r.get("duration_ms", 0) / 1000.0) for n, r in sorted(last.items())])
    metric("vrmonitor_check_last_run_timestamp_seconds", "gauge", "When the health check last ran.",
           [({"check": n}, r.get("time", 0)) for n, r in sorted(last.items())])
    metric("vrmonitor_health_run_timestamp_seconds", "gauge", "When the last run of each kind finished.",
           [({"kind": kind}, when) for kind, when in sorted(run_times.items())])
    metric("vrmonitor_alerts_total", "counter", "Alerts written (the alert sequence number).",
           [({}, alerts_total)])
    metric("vrmonitor_loop_lag_seconds", "gauge",
           "Largest delay of the main loop behind its schedule since the last export.", [({}, loop_lag)])
    if lag_histogram is not None:
        lines.extend(_histogram(LAG_HISTOGRAM, "Delays of the main loop behind its schedule.", lag_histogram))
    return "\n".join(lines) + "\n"


def _histogram(name: str, text: str, lag: LoopLag) -> list[str]:
    lines = [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
    for bound, count in lag.cumulative():
        le = "+Inf" if math.isinf(bound) else repr(bound)
        lines.append(f'{name}_bucket{{le="{le}"}} {count}')
    lines.append(f"{name}_sum {_number(lag.total)}")
    lines.append(f"{name}_count {sum(lag.counts)}")
    return lines


def write(paths, text: str) -> None:
    atomic_write(paths.prometheus_file, text)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))
