"""One monitoring pass without the daemon, for a basic run when the daemon is not running.

What the reference did from cron, without its sleeps: each service is judged once and, when
down, recovered once (config test, orphans, restart) and judged again.
"""

import time

from vrmonitor.services.detect import ServiceState, observe
from vrmonitor.services.monitor import SETTLE
from vrmonitor.services.recovery import recover


def one_pass(entries, init, alerts, overrides) -> dict:
    """A snapshot like the daemon's (section -> state, restarted_at, reason)."""
    snapshot = {}
    for entry in entries:
        seen = observe(entry.processname, entry.pidfile)
        restarted_at = None
        if seen.state is not ServiceState.UP:
            alerts.write("INFO", entry.processname,
                         f"The process {entry.processname} is not running trying recover")
            outcome = recover(entry, init, overrides(entry.section))
            if outcome.kind == "restarted":
                seen = _settle(entry)
            if seen.state is ServiceState.UP:
                restarted_at = time.time()
                name = entry.servicename or entry.processname
                alerts.write("INFO", name, f"The process {name} is recovered successfully ")
            else:
                alerts.write("ALERT", entry.processname,
                             f"The process {entry.processname} recover failed: {outcome.detail or seen.reason}")
        snapshot[entry.section] = {"state": seen.state.value, "restarted_at": restarted_at,
                                   "reason": seen.reason}
    return snapshot


def _settle(entry):
    end = time.monotonic() + SETTLE
    while True:
        seen = observe(entry.processname, entry.pidfile)
        if seen.state is ServiceState.UP or time.monotonic() >= end:
            return seen
        time.sleep(0.1)
