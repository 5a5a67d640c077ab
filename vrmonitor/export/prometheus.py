"""Prometheus textfile export: what a fleet's node-exporter collects from every router.

Written atomically to /var/lib/prometheus/node-exporter/vrmonitor.prom (the textfile
collector's folder) on the loop's turn after any change, after every health run, and at least
every REFRESH seconds; on a clean stop once more with `vrmonitor_up 0`.
`[export] prometheus`: "auto" (the default) writes when that folder exists, "on" always, "off" never.

The names follow Prometheus' conventions: base units (seconds), `_total` for counters, one-hot
families for states (one series per possible value, so a value's absence never has to be
inferred), `_info` for identity carried in labels. docs/monitoring.md lists every family and
how many series a router has.
"""

import math
from dataclasses import dataclass, field

from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.services.snapshot import ServiceSnapshot
from vrmonitor.system.files import atomic_write

REFRESH = 15.0
LAG_HISTOGRAM = "vrmonitor_loop_lag_seconds"
LAG_MAX = "vrmonitor_loop_lag_max_seconds"

# vrmonitor_service_state's values, in the order they are written.
SERVICE_STATES = ("up", "down", "degraded", "recovering", "crash_loop", "parked", "blocked")
# vrmonitor_check_status's values, and the health runner's statuses they stand for.
CHECK_STATUSES = ("success", "failed", "warning", "unknown", "skipped")
RUNNER_STATUS = {"pass": "success", "fail": "failed", "warning": "warning", "unknown": "unknown",
                 "skip": "skipped"}
SEVERITIES = ("INFO", "ALERT")
KINDS = ("basic", "advanced")


@dataclass(frozen=True)
class Router:
    """The identity a fleet joins on (from /var/cache/cloud/cmdline); "" when unknown."""
    name: str = ""
    type: str = ""
    redundant: bool = False


@dataclass(frozen=True)
class Picture:
    """Everything one export writes."""
    version: str
    started: float  # the daemon's start (Unix time)
    exported: float  # now (Unix time)
    running: bool = True
    router: Router = Router()
    services: dict = field(default_factory=dict)  # section -> daemon.json's service entry
    checks: dict = field(default_factory=dict)  # check -> its last result (health-history.json)
    run_times: dict = field(default_factory=dict)  # kind -> when its last run finished
    run_intervals: dict = field(default_factory=dict)  # kind -> seconds, 0 when not scheduled
    alerts: dict = field(default_factory=dict)  # severity -> alerts written since the daemon started
    alerts_held: int = 0
    reload_ok: bool = True
    unclean_restarts: int = 0
    lag_max: float = 0.0
    lag: LoopLag | None = None


def enabled(setting: str, paths) -> bool:
    if setting == "on":
        return True
    return setting == "auto" and paths.prometheus_file.parent.is_dir()


def service_state(snapshot: ServiceSnapshot) -> str | None:
    """The one state of SERVICE_STATES that describes the service; None before its first verdict.

    What vrmonitor does about it wins over the last verdict: a blocked service (its config test
    fails, its unit is stopped) is also parked, a crash-looping one is also now and then up."""
    if snapshot.blocked:
        return "blocked"
    if snapshot.parked:
        return "parked"
    if snapshot.crash_loop:
        return "crash_loop"
    if snapshot.recovering:
        return "recovering"
    return snapshot.state if snapshot.state in ("up", "down", "degraded") else None


def check_status(result: dict) -> str:
    return RUNNER_STATUS.get(str(result.get("status")), "unknown")


