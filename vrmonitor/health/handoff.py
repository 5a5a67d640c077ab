"""Whether a cron run of a kind is the running daemon's, so that nothing is run twice.

The daemon keeps a kind's schedule when daemon.json names a live daemon and that kind's last
results are younger than its interval (plus some slack). Cron asks every few minutes, so this
reads only those files: no settings, no engine, and none of their imports (jsonschema,
psutil, logging, pathlib).
"""

import os
import time

from vrmonitor.cloudstack.health_document import DEFAULT_INTERVALS, read_document
from vrmonitor.errors import ConfigError
from vrmonitor.locations import HEALTH_CHECKS_DATA, results_file, under
from vrmonitor.services.saved_state import read_daemon_state_under
from vrmonitor.system.proc_stat import still_running

# The daemon is keeping a kind's schedule when its results are younger than the interval plus this.
SCHEDULE_SLACK = 30.0


def daemon_services(root: str) -> dict | None:
    """The service snapshot of the daemon running on root folder `root`; None when none runs."""
    state = read_daemon_state_under(root)  # damaged: logged, set aside; a one-shot pass instead
    if state is None or "pid" not in state:
        return None
    if not still_running(state["pid"], state.get("started_ticks")):
        return None
    return state.get("services")


def handed_to_daemon(root: str, kind: str) -> bool:
    """The running daemon runs this kind on schedule and its last results are current."""
    if daemon_services(root) is None:
        return False
    interval = scheduled_interval(root, kind)
    if interval <= 0:
        return False
    try:
        age = time.time() - os.stat(under(root, results_file(kind))).st_mtime
    except FileNotFoundError:
        return False
    return age <= interval + SCHEDULE_SLACK


def scheduled_interval(root: str, kind: str) -> int:
    """Seconds between runs of `kind` by health_checks_data.json; 0 when not scheduled, or when
    the file is absent or that key is not a valid interval.

    Only the one key is read and checked, as the built-in checks read theirs: the whole file's
    validation (jsonschema) is for whoever runs the checks."""
    try:
        document = read_document(under(root, HEALTH_CHECKS_DATA))
    except ConfigError:
        return 0
    if not isinstance(document, dict):
        return 0
    value = document.get(f"health_checks_{kind}_run_interval", DEFAULT_INTERVALS[kind])
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if isinstance(value, float) and not value.is_integer():  # nan and inf included
        return 0
    return int(value) * 60 if value > 0 else 0
