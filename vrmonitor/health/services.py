"""Where a basic run's `<section>.service` entries come from, outside the daemon.

The running daemon's state when there is one: the daemon monitors continuously, so its state
is current, and a basic run neither re-checks nor restarts. Otherwise one monitoring pass now.
"""

import logging

from vrmonitor.cloudstack.service_results import service_entries
from vrmonitor.health import handoff

LOG = logging.getLogger(__name__)


def daemon_services(paths) -> dict | None:
    """The running daemon's service snapshot, or None when no daemon runs on this root."""
    return handoff.daemon_services(str(paths.root))


def basic_services(paths, settings):
    """The `services` callable of HealthEngine for runs started outside the daemon."""
    def entries(run_start: float, previous_run: float | None):
        snapshot = daemon_services(paths)
        if snapshot is None:
            snapshot = _one_pass(paths, settings)
        return service_entries(snapshot, run_start, previous_run, settings.health.status_format)
    return entries


def _one_pass(paths, settings) -> dict:
    from vrmonitor.alerts.writer import AlertWriter
    from vrmonitor.services.oneshot import one_pass
    from vrmonitor.services.source import ServiceSource
    from vrmonitor.system.initsys import detect_init_system

    entries, _ = ServiceSource(paths).load()  # monitor.conf, or a system VM role's services
    if not entries:
        return {}
    alerts = AlertWriter(paths, settings.alerts.max_bytes, settings.alerts.backups)
    return one_pass(entries, detect_init_system(), alerts, settings.services.override_for)