def render(picture: Picture) -> str:
    """The metrics, in the text exposition format (version 0.0.4)."""
    out = _Exposition()
    out.family("vrmonitor_up", "gauge", "1 while the vrmonitor daemon runs, 0 once it stopped cleanly.",
               [({}, 1 if picture.running else 0)])
    out.family("vrmonitor_build_info", "gauge", "The running vrmonitor's version, as a label; always 1.",
               [({"version": picture.version}, 1)])
    out.family("vrmonitor_start_time_seconds", "gauge", "When the daemon started (Unix time).",
               [({}, picture.started)])
    out.family("vrmonitor_last_export_timestamp_seconds", "gauge",
               "When this file was written (Unix time); old means the daemon is gone.",
               [({}, picture.exported)])
    router = picture.router
    out.family("vrmonitor_router_info", "gauge",
               "The system VM's identity from /var/cache/cloud/cmdline; always 1.",
               [({"router": router.name, "type": router.type,
                  "redundant": "true" if router.redundant else "false"}, 1)])
    out.family("vrmonitor_daemon_unclean_restarts_total", "counter",
               "Daemon starts on this boot after a daemon that did not stop cleanly "
               "(its watchdog, a crash, kill -9).", [({}, picture.unclean_restarts)])
    out.family("vrmonitor_last_reload_success", "gauge",
               "1 if the last configuration load (start or SIGHUP) succeeded, else 0.",
               [({}, 1 if picture.reload_ok else 0)])
    out.family("vrmonitor_alerts_held", "gauge",
               "Alerts held in memory because the disk refused them (full or read-only).",
               [({}, picture.alerts_held)])
    out.family("vrmonitor_alerts_total", "counter", "Alerts written since the daemon started, by severity.",
               [({"severity": s}, picture.alerts.get(s, 0)) for s in SEVERITIES])

    services = {name: ServiceSnapshot.from_dict(s) for name, s in sorted(picture.services.items())}
    states = {name: service_state(s) for name, s in services.items()}
    out.family("vrmonitor_service_state", "gauge",
               "1 for the service's current state, 0 for the others (all 0 before its first check).",
               [({"service": name, "state": state}, 1 if states[name] == state else 0)
                for name in services for state in SERVICE_STATES])
    out.family("vrmonitor_service_restarts_total", "counter",
               "Restarts of the service, by vrmonitor or found done by its init system.",
               [({"service": name}, s.restarts_total) for name, s in services.items()])
    out.family("vrmonitor_service_restart_failures_total", "counter",
               "Restart attempts that did not bring the service back.",
               [({"service": name}, s.restart_failures_total) for name, s in services.items()])

    last = {name: runs[-1] for name, runs in sorted(picture.checks.items()) if runs}
    out.family("vrmonitor_check_status", "gauge",
               "1 for the status of the health check's last result, 0 for the others.",
               [({"check": name, "status": status}, 1 if check_status(result) == status else 0)
                for name, result in last.items() for status in CHECK_STATUSES])
    out.family("vrmonitor_health_run_timestamp_seconds", "gauge",
               "When the last health run of the kind finished (Unix time).",
               [({"kind": kind}, picture.run_times[kind]) for kind in KINDS if kind in picture.run_times])
    out.family("vrmonitor_health_run_interval_seconds", "gauge",
               "How often the health run of the kind is scheduled; 0 when it is not.",
               [({"kind": kind}, picture.run_intervals.get(kind, 0.0)) for kind in KINDS])

    out.family(LAG_MAX, "gauge", "Largest delay of the main loop behind its schedule since the last export.",
               [({}, picture.lag_max)])
    if picture.lag is not None:
        out.histogram(LAG_HISTOGRAM, "Delays of the main loop behind its schedule.", picture.lag)
    return out.text()


class _Exposition:
    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, text: str, samples) -> None:
        self._lines.append(f"# HELP {name} {text}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self._lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def histogram(self, name: str, text: str, lag: LoopLag) -> None:
        self._lines.append(f"# HELP {name} {text}")
        self._lines.append(f"# TYPE {name} histogram")
        for bound, count in lag.cumulative():
            le = "+Inf" if math.isinf(bound) else repr(bound)
            self._lines.append(f'{name}_bucket{{le="{le}"}} {count}')
        self._lines.append(f"{name}_sum {_number(lag.total)}")
        self._lines.append(f"{name}_count {sum(lag.counts)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def write(paths, text: str) -> None:
    atomic_write(paths.prometheus_file, text)


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))
